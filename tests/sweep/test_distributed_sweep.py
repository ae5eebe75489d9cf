"""Outgrowing one machine: two `thunes -m +sweep=sma` workers share one study on PostgreSQL.

Each worker is a separate process running the real command, pointed at the same storage
and study. Together they run the study's `n_trials` once, not once each, and both take part.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import optuna

from tests.sweep.postgres import postgres_url

ROOT = Path(__file__).resolve().parents[2]
N_TRIALS = 40


def test_two_thunes_workers_share_one_study_on_postgresql(tmp_path: Path) -> None:
    url = postgres_url()
    name = f"thunes-dist-{uuid.uuid4().hex[:12]}"
    command = [
        sys.executable,
        "-m",
        "thunes",
        "-m",
        "+sweep=sma",
        "data=sim",
        "data.since=2024-03-01",
        "data.until=2024-11-01",
        "tracking=none",
        f"hydra.sweeper.storage={url}",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.n_trials={N_TRIALS}",
    ]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    workers = []
    for i in range(2):
        folder = tmp_path / f"worker{i}"
        folder.mkdir()
        workers.append(
            subprocess.Popen(
                command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        )
    try:
        outputs = [w.communicate(timeout=240)[0].decode() for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(outputs)
        study = optuna.load_study(study_name=name, storage=url)
        trials = study.get_trials(deepcopy=False)
        # Both stop at the study's size; two asking at the same instant may add one more.
        assert N_TRIALS <= len(trials) <= N_TRIALS + 1
        assert sorted(t.number for t in trials) == list(range(len(trials)))
        assert all(t.state.is_finished() for t in trials)
        by_worker = Counter(t.user_attrs.get("figures", t.user_attrs)["worker"] for t in trials)
        assert len(by_worker) == 2, by_worker
        assert min(by_worker.values()) >= 3, by_worker
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        optuna.delete_study(study_name=name, storage=url)
