"""The bench's SWEEPS section (`make bench` section 7, or alone):

    python -m tests.benchmarks.sweeps                 # all three, ~3-5 minutes
    python -m tests.benchmarks.sweeps --trials 40 --combos 1000   # a smoke version

- optuna: `thunes -m +sweep=sma hydra.sweeper.n_trials=N` as a user runs it (default data:
  44,000 sim 1h bars; holdout split; MLflow parent + one nested run per trial; the report),
  in a fresh working folder, as one whole process;
- bare: the same N trials as a plain Optuna loop in one process, calling the same backtest
  (`thunes.sweep.trial.metrics` on the same train and test windows) with the same sampler
  and the same SQLite storage: no Hydra, no MLflow, no report;
- grid: `thunes -m +sweep=sma sweep.engine=grid` over 10,000 (fast, slow) pairs, as one
  process: combinations per second and the process's peak RSS; against `vbt.MA.run_combs` +
  `Portfolio.from_signals` on a slice of the same pairs, in its own process.

The trial rate is the steady one: first trial's start to last trial's end, from the study's
own timestamps (process start-up and the final report are reported apart). Goals (issue 4):
>= 10 trials/s, THUNES/bare <= 1.5; grid >= 1,000 combinations/s under 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from tests.benchmarks.workers import MARKER, peak_rss_bytes

MODULE = "tests.benchmarks.sweeps"
REPO = Path(__file__).resolve().parents[2]
GOAL_TRIALS_PER_S, GOAL_RATIO = 10.0, 1.5
GOAL_COMBOS_PER_S, GOAL_GRID_MB = 1000.0, 2048.0
SEED = 0
BARE_WINDOW = 33  # run_combs over windows 2..33: 528 pairs, as STACK.md's chunks
Json = dict[str, Any]


def thunes(*args: str) -> list[str]:
    return [sys.executable, "-m", "thunes", *args]


def _study_rate(storage: str) -> Json:
    """Trials per second between the first trial's start and the last one's end."""
    import optuna

    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    start = min(t.datetime_start for t in trials if t.datetime_start)
    end = max(t.datetime_complete for t in trials if t.datetime_complete)
    seconds = (end - start).total_seconds()
    states = pd.Series([t.state.name for t in trials]).value_counts().to_dict()
    return {"trials": len(trials), "seconds": seconds, "per_s": len(trials) / seconds, **states}


def run_optuna(trials: int, cwd: Path, env: dict[str, str]) -> Json:
    storage = f"sqlite:///{cwd}/optuna.db"
    cmd = thunes(
        "-m",
        "+sweep=sma",
        f"hydra.sweeper.n_trials={trials}",
        f"hydra.sweeper.sampler.seed={SEED}",
        f"hydra.sweeper.storage={storage}",
    )
    from tests.benchmarks.run import run_process  # run.py imports this module

    process = run_process(cmd, cwd, env, timeout=1800)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["thunes"])
    nested = int(runs["tags.mlflow.parentRunId"].notna().sum()) if len(runs) else 0
    return {
        "process_seconds": process.seconds,
        "peak_rss_mb": process.peak_rss_mb,
        "mlflow_runs": len(runs),
        "mlflow_nested": nested,
        **_study_rate(storage),
    }


def bare_loop(trials: int, storage: str) -> Json:
    """The reference: a plain Optuna loop over the product's backtest, nothing else."""
    import optuna

    import thunes.sweep.scoring  # noqa: F401  (vectorbt, before the loop, as thunes does)
    from tests.config.compose import composed
    from thunes.components import Components, build
    from thunes.strategy.sma_cross import SmaCross
    from thunes.sweep import trial as sweep_trial

    with composed("+sweep=sma") as cfg:
        parts = build(cfg)
        candles = sweep_trial.candles_once(cfg, parts)
        (fold,) = sweep_trial.folds_of(cfg, candles[0])
    train, test = sweep_trial.window(candles, fold.train), sweep_trial.window(candles, fold.test)

    def objective(t: optuna.Trial) -> float:
        fast = t.suggest_int("strategy.fast", 5, 60, step=5)
        slow = t.suggest_int("strategy.slow", 20, 200, step=10)
        if fast >= slow:
            raise optuna.TrialPruned

        def fresh() -> Components:
            return replace(parts, strategies=[SmaCross(fast, slow, "sma", None, None, None)])

        runnable = fresh()
        figures = sweep_trial.metrics(runnable, train)
        t.set_user_attr("test", sweep_trial.metrics(fresh(), test))  # one write, as thunes
        return figures["sharpe"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=SEED, multivariate=True, n_startup_trials=10)
    study = optuna.create_study(storage=storage, sampler=sampler, direction="maximize")
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    loop = time.perf_counter() - started
    return {"loop_seconds": loop, "loop_per_s": trials / loop, **_study_rate(storage)}


def run_grid(combos_side: int, cwd: Path, env: dict[str, str]) -> Json:
    """`combos_side`^2 (fast, slow) pairs, every one with fast < slow."""
    fast = f"strategy.fast=range(2, {1 + combos_side})"  # Optuna's ranges include the stop
    slow = f"strategy.slow=range(110, {100 + 10 * combos_side}, 10)"
    cmd = thunes("-m", "+sweep=sma", "sweep.engine=grid", fast, slow)
    from tests.benchmarks.run import run_process

    process = run_process(cmd, cwd, env, timeout=3600)
    (out,) = (cwd / "experiments" / "multirun").glob("*/*")
    timings = json.loads((out / "grid_timings.json").read_text())
    combos = len(pd.read_csv(out / "grid.csv"))
    return {
        "combinations": combos,
        "process_seconds": process.seconds,
        "peak_rss_mb": process.peak_rss_mb,
        **timings,
        "per_s": combos / timings["evaluate_seconds"],
    }


def bare_run_combs(max_window: int) -> Json:
    """vbt.MA.run_combs over windows 2..max_window and from_signals, as STACK.md measured."""
    import numpy as np
    import vectorbt as vbt

    from tests.benchmarks.workers import sim_candles

    close = sim_candles(44_000)["close"].tz_localize(None)

    def sweep(prices: pd.Series) -> pd.Series:
        fast, slow = vbt.MA.run_combs(prices, window=np.arange(2, max_window + 1), r=2)
        entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
        return vbt.Portfolio.from_signals(
            prices, entries, exits, fees=0.001, freq="1h"
        ).sharpe_ratio()

    sweep(close.iloc[:500])  # numba compiles from_signals in every process: not timed
    started = time.perf_counter()
    sharpe = sweep(close)
    seconds = time.perf_counter() - started
    return {
        "combinations": len(sharpe),
        "seconds": seconds,
        "per_s": len(sharpe) / seconds,
        "peak_rss_mb": peak_rss_bytes() / 2**20,
    }


def measure(trials: int, combos_side: int, bare_window: int, env: dict[str, str]) -> Json:
    from tests.benchmarks.run import BenchError

    out: Json = {"errors": {}}
    with tempfile.TemporaryDirectory(prefix="thunes-sweep-bench-") as tmp:
        root = Path(tmp)
        for name, job in (
            ("optuna", lambda d: run_optuna(trials, d, env)),
            ("bare", lambda d: _worker(["bare", f"--trials={trials}", f"--dir={d}"], env)),
            ("grid", lambda d: run_grid(combos_side, d, env)),
            ("run_combs", lambda d: _worker(["run_combs", f"--window={bare_window}"], env)),
        ):
            folder = root / name
            folder.mkdir()
            try:
                out[name] = job(folder)
            except BenchError as error:
                out["errors"][name] = str(error)
    if "optuna" in out and "bare" in out:
        out["ratio"] = out["bare"]["per_s"] / out["optuna"]["per_s"]
    return out


def _worker(args: list[str], env: dict[str, str]) -> Json:
    from tests.benchmarks.run import marker_json, run_process

    cmd = [sys.executable, "-m", MODULE, *args]
    return marker_json(run_process(cmd, REPO, env, timeout=3600).stdout)


def _met(value: float, goal: float, higher: bool = True) -> str:
    return "met" if (value >= goal if higher else value <= goal) else "MISSED"


def table(res: Json) -> Table:
    table = Table(title="7. Sweeps: SMA on 44,000 sim 1h bars (holdout 70/30)")
    for column in ("path", "figure", "reference (same run)", "goal", ""):
        table.add_column(column)
    if "optuna" in res:
        o = res["optuna"]
        ref = f"bare Optuna loop {res['bare']['per_s']:.1f}/s" if "bare" in res else "-"
        table.add_row(
            f"thunes -m +sweep=sma, {o['trials']} trials, MLflow {o['mlflow_nested']} nested",
            f"{o['per_s']:.1f} trials/s",
            ref,
            f">= {GOAL_TRIALS_PER_S:g}/s",
            _met(o["per_s"], GOAL_TRIALS_PER_S),
        )
    if "ratio" in res:
        table.add_row(
            "  THUNES time per trial / bare", f"{res['ratio']:.2f}x", "", f"<= {GOAL_RATIO}",
            _met(res["ratio"], GOAL_RATIO, higher=False),
        )  # fmt: skip
    if "grid" in res:
        g = res["grid"]
        ref = f"run_combs {res['run_combs']['per_s']:.0f}/s" if "run_combs" in res else "-"
        table.add_row(
            f"sweep.engine=grid, {g['combinations']:,} pairs",
            f"{g['per_s']:,.0f} combos/s",
            ref,
            f">= {GOAL_COMBOS_PER_S:,.0f}/s",
            _met(g["per_s"], GOAL_COMBOS_PER_S),
        )
        table.add_row(
            "  grid process peak RSS", f"{g['peak_rss_mb']:,.0f} MB",
            f"run_combs {res['run_combs']['peak_rss_mb']:,.0f} MB" if "run_combs" in res else "-",
            f"< {GOAL_GRID_MB:,.0f} MB", _met(g["peak_rss_mb"], GOAL_GRID_MB, higher=False),
        )  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("job", nargs="?", default="all", choices=("all", "bare", "run_combs"))
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--combos-side", type=int, default=100, help="grid of side^2 pairs")
    parser.add_argument("--window", type=int, default=BARE_WINDOW, help="run_combs windows 2..W")
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    if args.job == "bare":
        result = bare_loop(args.trials, f"sqlite:///{args.dir}/optuna.db")
    elif args.job == "run_combs":
        result = bare_run_combs(args.window)
    else:
        env = {**os.environ}
        env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba"))
        result = measure(args.trials, args.combos_side, args.window, env)
        Console(width=130).print(table(result))
        for name, error in result["errors"].items():
            print(f"{name} failed: {error}")
    print(MARKER + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
