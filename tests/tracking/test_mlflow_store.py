"""Processes that open a fresh MLflow store at once (two sweeps started together) share it."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any


def _start_a_run(uri: str, artifacts: str, barrier: Any, results: Any) -> None:
    from thunes.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(uri, "thunes", artifacts)
    barrier.wait()  # all at once, on a store none of them has created
    try:
        tracker.start_run("together", {})
        results.put("ok")
    except Exception as error:  # the test reports what each one hit
        results.put(f"{type(error).__name__}: {error}"[:200])


def test_processes_opening_a_fresh_store_together_all_start_their_runs(tmp_path: Path) -> None:
    """MLflow creates and migrates its tables on first use; four processes doing it at
    once failed in 5 runs of 5 (CommandError, 'table already exists') before the lock."""
    import mlflow

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    spawn = mp.get_context("spawn")
    barrier, results = spawn.Barrier(4), spawn.Queue()
    workers = [
        spawn.Process(target=_start_a_run, args=(uri, str(tmp_path / "art"), barrier, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [results.get(timeout=5) for _ in workers] == ["ok"] * 4
    mlflow.set_tracking_uri(uri)
    assert len(mlflow.search_runs(experiment_names=["thunes"])) == 4
