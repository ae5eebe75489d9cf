"""The end of an Optuna sweep: the study as a CSV and as plots, the summary on screen, and
the MLflow parent run closed with all of it.

The plots are Optuna's own (plotly, written as HTML beside one plotly.min.js, so they open
offline): the optimisation history, the parameters' importances and the parallel coordinates.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from omegaconf import DictConfig
from optuna.trial import TrialState
from rich.console import Console

from thunes.sweep import report
from thunes.sweep.optuna_engine import (
    FIGURES_ATTR,
    IN_MEMORY,
    search_space,
    shown_url,
    study_name,
)
from thunes.sweep.trial import prepared, task_part
from thunes.tracking.base import Tracker

log = logging.getLogger(__name__)
STUDY_CSV = "study.csv"


def trials_table(study: optuna.Study, params: list[str]) -> pd.DataFrame:
    """One row per trial: its number and state, parameters, objectives, figures in and out
    of sample, and why it was pruned or failed."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        row.update({name: trial.params.get(name) for name in params})
        for i, value in enumerate(trial.values or ()):
            row[f"objective_{i}"] = value
        attrs = dict(trial.user_attrs)
        row.update(attrs.pop(FIGURES_ATTR, {}))
        row.update(attrs)
        row["seconds"] = trial.duration.total_seconds() if trial.duration else None
        rows.append(row)
    return pd.DataFrame(rows)


def _figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's plots of the study; a plot that needs more trials than there are is left out."""
    from optuna import visualization as vis

    single = len(study.directions) == 1
    makers: dict[str, Callable[..., Any]] = {
        "optimization_history.html": vis.plot_optimization_history,
        "param_importances.html": vis.plot_param_importances,
        "parallel_coordinate.html": vis.plot_parallel_coordinate,
    }
    figures = {}
    for name, make in makers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures[name] = make(study) if single else make(study, target=lambda t: t.values[0])
        except (ValueError, RuntimeError) as error:  # e.g. importances of one complete trial
            log.warning("%s left out: %s", name, error)
    return figures


def report_study(config: DictConfig, tracker: Tracker, parent_id: str | None) -> None:
    swept, _ = search_space(config)
    params = list(swept)
    name = study_name(config, params)
    storage = config.hydra.sweeper.storage
    study = (
        IN_MEMORY.pop(name) if not storage else optuna.load_study(study_name=name, storage=storage)
    )
    out_dir = Path(str(config.hydra.sweep.dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    table = trials_table(study, params)
    table.to_csv(out_dir / STUDY_CSV, index=False)
    task = task_part(config)
    timeframe = prepared(task)[1][0].timeframe
    summary = report.summarize(task, table, params, timeframe)
    for file_name, figure in _figures(study).items():
        figure.write_html(out_dir / file_name, include_plotlyjs="directory")
    console = Console()
    report.print_summary(console, f"study {name}", summary)
    report.announce(task, f"study {name}", summary)
    if len(study.directions) > 1:
        console.print(
            f"Pareto front over {', '.join(config.sweep.objectives)}: "
            f"{len(study.best_trials)} trials (study.csv has them all)"
        )
    counts = table["state"].value_counts().to_dict()
    console.print(
        "trials: " + ", ".join(f"{counts.get(s.name, 0)} {s.name.lower()}" for s in TrialState)
    )
    names = report.written(
        out_dir,
        [
            STUDY_CSV,
            "optimization_history.html",
            "param_importances.html",
            "parallel_coordinate.html",
        ],
    )
    tracked = report.log_parent(tracker, parent_id, f"sweep-{name}", task, summary, out_dir, names)
    console.print(f"study: {shown_url(config.hydra.sweeper.storage)} ({name}); files in {out_dir}")
    if tracked:
        console.print(f"MLflow: {tracked}")
