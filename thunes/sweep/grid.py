"""The exhaustive grid: every combination of the preset's space, in one process.

The candles are loaded once; each combination runs the same evaluation as an Optuna trial
(thunes/sweep/trial.py), so the two engines cannot disagree on what a parameter set scores.
Memory stays flat however large the grid: one combination's backtest is alive at a time
and only its figures are kept (`vbt.MA.run_combs` holds every combination at once, and ran
out of memory past about 1,000 here). The results: `grid.csv` (every combination, in and
out of sample), `top_k.csv`, a heatmap of the objective over the first two parameters, the
summary on screen, and an MLflow parent run with the top k nested under it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thunes.config.explain import explain
from thunes.config.validate import validate
from thunes.errors import ConfigError, ThunesError
from thunes.sweep import grid_batch, report, space
from thunes.sweep.heatmap import write_heatmap
from thunes.sweep.trial import HEADLINE, evaluate, prepared, with_params
from thunes.tracking.base import RunRecord

GRID_CSV, TOP_CSV, TIMINGS_JSON = "grid.csv", "top_k.csv", "grid_timings.json"


def combinations(cfg: DictConfig, params: dict[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The swept keys, and every combination that satisfies the constraints."""
    axes = space.grid_axes(params)
    constraints = space.parse_constraints(list(cfg.sweep.constraints))
    kept = [c for c in space.combinations(axes) if space.violated(constraints, c, cfg) is None]
    if len(kept) > cfg.sweep.max_combinations:
        raise ConfigError(
            f"sweep.max_combinations={cfg.sweep.max_combinations}: the grid has {len(kept):,} "
            "combinations; narrow hydra.sweeper.params or raise the limit"
        )
    if not kept:
        raise ConfigError("hydra.sweeper.params: no combination satisfies sweep.constraints")
    return list(axes), kept


def score(cfg: DictConfig, combo: dict[str, Any]) -> dict[str, Any]:
    """One combination's row: its figures in and out of sample, or why it could not run."""
    try:
        work = with_params(cfg, combo)
        validate(work)
        outcome = evaluate(work)
    except ThunesError as error:
        return {**combo, "state": "FAIL", "error": explain(error)}
    return {**combo, "state": "COMPLETE", **outcome.figures()}


def run(cfg: DictConfig, params: dict[str, str], out_dir: Path) -> pd.DataFrame:
    keys, combos = combinations(cfg, params)
    console = Console()
    fresh, candle_sets = prepared(cfg)
    parts = fresh()
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]grid"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("grid", total=len(combos))
        if grid_batch.applies(parts, keys):  # a signal strategy: columns in batches
            scored = grid_batch.score_all(
                cfg,
                parts,
                combos,
                candle_sets,
                lambda n: progress.advance(task, n),
            )
        else:
            scored = []
            for combo in combos:
                scored.append(score(cfg, combo))
                progress.advance(task)
    rows = [{"number": number, **row} for number, row in enumerate(scored)]
    evaluate_seconds = time.perf_counter() - started
    table = pd.DataFrame(rows)
    objective = f"train_{cfg.sweep.objectives[0]}"
    if objective not in table:
        raise ConfigError(f"no combination ran: {rows[0].get('error', 'unknown error')}")
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / GRID_CSV, index=False)
    timings = {"evaluate_seconds": evaluate_seconds, "combinations": len(combos)}
    (out_dir / TIMINGS_JSON).write_text(json.dumps(timings, indent=2))
    ascending = bool(cfg.sweep.direction) and cfg.sweep.direction[0] == "minimize"
    done = table[table["state"] == "COMPLETE"].sort_values(objective, ascending=ascending)
    top = done.head(int(cfg.sweep.top_k))
    top.to_csv(out_dir / TOP_CSV, index=False)
    figures = write_heatmap(done, keys, objective, out_dir) if len(keys) >= 2 else ()
    timeframe = candle_sets[0].timeframe
    summary = report.summarize(cfg, table, keys, timeframe)
    report.print_summary(console, f"grid of {len(combos):,} combinations", summary)
    report.announce(cfg, f"grid of {len(combos):,} combinations", summary)
    console.print(top[[*keys, objective, f"test_{cfg.sweep.objectives[0]}"]].to_string(index=False))
    _track(cfg, top, keys, summary, out_dir, (GRID_CSV, TOP_CSV, TIMINGS_JSON, *figures))
    console.print(f"files in {out_dir}")
    return table


def _track(
    cfg: DictConfig,
    top: pd.DataFrame,
    keys: list[str],
    summary: report.Summary | None,
    out_dir: Path,
    artifacts: tuple[str, ...],
) -> None:
    """The grid's parent run, and its top k nested under it."""
    from hydra.utils import instantiate

    tracker = instantiate(cfg.tracking, _convert_="all")
    parent = tracker.start_run("grid", {"mode": "sweep", "engine": "grid"})
    for rank, (_, row) in enumerate(top.iterrows(), start=1):
        figures = {
            f"{part}_{name}": float(row[f"{part}_{name}"])
            for part in ("train", "test")
            for name in HEADLINE
        }
        tracker.log_run(
            RunRecord(
                name=f"grid-top{rank}",
                params={key: str(row[key]) for key in keys},
                metrics={k: v for k, v in figures.items() if math.isfinite(v)},
                tags={"mode": "sweep", "engine": "grid", "rank": str(rank)},
                artifact_dir=out_dir,
            ),
            parent_id=parent,
        )
    report.log_parent(tracker, parent, "grid", cfg, summary, out_dir, artifacts)
