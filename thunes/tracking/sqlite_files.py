"""The SQLite files THUNES writes to (MLflow's store, Optuna's studies), made ready once.

SQLite creates its file but not the folder. And in its default journal mode every commit
writes, syncs and deletes a rollback journal: a sweep commits a dozen times per trial to
the study while MLflow's sidecar commits to its store, and the two processes' syncs queued
behind each other (9 ms a trial, measured). Write-ahead logging (WAL, kept in the file once
set) makes a commit one append and one sync. It needs the file on a local disk, as SQLite
always should be; a study shared by several machines belongs in PostgreSQL. A store's
first opening takes a lock (`one_at_a_time`), as MLflow's schema migration is not safe to
run twice at once.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

PREFIX = "sqlite:///"


def sqlite_ready(url: str) -> str:
    """`url`, its SQLite file's folder made and the file in WAL mode; other URLs as given."""
    if url.startswith(PREFIX):
        path = Path(url.removeprefix(PREFIX))
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    return url


@contextmanager
def one_at_a_time(url: str) -> Iterator[None]:
    """For a SQLite URL, hold an exclusive lock (a `.lock` file beside the database) for
    the block: processes that open a fresh store together (two sweeps started at once)
    would otherwise each create and migrate its tables, and fail or leave it half done.
    Other URLs: no lock (their servers order such work)."""
    if not url.startswith(PREFIX):
        yield
        return
    lock = Path(url.removeprefix(PREFIX) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
