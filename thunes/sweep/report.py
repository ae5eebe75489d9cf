"""What a sweep leaves behind, whichever engine ran it: the table of trials, the summary a
quant reads first (best parameters in and out of sample, how much they degrade, and whether
the best Sharpe survives the number of trials tried), the plots, and the MLflow parent run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from thunes.reporting.metrics import bars_per_year
from thunes.sweep.significance import Deflated, deflated_sharpe, degradation
from thunes.sweep.trial import HEADLINE, train_returns, with_params
from thunes.tracking.base import RunRecord, Tracker

if TYPE_CHECKING:
    from thunes.notify.notifiers import Notifier


@dataclass(frozen=True)
class Summary:
    best: dict[str, Any]  # the best trial's parameters
    train: dict[str, float]
    test: dict[str, float]
    degradation: dict[str, float]
    deflated: Deflated
    evaluated: int  # trials that ran to the end: the N of the deflation
    per_year: float  # bars per year, to annualise the per-bar Sharpe ratios


def summarize(
    cfg: DictConfig, table: pd.DataFrame, params: list[str], timeframe: str
) -> Summary | None:
    """The best complete row by the first objective, judged against every complete row."""
    done = table[table["state"] == "COMPLETE"]
    if done.empty:
        return None
    objective = cfg.sweep.objectives[0]
    ascending = bool(cfg.sweep.direction) and cfg.sweep.direction[0] == "minimize"
    best = done.sort_values(f"train_{objective}", ascending=ascending, kind="stable").iloc[0]
    best_params = {name: _plain(best[name]) for name in params}
    per_year = bars_per_year(timeframe)
    deflated = deflated_sharpe(
        train_returns(with_params(cfg, best_params)),
        done["train_sharpe"].to_numpy(dtype="float64") / math.sqrt(per_year),
        per_year,
        alpha=float(cfg.sweep.alpha),
    )
    train = {name: float(best[f"train_{name}"]) for name in HEADLINE}
    test = {name: float(best[f"test_{name}"]) for name in HEADLINE}
    return Summary(
        best=best_params,
        train=train,
        test=test,
        degradation={name: degradation(train[name], test[name]) for name in HEADLINE[:4]},
        deflated=deflated,
        evaluated=len(done),
        per_year=per_year,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def summary_metrics(summary: Summary) -> dict[str, float]:
    return {
        **{f"best_train_{k}": v for k, v in summary.train.items()},
        **{f"best_test_{k}": v for k, v in summary.test.items()},
        **{f"degradation_{k}": v for k, v in summary.degradation.items()},
        "deflated_sharpe": summary.deflated.dsr,
        "expected_max_sharpe_per_bar": summary.deflated.expected_max,
        "significant": float(summary.deflated.significant),
        "trials_evaluated": float(summary.evaluated),
    }


def print_summary(console: Console, title: str, summary: Summary | None) -> None:
    if summary is None:
        console.print(f"[red]{title}: no trial completed[/]")
        return
    console.print(f"[bold]{title}[/]: best of {summary.evaluated} evaluated")
    console.print("best parameters: " + ", ".join(f"{k}={v}" for k, v in summary.best.items()))
    table = Table("metric", "in sample", "out of sample", "degradation")
    for name in HEADLINE:
        drop = summary.degradation.get(name)
        table.add_row(
            name,
            f"{summary.train[name]:.4g}",
            f"{summary.test[name]:.4g}",
            "" if drop is None or math.isnan(drop) else f"{drop:+.0%}",
        )
    console.print(table)
    d = summary.deflated
    verdict = (
        "[green]significant[/]"
        if d.significant
        else "[red]NOT significant: likely the luck of many trials[/]"
    )
    luck = d.expected_max * math.sqrt(summary.per_year)
    console.print(
        f"Deflated Sharpe Ratio {d.dsr:.3f} (in-sample Sharpe {d.annualised:.2f} against "
        f"{luck:.2f}, the best that {summary.evaluated} trials of luck would show): {verdict}"
    )
    held = summary.test["sharpe"]
    if summary.train["sharpe"] > 0 >= held:  # the deflation judges the in-sample run only
        console.print(
            f"[red]Out of sample its Sharpe is {held:.2f}: the edge did not hold on the bars "
            "the sweep never saw[/]"
        )


def announce(cfg: DictConfig, title: str, summary: Summary | None) -> None:
    """The sweep's end to the configured notifier: best parameters and the out-of-sample
    verdict (the deflated Sharpe's, and whether the Sharpe held on unseen bars)."""
    from hydra.utils import instantiate

    from thunes.notify.events import Event, Kind, Level

    notifier: Notifier = instantiate(cfg.notifier, _convert_="all")
    if summary is None:
        notifier.publish(
            Event(Kind.SWEEP_FINISHED, f"{title}: no trial completed", "", Level.WARNING)
        )
    else:
        d, held = summary.deflated, summary.test["sharpe"]
        best = ", ".join(f"{k}={v}" for k, v in summary.best.items())
        verdict = "significant" if d.significant else "NOT significant (luck of many trials)"
        kept = "held" if held > 0 or summary.train["sharpe"] <= 0 else "did NOT hold"
        notifier.publish(
            Event(
                Kind.SWEEP_FINISHED,
                f"{title}, best of {summary.evaluated}: {best}; Sharpe in sample "
                f"{summary.train['sharpe']:.2f}, out of sample {held:.2f} ({kept}); "
                f"deflated Sharpe {d.dsr:.3f}: {verdict}",
            )
        )
    notifier.close()


def log_parent(
    tracker: Tracker,
    parent_id: str | None,
    name: str,
    cfg: DictConfig,
    summary: Summary | None,
    out_dir: Path,
    artifacts: tuple[str, ...],
) -> str | None:
    """Close the sweep's parent run with the best parameters, the summary and the files."""
    params = {f"best.{k}": str(v) for k, v in (summary.best if summary else {}).items()}
    params.update(
        objectives=",".join(cfg.sweep.objectives),
        split=str(OmegaConf.to_container(cfg.sweep.split)),
    )
    record = RunRecord(
        name=name,
        params=params,
        metrics=summary_metrics(summary) if summary else {},
        tags={"mode": "sweep", "engine": str(cfg.sweep.engine)},
        artifact_dir=out_dir,
        artifact_names=artifacts,
    )
    return tracker.log_run(record, run_id=parent_id)


def written(out_dir: Path, names: list[str]) -> tuple[str, ...]:
    return tuple(name for name in names if (out_dir / name).exists())
