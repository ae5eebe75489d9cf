"""The Hydra callback that records an Optuna sweep: one MLflow parent run per sweep, one
nested run per trial, and at the end the study's report beside the sweep's folder.

Hydra calls it around the whole multirun (in the main process) and around each job (in
whichever process runs the job, so joblib's workers log their own trials). The parent's id
reaches them through the environment, which those workers inherit. Trials that run in the
main process hand their nested run to a sidecar process, which logs it on the other core
while the next trial runs (a run costs about 25 ms of MLflow's time); the sweep waits for
it before its report.
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.utils import instantiate
from omegaconf import DictConfig

from thunes.config.explain import explain
from thunes.errors import ConfigError, interrupted
from thunes.reporting.sidecar import Sidecar
from thunes.sweep.trial import TrialOutcome
from thunes.tracking.base import RunRecord, Tracker

PARENT_ENV = "THUNES_SWEEP_PARENT_RUN"


def _tracker(config: DictConfig) -> Tracker:
    tracker: Tracker = instantiate(config.tracking, _convert_="all")
    return tracker


class SweepReport(Callback):
    def __init__(self) -> None:
        self._trackers: dict[int, Tracker] = {}  # per process: joblib's workers get copies
        self._main_pid: int | None = None
        self._sidecar: Sidecar | None = None
        self._pending: list[Future[str | None]] = []

    def __getstate__(self) -> dict[str, object]:
        """What joblib's workers receive: no sidecar (they log their trials themselves)."""
        return {**self.__dict__, "_trackers": {}, "_sidecar": None, "_pending": []}

    def _cached_tracker(self, config: DictConfig) -> Tracker:
        pid = os.getpid()
        if pid not in self._trackers:
            self._trackers[pid] = _tracker(config)
        return self._trackers[pid]

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.sweep.engine != "optuna":  # the grid opens and closes its own run
            return
        from thunes.sweep.optuna_engine import search_space, study_name

        try:
            swept, _ = search_space(config)
        except ConfigError:
            return  # the sweeper says why, in one line, before any study or run
        name = study_name(config, list(swept))
        parent = self._cached_tracker(config).start_run(
            f"sweep-{name}", {"mode": "sweep", "engine": "optuna", "study": name}
        )
        if parent:
            os.environ[PARENT_ENV] = parent
            self._main_pid = os.getpid()
            self._sidecar = Sidecar(("mlflow", "mlflow.tracking"))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        outcome = job_return._return_value
        parent = os.environ.get(PARENT_ENV)
        if job_return.status != JobStatus.COMPLETED or not isinstance(outcome, TrialOutcome):
            return
        params = dict(
            line.split("=", 1)
            for line in (job_return.overrides or ())
            if not line.startswith(("+", "~", "hydra"))
        )
        record = RunRecord(
            name=f"trial-{config.hydra.job.num}",
            params=params,
            metrics=outcome.figures(),
            tags={"mode": "sweep", "trial": str(config.hydra.job.num)},
            artifact_dir=Path.cwd(),
        )
        tracker = self._cached_tracker(config)
        if self._sidecar is not None and os.getpid() == self._main_pid:
            self._pending.append(self._sidecar.submit(tracker.log_run, record, None, parent))
        else:
            tracker.log_run(record, parent_id=parent)

    def _drain(self) -> None:
        """Wait for the sidecar's trial logs (a trial that could not be logged fails loudly
        here), then close it."""
        if self._sidecar is not None:
            try:
                for logged in self._pending:
                    logged.result()
            finally:
                self._sidecar.close()
                self._sidecar, self._pending = None, []

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.sweep.engine != "optuna":
            return
        from thunes.sweep.study_report import report_study

        self._drain()
        report_study(config, self._cached_tracker(config), os.environ.pop(PARENT_ENV, None))

    def abandon(self, config: DictConfig, error: BaseException) -> None:
        """The sweep stopped before its end, where Hydra skips on_multirun_end: the trials
        that ran are logged, and the parent is closed KILLED (Ctrl-C) or FAILED with why,
        not left RUNNING. Called by the sweeper (hydra_plugins/thunes_sweep)."""
        parent = os.environ.pop(PARENT_ENV, None)
        try:
            self._drain()
        finally:
            if parent:
                status, why = (
                    ("KILLED", "interrupted") if interrupted(error) else ("FAILED", explain(error))
                )
                self._cached_tracker(config).end_run(parent, status, why)
