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
own timestamps (process start-up and the final report are reported apart). Every figure is
CPU time (every thread, and child processes), read over that stretch from the process's CPU
sampled against the wall clock (meter.CpuTrace): on a shared 2-core machine the wall clock
counts other processes' turns too, and swung 3x on identical code. The study is one run (its
cost per trial grows with the trials it has seen, so it cannot be cut into repeats); its
trials in BLOCKS blocks, the same trials and parameters in both loops, give the THUNES/bare
ratio per block, and the spread (median block ratio over the lowest) says how disturbed the
run was. The wall rates stay beside, labelled: the throughput a user sees on this machine.
Goals (issue 4), read on the CPU figures: >= 10 trials/s, THUNES/bare <= 1.5; grid >= 1,000
combinations/s under 2 GB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from tests.benchmarks.meter import CpuTrace, tree_cpu_seconds
from tests.benchmarks.workers import MARKER, peak_rss_bytes

MODULE = "tests.benchmarks.sweeps"
REPO = Path(__file__).resolve().parents[2]
GOAL_TRIALS_PER_S, GOAL_RATIO = 10.0, 1.5
GOAL_COMBOS_PER_S, GOAL_GRID_MB = 1000.0, 2048.0
SEED = 0
BARE_WINDOW = 33  # run_combs over windows 2..33: 528 pairs, as STACK.md's chunks
BLOCKS = 4  # the study's trials in this many blocks, for the spread of the THUNES/bare ratio
NOISY_SPREAD = 1.2  # as strategies.py: a median block ratio this far over the lowest: disturbed
Json = dict[str, Any]


def thunes(*args: str) -> list[str]:
    return [sys.executable, "-m", "thunes", *args]


def rates(count: int, seconds: float, cpu: float) -> Json:
    """`count` things done in `seconds` of wall time and `cpu` seconds of CPU: both rates."""
    return {
        "seconds": seconds,
        "per_s": count / seconds,
        "cpu_seconds": cpu,
        "per_cpu_s": count / cpu,
    }


def _study_rate(storage: str, trace: CpuTrace) -> Json:
    """Trials per wall and per CPU second between the first trial's start and the last one's
    end, and the CPU of each block of trials (in trial order, from the block's previous end)."""
    import optuna

    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    start = min(t.datetime_start.timestamp() for t in trials if t.datetime_start)
    ends = [t.datetime_complete.timestamp() if t.datetime_complete else start for t in trials]
    end, seconds = max(ends), max(ends) - start
    cpu = trace.between(start, end)
    size = -(-len(trials) // BLOCKS)
    bounds = [start] + [max(ends[: i + size]) for i in range(0, len(trials), size)]
    blocks = [trace.between(a, b) for a, b in itertools.pairwise(bounds)]
    states = pd.Series([t.state.name for t in trials]).value_counts().to_dict()
    return {
        "trials": len(trials),
        **rates(len(trials), seconds, cpu),
        "block_cpu_seconds": blocks,
        "params": [t.params for t in trials],
        **states,
    }


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

    trace = CpuTrace()
    process = run_process(cmd, cwd, env, timeout=1800, trace=trace)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = mlflow.search_runs(experiment_names=["thunes"])
    nested = int(runs["tags.mlflow.parentRunId"].notna().sum()) if len(runs) else 0
    return {
        "process_seconds": process.seconds,
        "process_cpu_seconds": process.cpu_seconds,
        "peak_rss_mb": process.peak_rss_mb,
        "mlflow_runs": len(runs),
        "mlflow_nested": nested,
        **_study_rate(storage, trace),
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
    trace = CpuTrace()
    trace.start(os.getpid())  # this process: every thread, as the thunes process is read
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    loop = time.perf_counter() - started
    trace.stop(final_cpu=tree_cpu_seconds(os.getpid()))
    return {"loop_seconds": loop, "loop_per_s": trials / loop, **_study_rate(storage, trace)}


def run_grid(combos_side: int, cwd: Path, env: dict[str, str]) -> Json:
    """`combos_side`^2 (fast, slow) pairs, every one with fast < slow."""
    fast = f"strategy.fast=range(2, {1 + combos_side})"  # Optuna's ranges include the stop
    slow = f"strategy.slow=range(110, {100 + 10 * combos_side}, 10)"
    cmd = thunes("-m", "+sweep=sma", "sweep.engine=grid", fast, slow)
    from tests.benchmarks.run import run_process

    trace = CpuTrace()
    process = run_process(cmd, cwd, env, timeout=3600, trace=trace)
    (out,) = (cwd / "experiments" / "multirun").glob("*/*")
    written = out / "grid_timings.json"  # written as the evaluation ends: its end on the wall
    timings = json.loads(written.read_text())
    end = written.stat().st_mtime
    cpu = trace.between(end - timings["evaluate_seconds"], end)
    combos = len(pd.read_csv(out / "grid.csv"))
    return {
        "combinations": combos,
        "process_seconds": process.seconds,
        "process_cpu_seconds": process.cpu_seconds,
        "peak_rss_mb": process.peak_rss_mb,
        **timings,
        "evaluate_cpu_seconds": cpu,
        "per_s": combos / timings["evaluate_seconds"],
        "per_cpu_s": combos / cpu,
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
    started, cpu_started = time.perf_counter(), time.process_time()
    sharpe = sweep(close)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "combinations": len(sharpe),
        **rates(len(sharpe), seconds, cpu),
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
        o, b = out["optuna"], out["bare"]
        out["ratio"] = o["cpu_seconds"] / b["cpu_seconds"]  # THUNES CPU per trial / bare's
        out["wall_ratio"] = b["per_s"] / o["per_s"]
        pairs = zip(o["block_cpu_seconds"], b["block_cpu_seconds"], strict=True)
        blocks = [mine / bare for mine, bare in pairs]
        out["block_ratios"] = blocks
        out["spread"] = statistics.median(blocks) / min(blocks)
        out["same_trials"] = o.pop("params") == b.pop("params")  # blocks: like with like
    return out


def _worker(args: list[str], env: dict[str, str]) -> Json:
    from tests.benchmarks.run import marker_json, run_process

    cmd = [sys.executable, "-m", MODULE, *args]
    return marker_json(run_process(cmd, REPO, env, timeout=3600).stdout)


def _met(value: float, goal: float, higher: bool = True) -> str:
    return "met" if (value >= goal if higher else value <= goal) else "MISSED"


def _spread(res: Json) -> str:
    spread = res.get("spread")
    if spread is None:
        return "-"
    return f"[yellow]{spread:.2f}[/]" if spread > NOISY_SPREAD else f"{spread:.2f}"


def table(res: Json) -> Table:
    table = Table(
        title="7. Sweeps: SMA on 44,000 sim 1h bars (holdout 70/30)",
        caption="rates per CPU second (every thread and child process) over the steady "
        "stretch: the trials' first start to last end, the grid's evaluation; goals read on "
        "them; wall: the same stretch on this machine's cores, as a user sees it (others' "
        "load included). spread: the THUNES/bare CPU ratio in each of the study's "
        f"{BLOCKS} blocks of trials (same trials, same parameters), median over lowest (yellow: > "
        f"{NOISY_SPREAD}). The batch evaluator's rows are in section 6",
    )
    for column in ("path", "CPU figure", "spread", "wall", "reference (same run)", "goal", ""):
        table.add_column(column, justify="left" if column == "path" else "right")
    if "optuna" in res:
        o, b = res["optuna"], res.get("bare")
        table.add_row(
            f"thunes -m +sweep=sma, {o['trials']} trials, MLflow {o['mlflow_nested']} nested",
            f"{o['per_cpu_s']:.1f} trials/s",
            "",
            f"{o['per_s']:.1f}/s",
            f"bare Optuna loop {b['per_cpu_s']:.1f}/s\n(wall {b['per_s']:.1f}/s)" if b else "-",
            f">= {GOAL_TRIALS_PER_S:g}/s",
            _met(o["per_cpu_s"], GOAL_TRIALS_PER_S),
        )
    if "ratio" in res:
        same = "" if res["same_trials"] else " [red](trials differ)[/]"
        table.add_row(
            "  THUNES CPU per trial / bare" + same, f"{res['ratio']:.2f}x", _spread(res),
            f"{res['wall_ratio']:.2f}x", "", f"<= {GOAL_RATIO}",
            _met(res["ratio"], GOAL_RATIO, higher=False),
        )  # fmt: skip
    if "grid" in res:
        g, rc = res["grid"], res.get("run_combs")
        table.add_row(
            f"sweep.engine=grid, {g['combinations']:,} pairs",
            f"{g['per_cpu_s']:,.0f} combos/s",
            "-",
            f"{g['per_s']:,.0f}/s",
            f"run_combs {rc['per_cpu_s']:.0f}/s\n(wall {rc['per_s']:.0f}/s)" if rc else "-",
            f">= {GOAL_COMBOS_PER_S:,.0f}/s",
            _met(g["per_cpu_s"], GOAL_COMBOS_PER_S),
        )
        table.add_row(
            "  grid process peak RSS", f"{g['peak_rss_mb']:,.0f} MB", "", "",
            f"run_combs {rc['peak_rss_mb']:,.0f} MB" if rc else "-",
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
