"""THUNES's speed and memory, as ratios to bare vectorbt references measured in the same run.

    python -m tests.benchmarks.run            # `make bench`: the full run, ~3 minutes
    python -m tests.benchmarks.run --quick    # a smoke version, under a minute, no cold run

Measures (1) the SMA 10/50 backtest in-process, warm, against the vectorbt calls a user would
write; (2) `thunes mode=backtest` as a warm whole process against a bare vectorbt script;
(3) a cold first-ever run; (4) where the warm run's time goes; (5) time and peak memory at
10k, 100k and 1M bars. Goals are reported as met or missed, never asserted. Everything lands
in bench-results/latest.json, and a rich table is printed.
"""

from __future__ import annotations

import argparse
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks.workers import MARKER

REPO = Path(__file__).resolve().parents[2]
GOAL_INPROCESS = 1.3  # THUNES's in-process path / bare vectorbt calls
GOAL_E2E = 1.1  # `thunes mode=backtest` process / bare vectorbt script process
FREQTRADE_SECONDS = 6.85  # freqtrade's backtest of the same strategy, measured by others
FREQTRADE_NOTE = "measured by others on this machine; NOT measured in this run"
INPROCESS_BARS = 44_000
MAIN_STAGES = ("data", "import_vectorbt", "backtest", "stats", "write", "wait_publish")
SIDECAR_STAGES = ("sidecar_plots", "sidecar_tracking")
OTHER = "other: interpreter start + Hydra compose + exit"
PACKAGES = ("vectorbt", "numba", "numpy", "pandas", "hydra-core", "mlflow")


@dataclass(frozen=True)
class Plan:
    """How many times each thing runs: the full bench or the --quick smoke version."""

    inprocess_warmup: int
    inprocess_repeats: int
    e2e_warmup: int
    e2e_repeats: int
    bare_warmup: int
    bare_repeats: int
    startup_repeats: int
    cold: bool
    scaling: tuple[tuple[int, int], ...]  # (bars, repeats)


FULL = Plan(3, 7, 1, 3, 1, 3, 5, True, ((10_000, 7), (100_000, 5), (1_000_000, 3)))
QUICK = Plan(2, 5, 1, 1, 0, 1, 3, False, ((10_000, 3), (100_000, 3), (1_000_000, 1)))


@dataclass(frozen=True)
class ProcessRun:
    """One whole process: wall seconds, peak RSS of its largest process, exit code, output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


class BenchError(RuntimeError):
    """A measured process failed: the bench records it and carries on."""


# -- processes -------------------------------------------------------------------------------
def run_process(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600.0
) -> ProcessRun:
    """Run `cmd` to completion; wall time from spawn to reap, peak RSS from wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)  # this process only, by its id
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = ProcessRun(
            seconds=seconds,
            peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux; the max over the reaped tree
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{' '.join(cmd)} exited {run.returncode} in {cwd}:\n{tail}")
    return run


def marker_json(stdout: str) -> dict[str, Any]:
    """The `BENCH_JSON {...}` line a worker or the bare script printed."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :]))
    raise BenchError(f"no {MARKER.strip()} line in:\n{stdout[-2000:]}")


def worker(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `python -m tests.benchmarks.workers ARGS` from the repo root; its JSON result."""
    cmd = [sys.executable, "-m", "tests.benchmarks.workers", *args]
    return marker_json(run_process(cmd, REPO, env).stdout)


def thunes_command() -> list[str]:
    script = Path(sys.executable).with_name("thunes")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "thunes"]
    return [*base, "mode=backtest"]


def run_thunes(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """One `thunes mode=backtest` process: wall seconds, peak RSS and its timings.json."""
    before = set(cwd.glob("experiments/backtest/*/*/timings.json"))
    run = run_process(thunes_command(), cwd, env)
    new = sorted(set(cwd.glob("experiments/backtest/*/*/timings.json")) - before)
    if len(new) != 1:
        raise BenchError(f"expected one new timings.json under {cwd}, found {len(new)}")
    timings = json.loads(new[0].read_text())
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "timings": timings}


def run_bare(cwd: Path, data: Path, env: dict[str, str]) -> dict[str, Any]:
    """One bare vectorbt script process: wall seconds, peak RSS, its own stage times."""
    script = Path(__file__).with_name("bare_vectorbt.py")
    run = run_process([sys.executable, str(script), str(data)], cwd, env)
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, **marker_json(run.stdout)}


def repeat(fn: Any, warmup: int, repeats: int) -> dict[str, Any]:
    """Call `fn` warmup times, discard, then `repeats` times; the median run and all of them."""
    warm = [fn() for _ in range(warmup)]
    runs = [fn() for _ in range(repeats)]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {
        "median": statistics.median(r["seconds"] for r in runs),
        "samples": [r["seconds"] for r in runs],
        "median_run": ordered[(len(ordered) - 1) // 2],
        "warmup_seconds": [r["seconds"] for r in warm],
    }


# -- the machine -------------------------------------------------------------------------------
def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy over `seconds`, from /proc/stat (None without /proc)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0)


def machine_load() -> dict[str, Any]:
    return {"loadavg_1_5_15": list(os.getloadavg()), "cpu_busy_1s": cpu_busy()}


def meta() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
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


# -- the five measurements --------------------------------------------------------------------
def goal(value: float, target: float) -> dict[str, Any]:
    return {"ratio": value, "goal": target, "met": value <= target}


def measure_inprocess(plan: Plan, env: dict[str, str]) -> dict[str, Any]:
    args = ["inprocess", f"--bars={INPROCESS_BARS}"]
    args += [f"--warmup={plan.inprocess_warmup}", f"--repeats={plan.inprocess_repeats}"]
    result = worker(args, env)
    return {**result, **goal(result["thunes"]["median"] / result["bare"]["median"], GOAL_INPROCESS)}


def breakdown(run: dict[str, Any]) -> dict[str, Any]:
    """Where one thunes process's wall time went: its stages, then the rest."""
    timings = run["timings"]
    stages = {k: timings[k] for k in MAIN_STAGES if k in timings}
    other = run["seconds"] - sum(stages.values())
    sidecar = {k: timings[k] for k in SIDECAR_STAGES if k in timings}
    unknown = {k: v for k, v in timings.items() if k not in stages and k not in sidecar}
    return {
        "total": run["seconds"],
        "stages": {**stages, **unknown, OTHER: other},
        "sidecar_overlapped": sidecar,
    }


def measure(plan: Plan, tmp: Path, numba_cache: Path, console: Console) -> dict[str, Any]:
    """Run every measurement; a failing one is recorded as an error and the rest go on."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache)}
    warm_dir, cold_dir = tmp / "warm", tmp / "cold"
    warm_dir.mkdir()
    cold_dir.mkdir()
    results: dict[str, Any] = {"errors": {}}

    def section(name: str, what: str, fn: Any) -> None:
        console.log(f"[bold]{name}[/]: {what}")
        try:
            results[name] = fn()
        except BenchError as error:
            console.log(f"[red]{name} failed[/]: {error}")
            results["errors"][name] = str(error)

    bars = save_close(warm_dir / "close.npz")
    section(
        "inprocess",
        f"{INPROCESS_BARS:,} bars, {plan.inprocess_warmup} warm-ups, "
        f"median of {plan.inprocess_repeats}",
        lambda: measure_inprocess(plan, env),
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
        lambda: repeat(
            lambda: run_bare(warm_dir, warm_dir / "close.npz", env),
            plan.bare_warmup,
            plan.bare_repeats,
        ),
    )
    section(
        "python_startup",
        f"`python -c pass`, median of {plan.startup_repeats}",
        lambda: repeat(
            lambda: asdict(run_process([sys.executable, "-c", "pass"], tmp, env)),
            1,
            plan.startup_repeats,
        ),
    )
    if plan.cold:
        cold_env = {**env, "NUMBA_CACHE_DIR": str(cold_dir / ".cache" / "numba")}
        section(
            "cold",
            "`thunes mode=backtest`, fresh cwd and empty NUMBA_CACHE_DIR",
            lambda: run_thunes(cold_dir, cold_env),
        )
    for size, repeats in plan.scaling:
        section(
            f"scale_{size}",
            f"{size:,} bars in a fresh process, median of {repeats}",
            lambda size=size, repeats=repeats: worker(
                ["scale", f"--bars={size}", f"--repeats={repeats}"], env
            ),
        )
    return summarise(results, bars)


def summarise(raw: dict[str, Any], bars: int) -> dict[str, Any]:
    """The JSON document: raw sections plus the ratios, goals and breakdowns derived."""
    out: dict[str, Any] = {"errors": raw.pop("errors")}
    out["inprocess"] = raw.get("inprocess")
    thunes, bare = raw.get("e2e_thunes"), raw.get("e2e_bare")
    e2e: dict[str, Any] = {"bars": bars, "thunes": thunes, "bare_vectorbt": bare}
    if thunes and bare:
        e2e.update(goal(thunes["median"] / bare["median"], GOAL_E2E))
        e2e["freqtrade_reference"] = {
            "seconds": FREQTRADE_SECONDS,
            "note": FREQTRADE_NOTE,
            "thunes_over_freqtrade": thunes["median"] / FREQTRADE_SECONDS,
        }
    out["e2e"] = e2e
    out["python_startup"] = raw.get("python_startup")
    out["cold"] = raw.get("cold")
    out["breakdown"] = {
        "warm": breakdown(thunes["median_run"]) if thunes else None,
        "cold": breakdown(raw["cold"]) if raw.get("cold") else None,
    }
    out["scaling"] = [v for k, v in raw.items() if k.startswith("scale_")]
    return out


# -- the report ----------------------------------------------------------------------------
def _s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _status(section: dict[str, Any] | None) -> str:
    if not section or "met" not in section:
        return "[yellow]n/a[/]"
    return "[green]met[/]" if section["met"] else "[red]MISSED[/]"


def headline_table(res: dict[str, Any]) -> Table:
    table = Table(title="THUNES bench: ratios to references measured in this run")
    for column in ("measurement", "THUNES", "reference", "ratio", "goal", "status"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    ip = res["inprocess"]
    if ip:
        table.add_row(
            f"SMA backtest in-process, {ip['bars']:,} 1h bars, warm, median of {ip['repeats']}\n"
            "  THUNES signals+run+stats+trades vs vbt MA/crossed/from_signals/stats",
            _s(ip["thunes"]["median"]),
            _s(ip["bare"]["median"]) + "\nbare vectorbt",
            f"{ip['ratio']:.2f}x",
            f"<= {GOAL_INPROCESS}x",
            _status(ip),
        )
    e2e = res["e2e"]
    if e2e.get("thunes") and e2e.get("bare_vectorbt"):
        th, bare = e2e["thunes"], e2e["bare_vectorbt"]
        table.add_row(
            f"Warm end-to-end process, {e2e['bars']:,} bars, median of {len(th['samples'])}\n"
            "  `thunes mode=backtest` vs a bare vectorbt script",
            _s(th["median"]),
            _s(bare["median"]) + "\nbare script",
            f"{e2e['ratio']:.2f}x",
            f"<= {GOAL_E2E}x",
            _status(e2e),
        )
        ft = e2e["freqtrade_reference"]
        table.add_row(
            "  freqtrade, same backtest (context only)\n  [italic]NOT measured in this run[/]",
            _s(th["median"]),
            f"{ft['seconds']:.2f} s\nfreqtrade, constant",
            f"{ft['thunes_over_freqtrade']:.2f}x",
            "-",
            "[dim]context[/]",
        )
    if res["cold"]:
        table.add_row(
            "Cold first-ever run: fresh cwd, empty NUMBA_CACHE_DIR\n"
            "  (the OS file cache stays warm)",
            _s(res["cold"]["seconds"]),
            "-",
            "-",
            "-",
            "[dim]info[/]",
        )
    return table


def breakdown_table(res: dict[str, Any]) -> Table:
    warm, cold = res["breakdown"]["warm"], res["breakdown"]["cold"]
    table = Table(title="Where a `thunes mode=backtest` process spends its wall time")
    table.add_column("stage")
    table.add_column("warm (median run)", justify="right")
    table.add_column("% of warm", justify="right")
    if cold:
        table.add_column("cold", justify="right")
    for name, seconds in warm["stages"].items():
        row = [name, _s(seconds), f"{seconds / warm['total']:.0%}"]
        if cold:
            row.append(_s(cold["stages"].get(name)))
        table.add_row(*row)
    total = ["[bold]process total[/]", f"[bold]{_s(warm['total'])}[/]", "100%"]
    table.add_row(*total, *([f"[bold]{_s(cold['total'])}[/]"] if cold else []))
    for name, seconds in warm["sidecar_overlapped"].items():
        row = [f"[dim]{name} (in the sidecar, overlaps)[/]", _s(seconds), ""]
        if cold:
            row.append(_s(cold["sidecar_overlapped"].get(name)))
        table.add_row(*row)
    startup = res.get("python_startup")
    if startup:
        row = ["[dim]reference: `python -c pass`[/]", _s(startup["median"]), ""]
        table.add_row(*row, *([""] if cold else []))
    return table


def scaling_table(res: dict[str, Any]) -> Table:
    table = Table(title="Scaling: THUNES's path (signals+run+stats+trades), fresh process per size")
    for column in (
        "bars",
        "time",
        "us/bar",
        "peak RSS delta",
        "bytes/bar",
        "of which candles",
        "backtest only",
        "trades",
    ):
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


def _load(load: dict[str, Any]) -> str:
    averages = "/".join(f"{x:.2f}" for x in load["loadavg_1_5_15"])
    busy = load["cpu_busy_1s"]
    return averages + ("" if busy is None else f" (cpu {busy:.0%} busy over 1 s)")


def report(res: dict[str, Any], console: Console) -> None:
    console.print(headline_table(res))
    ip = res["inprocess"]
    if ip:
        parts = {
            name: ", ".join(
                f"{k} {_s(v)}" for k, v in ip[name]["stages_median"].items() if k != "total"
            )
            for name in ("thunes", "bare")
        }
        console.print(f"  in-process stages, THUNES: {parts['thunes']}")
        console.print(f"  in-process stages, bare:   {parts['bare']}")
    bare = res["e2e"].get("bare_vectorbt")
    if bare:
        stages = bare["median_run"]["stages"]
        console.print(
            "  bare script stages (median run): "
            + ", ".join(f"{k} {_s(v)}" for k, v in stages.items())
        )
    if res["breakdown"]["warm"]:
        console.print(breakdown_table(res))
    if res["scaling"]:
        console.print(scaling_table(res))
        console.print(
            "  peak RSS delta: over the process after imports and a warm-up run, holding the "
            "candles; 'backtest only' excludes the candles already in memory."
        )
    before, after = res["load"]["before"], res["load"]["after"]
    console.print(
        f"  load average before {_load(before)}, after {_load(after)}, on "
        f"{res['meta']['cpus']} CPUs; the bench took {res['duration_seconds']:.0f} s"
    )
    for name, error in res["errors"].items():
        console.print(f"[red]{name} failed:[/] {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    console = Console()
    started = time.perf_counter()
    load_before = machine_load()
    if (load_before["cpu_busy_1s"] or 0) > 0.25:
        console.log(
            f"[yellow]the machine is {load_before['cpu_busy_1s']:.0%} busy before the bench: "
            "timings will be noisy[/]"
        )
    info = meta()
    with tempfile.TemporaryDirectory(prefix="thunes-bench-") as tmp:
        results = measure(plan, Path(tmp), args.numba_cache.resolve(), console)
    results = {
        "meta": {**info, "mode": "quick" if args.quick else "full"},
        "plan": asdict(plan),
        "numba_cache_dir": str(args.numba_cache.resolve()),
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
