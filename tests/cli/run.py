"""Run the real `thunes` entrypoint in-process, as a user's shell would."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from thunes import cli


def run_thunes(args: list[str], monkeypatch: pytest.MonkeyPatch, cwd: Path) -> int:
    """Exit code of `thunes *args` run in `cwd`."""
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")  # restored afterwards: the CLI sets it
    monkeypatch.setattr(sys, "argv", ["thunes", *args])
    try:
        cli.main()
    except SystemExit as stopped:
        return int(stopped.code or 0)
    return 0


def only_run_dir(cwd: Path, mode: str) -> Path:
    (run_dir,) = (cwd / "experiments" / mode).glob("*/*")
    return run_dir
