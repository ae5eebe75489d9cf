"""One process per account: a second start refuses in one line, and a process killed by
SIGKILL leaves no stale lock behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.state.conftest import ACCOUNT
from thunes.errors import ThunesError
from thunes.state.account import Account
from thunes.state.lock import AccountLock

HOLD = """
import sys, time
from pathlib import Path
from thunes.state.account import Account
from thunes.state.lock import AccountLock
account = Account.of("binance", "main", "live", "an-api-key-never-stored")
with AccountLock(Path(sys.argv[1]), account):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(directory: Path) -> subprocess.Popen[str]:
    """Another process holding the account's lock (it says so once it holds it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


def test_a_second_process_on_the_account_refuses_to_start(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(ThunesError) as error, AccountLock(tmp_path, ACCOUNT):
            pass
        message = str(error.value)
        assert "\n" not in message and f"pid {holder.pid}" in message
        assert "another THUNES process" in message and "an-api-key" not in message
        other = Account.of("binance", "main", "paper", "an-api-key-never-stored")
        with AccountLock(tmp_path, other):  # another mode is another lock
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_process_killed_by_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    assert holder.wait() == -signal.SIGKILL
    assert ACCOUNT.lock_path(tmp_path).exists()  # the file stays; the lock does not
    with AccountLock(tmp_path, ACCOUNT), pytest.raises(ThunesError), AccountLock(tmp_path, ACCOUNT):
        pass  # held by us now: even this process cannot take it twice
    with AccountLock(tmp_path, ACCOUNT):
        pass  # released on exit
