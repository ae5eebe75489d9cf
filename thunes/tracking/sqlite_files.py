"""The SQLite files THUNES writes to (MLflow's store, Optuna's studies), made ready once.

SQLite creates its file but not the folder. And in its default journal mode every commit
writes, syncs and deletes a rollback journal: a sweep commits a dozen times per trial to
the study while MLflow's sidecar commits to its store, and the two processes' syncs queued
behind each other (9 ms a trial, measured). Write-ahead logging (WAL, kept in the file once
set) makes a commit one append and one sync. It needs the file on a local disk, as SQLite
always should be; a study shared by several machines belongs in PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
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
