"""Worker processes share one Optuna study through PostgreSQL.

Two separate processes optimise the same study at the same time against the server from
`.ci/postgres.sh` (THUNES_TEST_POSTGRES_URL); the study must end up with every trial, numbered
without gaps or duplicates, from both workers. This module is also the worker:
`python -m tests.sweep.test_postgres_storage URL STUDY SEED N_TRIALS`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna

from tests.sweep.postgres import postgres_url

ROOT = Path(__file__).resolve().parents[2]
N_TRIALS = 20  # per worker
READY_TIMEOUT = 60.0  # s, for both workers to import optuna and load the study
WORKER_TIMEOUT = 120.0  # s, for each worker's trials once told to go (minutes when loaded)

# The objective is 0 on the box x in [-2, 8], y in [-6, 4] (a quarter of the search space) and
# positive outside it: 40 trials all missing it has a chance below 1e-5, even before TPE aims.
X_BOX = (-2.0, 8.0)
Y_BOX = (-6.0, 4.0)


def objective(trial: optuna.Trial) -> float:
    trial.set_user_attr("worker_pid", os.getpid())
    x = trial.suggest_float("x", -10.0, 10.0)
    y = trial.suggest_float("y", -10.0, 10.0)
    time.sleep(0.01)  # long enough for the two workers' trials to interleave
    return max(0.0, abs(x - 3.0) - 5.0) + max(0.0, abs(y + 1.0) - 5.0)


def _worker(url: str, study_name: str, seed: int, n_trials: int) -> None:
    """Loads the study, says `ready <pid>`, waits for a line on stdin, runs its trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name,
        storage=url,
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        direction="minimize",
        load_if_exists=True,
    )
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.readline()
    study.optimize(objective, n_trials=n_trials)
    print("done", flush=True)


def _start_worker(url: str, study_name: str, seed: int, log: Path) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", __name__, url, study_name, str(seed), str(N_TRIALS)]
    with log.open("w") as stderr:
        return subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True
        )


def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    url = postgres_url()
    study_name = f"thunes-test-{uuid.uuid4().hex}"
    storage = optuna.storages.RDBStorage(url)
    # One process creates the study (and, on a fresh database, the schema: concurrent schema
    # creation races in PostgreSQL's catalog), as a sweep's launcher does; workers then load it.
    optuna.create_study(study_name=study_name, storage=storage, direction="minimize")
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs: list[subprocess.Popen[str]] = []

    def stderr_of_workers() -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs if log.exists())

    try:
        procs = [_start_worker(url, study_name, seed, log) for seed, log in enumerate(logs, 1)]
        # Both have loaded the study before either starts, so they really run side by side.
        watchdog = threading.Timer(READY_TIMEOUT, lambda: [p.kill() for p in procs])
        watchdog.start()
        try:
            ready = [p.stdout.readline().split() for p in procs if p.stdout]
        finally:
            watchdog.cancel()
        assert all(r[:1] == ["ready"] for r in ready), f"{ready}\n{stderr_of_workers()}"
        pids = {int(r[1]) for r in ready}
        assert len(pids) == 2

        for p in procs:
            assert p.stdin
            p.stdin.write("go\n")
            p.stdin.close()
        for p in procs:
            p.wait(timeout=WORKER_TIMEOUT)
        assert [p.returncode for p in procs] == [0, 0], stderr_of_workers()

        study = optuna.load_study(study_name=study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        assert len(trials) == 2 * N_TRIALS
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        assert sorted(t.number for t in trials) == list(range(2 * N_TRIALS))
        assert len({t._trial_id for t in trials}) == 2 * N_TRIALS
        assert Counter(t.user_attrs["worker_pid"] for t in trials) == dict.fromkeys(pids, N_TRIALS)

        # The workers' spans overlap: neither ran all its trials before the other began.
        spans = []
        for pid in pids:
            own = [t for t in trials if t.user_attrs["worker_pid"] == pid]
            spans.append(
                (min(t.datetime_start for t in own), max(t.datetime_complete for t in own))
            )
        assert max(start for start, _ in spans) < min(end for _, end in spans)

        assert study.best_value == 0.0
        assert X_BOX[0] <= study.best_params["x"] <= X_BOX[1]
        assert Y_BOX[0] <= study.best_params["y"] <= Y_BOX[1]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        optuna.delete_study(study_name=study_name, storage=storage)
        storage.engine.dispose()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
