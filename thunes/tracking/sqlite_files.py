"""The SQLite files THUNES writes to (MLflow's store, Optuna's studies), made ready once.

SQLite creates its file but not the folder. And in its default journal mode every commit
writes, syncs and deletes a rollback journal: a sweep commits a dozen times per trial to
the study while MLflow's sidecar commits to its store, and the two processes' syncs queued
behind each other (9 ms a trial, measured). Write-ahead logging (WAL, kept in the file once
set) makes a commit one append and one sync. It needs the file on a local disk, as SQLite
always should be; a study shared by several machines belongs in PostgreSQL. A store's
first opening takes a lock (`first_opening`), as MLflow's schema migration is not safe to
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
def first_opening(url: str | None) -> Iterator[str | None]:
    """`url` made ready (`sqlite_ready`), for a block that opens the store for the first
    time in this process; for a SQLite URL the block holds an exclusive lock (a `.lock`
    file beside the database): processes that open a fresh store together (two sweeps
    started at once) would otherwise each create and migrate its tables, and fail or leave
    it half done. Other URLs, or none: no lock (their servers order such work)."""
    if url is None or not url.startswith(PREFIX):
        yield url
        return
    lock = Path(url.removeprefix(PREFIX) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield sqlite_ready(url)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
