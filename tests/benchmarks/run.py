"""THUNES's speed and memory, as ratios to bare vectorbt references measured in the same run.

    python -m tests.benchmarks.run            # `make bench`: the full run, 3-4 minutes
    python -m tests.benchmarks.run --quick    # a smoke version, under a minute, no cold run

Measures (1) the SMA 10/50 backtest in-process, warm, against the vectorbt calls a user would
write; (2) `thunes mode=backtest` as a warm whole process against a bare vectorbt script;
(3) a cold first-ever run; (4) where the warm run's time goes; (5) time and peak memory at
10k, 100k and 1M bars; (6) every strategy's backtest path, a 3-symbol portfolio and the
replay rates, against bare references (tests/benchmarks/strategies.py); (7) sweeps: a
200-trial Optuna study through the real multirun against a bare Optuna loop, and the grid
over 10,000 pairs against vbt.MA.run_combs (tests/benchmarks/sweeps.py); (8) the live engine
at paper.speed=0 against the bare strategy, and paper mode's time to its first event
(tests/benchmarks/live.py). Goals are reported
as met or missed, never asserted. Everything lands in bench-results/latest.json, and a rich
table is printed.

Other processes on the machine skew every number here, so the bench waits (a bounded time)
for the machine to be idle, and records how much CPU others used during each measurement.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks import live, strategies, sweeps
from tests.benchmarks.meter import CpuMeter, CpuTrace, machine_busy_seconds
from tests.benchmarks.workers import MARKER

REPO = Path(__file__).resolve().parents[2]
GOAL_INPROCESS = 1.3  # THUNES's in-process path / bare vectorbt calls
GOAL_E2E = 1.1  # `thunes mode=backtest` process / bare vectorbt script process
FREQTRADE_SECONDS = 6.85  # freqtrade's backtest of the same strategy, measured by others
FREQTRADE_NOTE = "measured by others on this machine; NOT measured in this run"
INPROCESS_BARS = 44_000
OTHER = "other (interpreter start, Hydra compose, exit)"
PACKAGES = ("vectorbt", "numba", "numpy", "pandas", "hydra-core", "mlflow")
IDLE_BUSY = 0.15  # the machine counts as idle below this fraction of all CPUs busy
NOISY_CORES = 0.25  # others using more than this many cores during a measurement: flagged
SHUTDOWN_PROBE = "import vectorbt, thunes.backtest.engine, thunes.reporting.tables"

Json = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """How many times each thing runs: the full bench or the --quick smoke version."""

    inprocess_warmup: int
    inprocess_repeats: int
    e2e_warmup: int
    e2e_repeats: int
    bare_warmup: int
    bare_repeats: int
    reference_repeats: int  # python start-up, Hydra compose, interpreter shutdown
    shutdown_probe: bool
    cold: bool
    scaling: tuple[tuple[int, int], ...]  # (bars, repeats)
    idle_wait_seconds: float  # the total time the bench may wait for an idle machine
    strategies: strategies.StrategyPlan = strategies.FULL  # section 6
    sweep_trials: int = 200  # section 7
    grid_side: int = 100  # the grid has side x side pairs


FULL = Plan(3, 7, 1, 3, 1, 3, 3, True, True, ((10_000, 7), (100_000, 5), (1_000_000, 3)), 60)
QUICK = Plan(2, 5, 1, 1, 0, 1, 1, False, False, ((10_000, 3), (100_000, 3), (1_000_000, 1)), 0)
QUICK = replace(QUICK, strategies=strategies.QUICK, sweep_trials=40, grid_side=30)


@dataclass(frozen=True)
class ProcessRun:
    """One whole process: wall seconds, CPU seconds (its threads and children), peak RSS of
    its largest process, exit code, output."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


class BenchError(RuntimeError):
    """A measured process failed: the bench records it and carries on."""


# -- processes -------------------------------------------------------------------------------
def run_process(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float = 600,
    trace: CpuTrace | None = None,
) -> ProcessRun:
    """Run `cmd` to completion; wall time from spawn to reap, CPU and peak RSS from wait4;
    `trace` samples its CPU as it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        if trace is not None:
            trace.start(proc.pid)
        timer = threading.Timer(timeout, proc.kill)  # this process only, by its id
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        cpu = usage.ru_utime + usage.ru_stime
        if trace is not None:
            trace.stop(final_cpu=cpu)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = ProcessRun(
            seconds=seconds,
            cpu_seconds=cpu,
            peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux; the max over the reaped tree
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(cmd)} exited {run.returncode} in {cwd}:\n{tail}")
    return run


def marker_json(stdout: str) -> Json:
    """The `BENCH_JSON {...}` line a worker or the bare script printed."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    raise BenchError(f"no {MARKER.strip()} line in:\n{stdout[-2000:]}")


def worker(args: list[str], env: dict[str, str], module: str = "tests.benchmarks.workers") -> Json:
    """Run `python -m MODULE ARGS` from the repo root; its JSON result."""
    cmd = [sys.executable, "-m", module, *args]
    return marker_json(run_process(cmd, REPO, env).stdout)


def thunes_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("thunes")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "thunes"]
    return [*base, "mode=backtest", *args]


def run_thunes(cwd: Path, env: dict[str, str]) -> Json:
    """One `thunes mode=backtest` process: wall seconds, peak RSS and its timings.json."""
    before = set(cwd.glob("experiments/*/*/*/timings.json"))
    run = run_process(thunes_command(), cwd, env)
    new = sorted(set(cwd.glob("experiments/*/*/*/timings.json")) - before)
    if len(new) != 1:
        raise BenchError(f"expected one new timings.json under {cwd}, found {len(new)}")
    timings = json.loads(new[0].read_text())
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "timings": timings}


def run_bare(cwd: Path, data: Path, env: dict[str, str]) -> Json:
    """One bare vectorbt script process: wall seconds, peak RSS, its own stage times."""
    script = Path(__file__).with_name("bare_vectorbt.py")
    run = run_process([sys.executable, str(script), str(data)], cwd, env)
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, **marker_json(run.stdout)}


def run_plain(cmd: list[str], cwd: Path, env: dict[str, str]) -> Json:
    run = run_process(cmd, cwd, env)
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}


def _repeat(
    fn: Callable[[], Json], warmup: int, repeats: int, before: Callable[[], object] | None = None
) -> Json:
    """Call `fn` warmup times, discard, then `repeats` times; the median run and all of them.

    `before` runs ahead of each timed call, untimed: the bench waits for an idle machine there.
    """
    warm = [fn() for _ in range(warmup)]
    runs = []
    for _ in range(repeats):
        if before is not None:
            before()
        runs.append(fn())
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {
        "median": statistics.median(r["seconds"] for r in runs),
        "samples": [r["seconds"] for r in runs],
        "median_run": ordered[(len(ordered) - 1) // 2],
        "warmup_seconds": [r["seconds"] for r in warm],
    }


# -- the machine -------------------------------------------------------------------------------
def busy_fraction(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy over `seconds` while this bench sleeps."""
    start = machine_busy_seconds()
    time.sleep(seconds)
    end = machine_busy_seconds()
    if start is None or end is None:
        return None
    return (end - start) / (seconds * (os.cpu_count() or 1))


class IdleGate:
    """Waits for an idle machine before each measurement, within one total time budget."""

    def __init__(self, budget: float, console: Console) -> None:
        self.budget, self.console, self.waited, self.spent = budget, console, 0.0, False

    def wait(self) -> float | None:
        """Wait until idle or the budget is spent; the last busy fraction seen (None: unseen)."""
        if self.budget <= 0:
            return None
        busy = busy_fraction(0.3)
        self.waited += 0.3
        if busy is None or busy < IDLE_BUSY:
            return busy
        if self.waited >= self.budget:
            if not self.spent:
                self.console.log(
                    f"[yellow]machine {busy:.0%} busy and the {self.budget:.0f} s idle-wait "
                    "budget is spent: measuring anyway (see the others' column)[/]"
                )
                self.spent = True
            return busy
        self.console.log(f"[yellow]machine {busy:.0%} busy: waiting for it to settle[/]")
        while busy is not None and busy >= IDLE_BUSY and self.waited < self.budget:
            busy = busy_fraction(1.0)
            self.waited += 1.0
        return busy


def machine_load() -> Json:
    return {"loadavg_1_5_15": list(os.getloadavg()), "cpu_busy_1s": busy_fraction(1.0)}


def meta() -> Json:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        git = ["git", "rev-parse", "--short", "HEAD"]
        out = subprocess.run(git, cwd=REPO, capture_output=True, text=True, timeout=5)
        commit = out.stdout.strip()
    except OSError:
        commit = ""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git_commit": commit or "unknown",
        "packages": versions,
    }


def save_close(path: Path) -> int:
    """The default config's close series (sim BTC/USDT 1h, 2020-2025) for the bare script."""
    import numpy as np
    import pandas as pd

    from thunes.exchange.sim import SimExchange

    start, end = (int(pd.Timestamp(d, tz="UTC").value // 1_000_000) for d in ("2020", "2025"))
    candles = SimExchange().candles("BTC/USDT", "1h", start, end)
    time_ms = pd.DatetimeIndex(candles.index).asi8 // 1_000_000
    np.savez(path, close=candles["close"].to_numpy(), time_ms=time_ms)
    return len(candles)


# -- the measurements ------------------------------------------------------------------------
def goal(value: float, target: float) -> Json:
    return {"ratio": value, "goal": target, "met": value <= target}


def measure(plan: Plan, tmp: Path, numba_cache: Path, console: Console) -> Json:
    """Run every measurement; a failing one is recorded as an error and the rest go on."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache)}
    warm_dir, cold_dir = tmp / "warm", tmp / "cold"
    warm_dir.mkdir()
    cold_dir.mkdir()
    close = warm_dir / "close.npz"
    raw: Json = {"errors": {}, "interference": {}}
    gate = IdleGate(plan.idle_wait_seconds, console)
    repeat = functools.partial(_repeat, before=gate.wait)

    def section(name: str, what: str, fn: Callable[[], Json]) -> None:
        busy = gate.wait()
        console.log(f"[bold]{name}[/]: {what}")
        meter = CpuMeter()
        try:
            raw[name] = fn()
        except BenchError as error:
            console.log(f"[red]{name} failed[/]: {error}")
            raw["errors"][name] = str(error)
        raw["interference"][name] = {"busy_before": busy, **meter.stop()}

    bars = save_close(close)
    ip_args = [f"--bars={INPROCESS_BARS}", f"--warmup={plan.inprocess_warmup}"]
    section(
        "inprocess",
        f"{INPROCESS_BARS:,} bars, {plan.inprocess_warmup} warm-ups, "
        f"median of {plan.inprocess_repeats}",
        lambda: worker(["inprocess", *ip_args, f"--repeats={plan.inprocess_repeats}"], env),
    )
    section(
        "e2e_thunes",
        f"`thunes mode=backtest`, {plan.e2e_warmup} warm-up, median of {plan.e2e_repeats}",
        lambda: repeat(lambda: run_thunes(warm_dir, env), plan.e2e_warmup, plan.e2e_repeats),
    )
    section(
        "e2e_bare",
        f"bare vectorbt script on the same {bars:,} closes, {plan.bare_warmup} warm-up, "
        f"median of {plan.bare_repeats}",
        lambda: repeat(lambda: run_bare(warm_dir, close, env), plan.bare_warmup, plan.bare_repeats),
    )
    n = plan.reference_repeats
    section(
        "python_startup",
        f"`python -c pass`, median of {n}",
        lambda: repeat(lambda: run_plain([sys.executable, "-c", "pass"], tmp, env), 1, n),
    )
    section(
        "hydra_compose",
        f"`thunes mode=backtest --cfg job` (start, compose, print, exit), median of {n}",
        lambda: repeat(lambda: run_plain(thunes_command("--cfg", "job"), warm_dir, env), 1, n),
    )
    if plan.shutdown_probe:
        probe = [sys.executable, "-c", SHUTDOWN_PROBE]
        section(
            "shutdown_probe",
            f"import vectorbt+THUNES, exit normally vs os._exit(0), median of {n}",
            lambda: {
                "normal": repeat(lambda: run_plain(probe, tmp, env), 0, n),
                "os_exit": repeat(
                    lambda: run_plain(
                        [*probe[:-1], probe[-1] + "; import os; os._exit(0)"], tmp, env
                    ),
                    0,
                    n,
                ),
            },
        )
    if plan.cold:
        cold_env = {**env, "NUMBA_CACHE_DIR": str(cold_dir / ".cache" / "numba")}
        section(
            "cold",
            "`thunes mode=backtest`, fresh cwd, empty NUMBA_CACHE_DIR",
            lambda: run_thunes(cold_dir, cold_env),
        )
    for size, repeats in plan.scaling:
        args = ["scale", f"--bars={size}", f"--repeats={repeats}"]
        section(
            f"scale_{size}",
            f"{size:,} bars in a fresh process, median of {repeats}",
            functools.partial(worker, args, env),
        )
    section(
        "strategies",
        strategies.describe(plan.strategies),
        lambda: strategies.measure(
            plan.strategies,
            lambda args: worker(args, env, strategies.MODULE),
            gate.wait,
            console.log,
        ),
    )
    section(
        "sweeps",
        f"{plan.sweep_trials}-trial Optuna sweep vs a bare loop; grid of {plan.grid_side**2:,}",
        lambda: sweeps.measure(plan.sweep_trials, plan.grid_side, sweeps.BARE_WINDOW, env),
    )
    section(
        "live",
        "the live engine at paper.speed=0 (SMA on sim 1h, the scalper on sim ticks) and "
        "`thunes mode=paper paper.once=true`",
        lambda: worker(["--repeats=1" if plan is QUICK else "--repeats=5"], env, live.MODULE),
    )
    raw["idle_waited_seconds"] = gate.waited
    return summarise(raw, bars)


def breakdown(run: Json, compose: float | None) -> Json:
    """Where one thunes process's wall time went: its stages, then the rest."""
    timings: dict[str, float] = run["timings"]
    stages = {k: v for k, v in timings.items() if not k.startswith("sidecar_")}
    other = run["seconds"] - sum(stages.values())
    split = None
    if compose is not None:
        split = {"start_compose_light_exit": compose, "rest_mostly_heavy_exit": other - compose}
    return {
        "total": run["seconds"],
        "stages": {**stages, OTHER: other},
        "other_split": split,
        "sidecar_overlapped": {k: v for k, v in timings.items() if k.startswith("sidecar_")},
    }


def summarise(raw: Json, bars: int) -> Json:
    """The JSON document: raw sections plus the ratios, goals and breakdowns derived."""
    out: Json = {"errors": raw["errors"], "interference": raw["interference"]}
    out["idle_waited_seconds"] = raw["idle_waited_seconds"]
    inprocess = raw.get("inprocess")
    if inprocess:
        ratio = inprocess["thunes"]["median"] / inprocess["bare"]["median"]
        inprocess = {**inprocess, **goal(ratio, GOAL_INPROCESS)}
    out["inprocess"] = inprocess
    thunes, bare = raw.get("e2e_thunes"), raw.get("e2e_bare")
    e2e: Json = {"bars": bars, "thunes": thunes, "bare_vectorbt": bare}
    if thunes and bare:
        e2e.update(goal(thunes["median"] / bare["median"], GOAL_E2E))
    if thunes:
        e2e["freqtrade_reference"] = {
            "seconds": FREQTRADE_SECONDS,
            "note": FREQTRADE_NOTE,
            "thunes_over_freqtrade": thunes["median"] / FREQTRADE_SECONDS,
        }
    out["e2e"] = e2e
    compose = raw.get("hydra_compose")
    probe = raw.get("shutdown_probe")
    out["references"] = {
        "python_startup": raw.get("python_startup"),
        "hydra_compose": compose,
        "shutdown_probe": probe,
        "shutdown_seconds": (
            probe["normal"]["median"] - probe["os_exit"]["median"] if probe else None
        ),
    }
    out["cold"] = raw.get("cold")
    compose_s = compose["median"] if compose else None
    out["breakdown"] = {
        "warm": breakdown(thunes["median_run"], compose_s) if thunes else None,
        "cold": breakdown(raw["cold"], compose_s) if raw.get("cold") else None,
    }
    out["scaling"] = [v for k, v in raw.items() if k.startswith("scale_")]
    out["strategies"] = raw.get("strategies")
    out["sweeps"] = raw.get("sweeps")
    out["live"] = raw.get("live")
    for name, error in (out["sweeps"] or {}).get("errors", {}).items():
        out["errors"][f"sweeps.{name}"] = error
    for group, error in (out["strategies"] or {}).get("errors", {}).items():
        out["errors"][f"strategies.{group}"] = error
    return out


# -- the report ----------------------------------------------------------------------------
def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if abs(seconds) < 1 else f"{seconds:.2f} s"


def _status(section: Json | None) -> str:
    if not section or "met" not in section:
        return "[yellow]n/a[/]"
    return "[green]met[/]" if section["met"] else "[red]MISSED[/]"


def _noise(res: Json, *names: str) -> str:
    cores = [res["interference"].get(n, {}).get("foreign_cores") for n in names]
    worst = max((c for c in cores if c is not None), default=None)
    if worst is None:
        return "?"
    return f"[red]{worst:.2f}[/]" if worst > NOISY_CORES else f"{worst:.2f}"


def headline_table(res: Json) -> Table:
    table = Table(
        title="THUNES bench: ratios to references measured in this run",
        caption="others' cores = CPU used by other processes during the measurement, in cores",
    )
    for column in ("measurement", "THUNES", "reference", "ratio", "goal", "status", "others'"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    ip = res["inprocess"]
    if ip:
        table.add_row(
            f"1. SMA 10/50 in-process, {ip['bars']:,} 1h bars\n   warm, median of {ip['repeats']}",
            _s(ip["thunes"]["median"]),
            f"{_s(ip['bare']['median'])}\nbare vectorbt",
            f"{ip['ratio']:.2f}x",
            f"<= {GOAL_INPROCESS}x",
            _status(ip),
            _noise(res, "inprocess"),
        )
    e2e = res["e2e"]
    th, bare = e2e.get("thunes"), e2e.get("bare_vectorbt")
    if th and bare:
        table.add_row(
            f"2. `thunes mode=backtest` process, warm\n"
            f"   {e2e['bars']:,} bars, median of {len(th['samples'])}",
            _s(th["median"]),
            f"{_s(bare['median'])}\nbare vbt script",
            f"{e2e['ratio']:.2f}x",
            f"<= {GOAL_E2E}x",
            _status(e2e),
            _noise(res, "e2e_thunes", "e2e_bare"),
        )
    if th:
        ft = e2e["freqtrade_reference"]
        table.add_row(
            "   freqtrade, same backtest: context only,\n   [italic]NOT measured in this run[/]",
            _s(th["median"]),
            f"{ft['seconds']:.2f} s\nfreqtrade (const)",
            f"{ft['thunes_over_freqtrade']:.2f}x",
            "-",
            "[dim]context[/]",
            "-",
        )
    if res["cold"]:
        table.add_row(
            "3. cold first-ever run: fresh cwd,\n   empty NUMBA_CACHE_DIR (OS file cache warm)",
            _s(res["cold"]["seconds"]),
            "-",
            "-",
            "-",
            "[dim]info[/]",
            _noise(res, "cold"),
        )
    return table


def breakdown_table(res: Json) -> Table:
    warm, cold = res["breakdown"]["warm"], res["breakdown"]["cold"]
    table = Table(title="4. Where a `thunes mode=backtest` process spends its wall time")
    table.add_column("stage (timings.json, main process)")
    table.add_column("warm, median run", justify="right")
    table.add_column("share", justify="right")
    if cold:
        table.add_column("cold", justify="right")

    def row(name: str, key: str | None, warm_s: float | None, share: bool = True) -> None:
        pct = f"{warm_s / warm['total']:.0%}" if share and warm_s is not None else ""
        cells = [name, _s(warm_s), pct]
        if cold:
            cells.append(_s(cold["stages"].get(key) if key else None))
        table.add_row(*cells)

    for name, seconds in warm["stages"].items():
        row(name, name, seconds)
    split = warm["other_split"]
    if split:
        row(
            "  of which start + compose + light exit (--cfg job)",
            None,
            split["start_compose_light_exit"],
        )
        row("  of which the rest (mostly the heavy exit)", None, split["rest_mostly_heavy_exit"])
    total = ["[bold]process total[/]", f"[bold]{_s(warm['total'])}[/]", "100%"]
    table.add_row(*total, *([f"[bold]{_s(cold['total'])}[/]"] if cold else []))
    for name, seconds in warm["sidecar_overlapped"].items():
        cells = [f"[dim]{name} (sidecar process, overlapped)[/]", _s(seconds), ""]
        if cold:
            cells.append(_s(cold["sidecar_overlapped"].get(name)))
        table.add_row(*cells)
    refs = res["references"]
    if refs["python_startup"]:
        row("[dim]reference: `python -c pass`[/]", None, refs["python_startup"]["median"], False)
    if refs["shutdown_seconds"] is not None:
        row(
            "[dim]reference: exit after importing vectorbt+THUNES[/]",
            None,
            refs["shutdown_seconds"],
            False,
        )
    return table


def scaling_table(res: Json) -> Table:
    table = Table(
        title="5. Scaling: THUNES's signals+run+stats+trades, fresh process per size",
        caption="peak RSS delta: over the process after imports and a warm-up run, while it "
        "holds the candles; 'backtest only': over the RSS with the candles loaded",
    )
    columns = ("bars", "time", "us/bar", "peak RSS delta", "bytes/bar", "candles")
    for column in (*columns, "backtest only", "trades"):
        table.add_column(column, justify="right")
    for row in res["scaling"]:
        only = row.get("backtest_only_peak_delta_mb")
        table.add_row(
            f"{row['bars']:,}",
            _s(row["seconds"]),
            f"{row['us_per_bar']:.3f}",
            f"{row['peak_delta_mb']:.1f} MB",
            f"{row['bytes_per_bar']:.0f}",
            f"{row['candles_frame_mb']:.1f} MB",
            "-" if only is None else f"{only:.1f} MB",
            f"{row['trades']:,}",
        )
    return table


def _load(load: Json) -> str:
    averages = "/".join(f"{x:.2f}" for x in load["loadavg_1_5_15"])
    busy = load["cpu_busy_1s"]
    return averages + ("" if busy is None else f" (CPUs {busy:.0%} busy over 1 s)")


def report(res: Json, console: Console) -> None:
    console.print(headline_table(res))
    ip = res["inprocess"]
    if ip:
        for name in ("thunes", "bare"):
            stages = ip[name]["stages_median"]
            parts = ", ".join(f"{k} {_s(v)}" for k, v in stages.items() if k != "total")
            first = _s(ip["first_call_seconds"][name])
            console.print(f"  1. {name:6} stages: {parts}; first call in process {first}")
    bare = res["e2e"].get("bare_vectorbt")
    if bare:
        stages = bare["median_run"]["stages"]
        parts = ", ".join(f"{k} {_s(v)}" for k, v in stages.items())
        console.print(f"  2. bare script stages (median run): {parts}")
        th = res["e2e"]["thunes"]
        console.print(
            f"  2. peak RSS: thunes {th['median_run']['peak_rss_mb']:.0f} MB, "
            f"bare script {bare['median_run']['peak_rss_mb']:.0f} MB"
        )
    if res["breakdown"]["warm"]:
        console.print(breakdown_table(res))
    if res["scaling"]:
        console.print(scaling_table(res))
    if res["strategies"]:
        console.print(strategies.table(res["strategies"]))
        for line in strategies.notes(res["strategies"]):
            console.print(line)
    if res.get("sweeps"):
        console.print(sweeps.table(res["sweeps"]))
    if res.get("live"):
        console.print(live.table(res["live"]))
    before, after = res["load"]["before"], res["load"]["after"]
    console.print(
        f"  load average before {_load(before)}; after {_load(after)}; "
        f"{res['meta']['cpus']} CPUs; waited {res['idle_waited_seconds']:.0f} s for idle; "
        f"the bench took {res['duration_seconds']:.0f} s"
    )
    for name, error in res["errors"].items():
        console.print(f"[red]{name} failed:[/] {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no cold run")
    parser.add_argument(
        "--output", type=Path, default=REPO / "bench-results" / "latest.json", help="JSON path"
    )
    parser.add_argument(
        "--numba-cache",
        type=Path,
        default=Path(os.environ.get("NUMBA_CACHE_DIR", REPO / ".cache" / "numba")),
        help="the warm runs' NUMBA_CACHE_DIR (default: $NUMBA_CACHE_DIR, else .cache/numba)",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=None,
        help="seconds the bench may wait in all for an idle machine (full 60, quick 0)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.idle_wait is not None:
        plan = replace(plan, idle_wait_seconds=args.idle_wait)
    console = Console() if sys.stdout.isatty() else Console(width=120)
    started = time.perf_counter()
    load_before = machine_load()
    info = meta()
    numba_cache = args.numba_cache.resolve()
    with tempfile.TemporaryDirectory(prefix="thunes-bench-") as tmp:
        results = measure(plan, Path(tmp), numba_cache, console)
    results = {
        "meta": {**info, "mode": "quick" if args.quick else "full"},
        "plan": asdict(plan),
        "numba_cache_dir": str(numba_cache),
        **results,
        "load": {"before": load_before, "after": machine_load()},
        "duration_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    report(results, console)
    console.print(f"  results: {args.output}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
