"""One process per account: two bots on one account mix their trades and fight over its
balance. The lock is an flock, which the kernel drops when its holder dies however it dies
(SIGKILL included): a crash leaves no stale lock, only a file that the next start reuses."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import filelock

from thunes.errors import ThunesError
from thunes.state.account import Account


class AccountLock:
    """Held for a run's life: `with AccountLock(directory, account): ...`."""

    def __init__(self, directory: Path, account: Account) -> None:
        self.account = account
        self.path = account.lock_path(directory)
        self._lock = filelock.FileLock(
            self.path,
            timeout=0,
            thread_local=False,
            fallback_to_soft=False,  # a marker file would outlive a SIGKILL: never
            on_acquired=_write_pid,
        )

    def __enter__(self) -> AccountLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            holder = self.path.read_text().strip() or "?"
            raise ThunesError(
                f"another THUNES process (pid {holder}) is running on {self.account}:"
                f" stop it first; one process per account ({self.path})"
            ) from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._lock.release()


def _write_pid(fd: int) -> None:
    """Name the holder in the lock file, for the refusal a second start prints."""
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
