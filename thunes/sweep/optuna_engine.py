"""The Optuna engine behind `thunes -m +sweep=<preset>`: ask, check, launch, tell.

hydra-optuna-sweeper's own loop knows two outcomes, COMPLETE and FAIL, and runs
`n_trials` more trials on every call. Users of a sweep expect more, so this loop reuses the
plugin's parsing of `hydra.sweeper.params` and its sampler configs, and adds:
- constraints (`strategy.fast < strategy.slow`) checked before launch: a violating trial
  is told PRUNED and never runs, so TPE learns to avoid the region without a crash;
- `n_trials` is the study's size, not an increment: re-running the same command resumes an
  interrupted study where it stopped, and several workers sharing one storage stop together;
- a study remembers what it optimised (data, strategy, split, costs): resuming it with
  other settings is refused instead of mixing incomparable trials;
- a trial's out-of-sample figures stored beside its in-sample ones (user attributes);
- a progress bar, and one warning line per failed trial (config errors included).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import random
import socket
import time
from collections.abc import Sequence
from typing import Any

import optuna
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf
from optuna.study import StudyDirection
from optuna.trial import Trial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thunes.config.explain import explain
from thunes.errors import ConfigError, interrupted, one_line
from thunes.sweep import space
from thunes.sweep.trial import TrialOutcome, folds_of, prepared, task_part
from thunes.tracking.sqlite_files import first_opening

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=10)
"""A trial RUNNING longer than this belongs to a worker that died: it no longer counts."""
SETUP_ATTR = "thunes_setup"
FIGURES_ATTR = "figures"
"""A complete trial's figures in and out of sample, and who ran it, in one attribute:
{"worker": "host:pid", "train_sharpe": ..., "test_sharpe": ...}."""
WORKER = f"{socket.gethostname()}:{os.getpid()}"
"""Which process ran a trial, when several share one study."""
_SETUP_KEYS = ("exchange", "symbol", "symbols", "data", "strategy", "filters", "sizing", "risk")


def directions(cfg: DictConfig) -> list[StudyDirection]:
    names = list(cfg.sweep.direction) or ["maximize"] * len(cfg.sweep.objectives)
    return [StudyDirection[name.upper()] for name in names]


def setup_fingerprint(cfg: DictConfig, swept: Sequence[str]) -> str:
    """What makes two trials comparable: everything but the swept parameters."""
    setup: dict[str, Any] = {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in _SETUP_KEYS
    }
    setup.update(
        cash=cfg.cash,
        split=OmegaConf.to_container(cfg.sweep.split, resolve=True),
        objectives=list(cfg.sweep.objectives),
    )
    for key in swept:  # strategy.fast: drop it from the copy
        node: Any = setup
        *path, last = key.split(".")
        for part in path:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    text = OmegaConf.to_yaml(OmegaConf.create(setup))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def search_space(config: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The swept distributions and fixed values of the space as written (`space.declared`)."""
    return space.distributions(
        space.declared(config.hydra.sweeper.params, config.hydra.overrides.task)
    )


def study_name(config: DictConfig, swept: Sequence[str]) -> str:
    """`hydra.sweeper.study_name`, or the preset's name and what the study optimises: the
    same command resumes the same study, and other data or settings start a new one."""
    if config.hydra.sweeper.study_name:
        return str(config.hydra.sweeper.study_name)
    preset = config.hydra.runtime.choices.get("sweep") or "thunes"
    return f"{preset}-{setup_fingerprint(config, swept)[:8]}"


IN_MEMORY: dict[str, optuna.Study] = {}
"""Studies with no storage (`hydra.sweeper.storage=null`), by name, for the report at the
end of the multirun: nothing can load them back."""


def open_study(
    cfg: DictConfig, sampler: Any, storage: str | None, name: str, swept: Sequence[str]
) -> optuna.Study:
    """Create the study, or load it to resume; refuse one built on other settings."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with first_opening(storage) as ready:  # a fresh SQLite file's tables: one worker at a time
        study = _create_or_load(cfg, sampler, ready, name)
    if not storage:
        IN_MEMORY[name] = study
    fingerprint = setup_fingerprint(cfg, swept)
    stored = study.user_attrs.get(SETUP_ATTR)
    if stored is None:
        study.set_user_attr(SETUP_ATTR, fingerprint)
        study.set_user_attr("objectives", list(cfg.sweep.objectives))
    elif stored != fingerprint:
        raise ConfigError(
            f"hydra.sweeper.study_name={name}: that study ran with other data, strategy, "
            "costs or split; resume it with those settings or name a new study"
        )
    return study


def shown_url(storage: str | None) -> str:
    """The storage URL as it may be printed: a password in it is masked (better still,
    leave it out of the URL and set PGPASSWORD in the environment)."""
    if not storage:
        return "in memory"
    from sqlalchemy.engine import make_url

    return make_url(storage).render_as_string(hide_password=True)


def _create_or_load(
    cfg: DictConfig, sampler: Any, storage: str | None, name: str, attempts: int = 5
) -> optuna.Study:
    """Workers started together race to create the storage's tables or the study; the
    loser finds them made a moment later."""
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(attempts):
        try:
            return optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=sampler,
                directions=directions(cfg),
                load_if_exists=True,
            )
        except (SQLAlchemyError, optuna.exceptions.DuplicatedStudyError) as error:
            if attempt == attempts - 1:
                if isinstance(error, SQLAlchemyError):  # a server down, a wrong database...
                    cause = getattr(error, "orig", None) or error
                    raise ConfigError(
                        f"hydra.sweeper.storage={shown_url(storage)}: cannot open it: "
                        f"{one_line(cause)}"
                    ) from None
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
    raise AssertionError("unreachable")


def trials_left(study: optuna.Study, n_trials: int) -> int:
    """The study's size minus what is done or being done (by this worker or another)."""
    now = dt.datetime.now()
    counted = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state.is_finished():
            counted += 1
        elif trial.state == TrialState.RUNNING and trial.datetime_start is not None:
            counted += now - trial.datetime_start < STALE_AFTER
    return max(0, n_trials - counted)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[best]}"),
        console=console,
        refresh_per_second=4,  # its thread renders while trials run: 10/s cost 1-2%
    )


class BestSoFar:
    """The progress bar's best value: read from the study once, then kept up to date from
    the values this worker tells (a query per batch cost as much as a trial's own writes)."""

    def __init__(self, study: optuna.Study) -> None:
        self.single = len(study.directions) == 1
        self.sign = 1.0 if study.directions[0] == StudyDirection.MAXIMIZE else -1.0
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self.value = study.best_value if self.single and done else None

    def update(self, values: list[float]) -> str:
        for value in values:
            if self.value is None or self.sign * value > self.sign * self.value:
                self.value = value
        return "" if not self.single or self.value is None else f"best {self.value:.4g}"


class OptunaEngine:
    """Drives one study through a Hydra launcher, a batch of `n_jobs` trials at a time."""

    def __init__(
        self,
        config: DictConfig,
        launcher: Launcher,
        sampler: Any,
        storage: str | None,
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
    ) -> None:
        self.config = config
        self.launcher = launcher
        self.sampler = sampler
        self.storage = storage
        for key, value, fits, rule in (
            ("n_trials", n_trials, n_trials >= 1, "must be >= 1 (the study's size)"),
            ("n_jobs", n_jobs, n_jobs >= 1, "must be >= 1 (trials at once)"),
            ("max_failure_rate", max_failure_rate, 0 <= max_failure_rate <= 1, "in [0, 1]"),
        ):
            if not fits:
                raise ConfigError(f"hydra.sweeper.{key}={value} is not allowed: {rule}")
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.job_idx = 0
        self.last_number = -1  # the highest trial number this worker has asked for

    def run(self) -> optuna.Study:
        swept, fixed = search_space(self.config)
        if not swept:
            raise ConfigError("hydra.sweeper.params: nothing to sweep; a preset names the space")
        constraints = space.parse_constraints(list(self.config.sweep.constraints))
        space.check_constraints(constraints, [*swept, *fixed], self.config)
        import thunes.sweep.scoring  # noqa: F401  (vectorbt: 2.5 s, paid here, not by trial 0)

        job = task_part(self.config)  # the candles, loaded here for the in-process trials,
        folds_of(job, prepared(job)[1][0])  # and a split that fits them, before any study

        name = study_name(self.config, list(swept))
        study = open_study(self.config, self.sampler, self.storage, name, list(swept))
        console = Console(stderr=True)
        left = trials_left(study, self.n_trials)
        best = BestSoFar(study)
        with _progress(console) as progress:
            task = progress.add_task(
                f"study {name}",
                total=self.n_trials,
                completed=self.n_trials - left,
                best=best.update([]),
            )
            while left > 0:
                batch = min(left, self.n_jobs)
                told = self._run_batch(study, batch, swept, fixed, constraints, progress)
                progress.update(task, advance=batch, best=best.update(told))
                # Trial numbers count every trial of the study (any worker's, finished or
                # not): a floor of what is left, free. Only near the end is it worth the
                # storage query (6 ms a batch at 100 trials, growing with the study).
                floor = self.n_trials - (self.last_number + 1)
                left = floor if floor >= self.n_jobs else trials_left(study, self.n_trials)
        return study

    def _run_batch(
        self,
        study: optuna.Study,
        batch: int,
        swept: dict[str, Any],
        fixed: dict[str, Any],
        constraints: list[space.Constraint],
        progress: Progress,
    ) -> list[float]:
        """The first objective of each trial told COMPLETE."""
        launched: list[tuple[Trial, list[str]]] = []
        for trial in (study.ask() for _ in range(batch)):
            self.last_number = max(self.last_number, trial.number)
            for name, distribution in swept.items():
                trial._suggest(name, distribution)  # as the plugin does: any distribution
            params = {**trial.params, **fixed}
            broken = space.violated(constraints, params, self.config)
            if broken is not None:
                trial.set_user_attr("worker", WORKER)
                trial.set_user_attr("pruned_by", str(broken))
                study.tell(trial, state=TrialState.PRUNED)
                continue
            launched.append((trial, [f"{name}={value}" for name, value in params.items()]))
        if not launched:
            return []
        try:
            returns = self.launcher.launch([o for _, o in launched], initial_job_idx=self.job_idx)
        except BaseException as stopped:  # Ctrl-C (SystemExit from the task), a broken pool
            # Told FAIL with why: left RUNNING, they would hold places in the study's size
            # until they went stale, and a resumed study would stop short of n_trials.
            reason = "interrupted" if interrupted(stopped) else explain(stopped)
            for trial, _ in launched:
                _tell_failed(study, trial, reason)
            raise
        self.job_idx += len(returns)
        failures = [
            error
            for (trial, _), ret in zip(launched, returns, strict=True)
            if (error := self._tell(study, trial, ret)) is not None
        ]
        for error in failures:
            progress.console.print(f"[yellow]trial failed:[/] {explain(error)}")
        if failures and len(failures) / len(launched) > self.max_failure_rate:
            raise failures[0]
        return [
            ret._return_value.values[0]
            for ret in returns
            if ret.status == JobStatus.COMPLETED and isinstance(ret._return_value, TrialOutcome)
        ]

    @staticmethod
    def _tell(study: optuna.Study, trial: Trial, ret: JobReturn) -> BaseException | None:
        outcome: Any = ret._return_value  # `.return_value` would print a stack to stderr
        if ret.status == JobStatus.COMPLETED and isinstance(outcome, TrialOutcome):
            # One attribute, one write: 12 separate ones cost a storage round trip each.
            trial.set_user_attr(FIGURES_ATTR, {"worker": WORKER, **outcome.figures()})
            study.tell(trial, values=outcome.values)
            return None
        error = (
            outcome
            if isinstance(outcome, BaseException)
            else TypeError(f"a trial returned {type(outcome).__name__}, not a TrialOutcome")
        )
        _tell_failed(study, trial, explain(error))
        return error


def _tell_failed(study: optuna.Study, trial: Trial, why: str) -> None:
    trial.set_user_attr("worker", WORKER)
    trial.set_user_attr("error", why)
    study.tell(trial, state=TrialState.FAIL)
