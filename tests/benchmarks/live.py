"""The bench's LIVE section: the live engine at paper.speed=0, against the bare strategy.

    python -m tests.benchmarks.live --bars 44000     # one fresh process, as run.py runs it

- latency: SMA 10/50 (default risk) over sim 1h candles replayed as a stream at speed 0,
  timed per event from the moment the feed hands it over to the moment the engine asks for
  the next: the engine's grouping, the kernel's fills and decision, the strategy, the risk
  check and order preparation in the broker (median and p99 over every event, and over the
  events that sent an order);
- throughput: events per second of the same whole run (feed, clock and engine), untimed;
  both after a run that lets numba load its compiled rules (once per process);
- bare: `SmaCross.decide` on the same rolling windows in the same process, the strategy
  alone: the ratios say what the engine adds;
- first event: `thunes mode=paper paper.once=true` as a whole process, from its spawn to the
  moment the engine has processed its first close (start, compose, warm-up, the close), and
  to its exit; on the default 1m candles and on 1h ones.
Goals (reported, never asserted): median < 100 us, p99 < 1 ms, >= 50,000 events/s, first
event < 2 s warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks.workers import MARKER

MODULE = "tests.benchmarks.live"
REPO = Path(__file__).resolve().parents[2]
GOAL_MEDIAN_US, GOAL_P99_US, GOAL_EVENTS_S, GOAL_FIRST_S = 100.0, 1000.0, 50_000.0, 2.0
Json = dict[str, Any]


def _quantiles(ns: list[int]) -> Json:
    us = np.asarray(ns, dtype=np.float64) / 1000
    return {
        "n": len(us),
        "median_us": float(np.median(us)) if len(us) else None,
        "p99_us": float(np.percentile(us, 99)) if len(us) else None,
    }


class _Timed:
    """A feed wrapper: how long the engine spends on each event it is handed."""

    def __init__(self, feed: Any, sent: list[int]) -> None:
        self.feed, self.sent = feed, sent
        self.symbols, self.timeframe, self.clock = feed.symbols, feed.timeframe, feed.clock
        self.all: list[int] = []
        self.ordering: list[int] = []

    def history(self, symbol: str, bars: int) -> Any:
        return self.feed.history(symbol, bars)

    async def __aiter__(self) -> AsyncIterator[Any]:
        clock = time.perf_counter_ns
        async for event in self.feed:
            before, t0 = self.sent[0], clock()
            yield event
            spent = clock() - t0
            self.all.append(spent)
            if self.sent[0] != before:
                self.ordering.append(spent)


class _Count:
    def __init__(self) -> None:
        self.sent = [0]

    def sending(self, symbol: str, command: Any) -> None:
        self.sent[0] += 1

    def filled(self, fill: Any) -> None:
        pass

    def event(self, symbol: str, event: Any) -> None:
        pass


def _engine(bars: int, timed: bool) -> tuple[Any, Any, Any]:
    from tests.config.compose import composed
    from thunes.components import build
    from thunes.engine.lane import simulated_lanes
    from thunes.feeds.clock import MarketClock
    from thunes.feeds.recorded import RecordedFeed, candle_events
    from thunes.live.engine import LiveEngine

    with composed("data=sim", "data.since=2020-01-01", "data.until=null") as cfg:
        parts = build(cfg)
    frame = parts.data.load(parts.exchange, parts.market).frame.iloc[:bars]
    symbol = parts.market.symbol
    events = {symbol: list(candle_events(symbol, frame, 3_600_000))}
    clock = MarketClock(int(frame.index[0].value // 1_000_000), speed=0)
    lanes, _ = simulated_lanes(parts, [frame], whole_history=False)
    count = _Count()
    feed: Any = RecordedFeed(events, "1h", clock)
    if timed:
        feed = _Timed(feed, count.sent)
    return LiveEngine(lanes, feed, recorder=count), feed, (parts, frame, count)


def engine_run(bars: int) -> Json:
    warm, _, _ = _engine(bars, timed=False)
    asyncio.run(warm.run())  # numba loads its compiled rules, once per process
    fresh, _, (parts, frame, _) = _engine(bars, timed=False)  # untimed: the throughput
    start = time.perf_counter()
    asyncio.run(fresh.run())
    seconds = time.perf_counter() - start
    engine, feed, (_, _, count) = _engine(bars, timed=True)
    asyncio.run(engine.run())
    window = parts.strategy.warmup
    close = frame["close"].to_numpy("float64")
    columns = {name: frame[name].to_numpy("float64") for name in frame.columns}
    bare: list[int] = []
    decide, clock = parts.strategy.decide, time.perf_counter_ns
    decide({k: v[:window] for k, v in columns.items()})  # numba loads the indicator's code
    for i in range(len(close)):
        view = {k: v[max(0, i + 1 - window) : i + 1] for k, v in columns.items()}
        t0 = clock()
        decide(view)
        bare.append(clock() - t0)
    bare_seconds = sum(bare) / 1e9  # the calls alone, not the loop building the windows
    every, ordering, calls = _quantiles(feed.all), _quantiles(feed.ordering), _quantiles(bare)
    return {
        "bars": len(close),
        "orders_sent": count.sent[0],
        "latency_every_event": every,
        "latency_events_that_ordered": ordering,
        "bare_decide": calls,
        "events_per_s": len(close) / seconds,
        "bare_calls_per_s": len(close) / bare_seconds,
        "latency_ratio": every["median_us"] / calls["median_us"],
        "throughput_ratio": (len(close) / bare_seconds) / (len(close) / seconds),
    }


_PROBE = """
import json, sys, time
from thunes.live import engine
first = []
step = engine.LiveEngine._step
def timed(self, arrivals):
    step(self, arrivals)
    if not first:
        first.append(time.time())
engine.LiveEngine._step = timed
sys.argv = ["thunes", *sys.argv[1:]]
from thunes import cli
try:
    cli.main()
except SystemExit:
    pass
print("MARKER" + json.dumps({"first": first[0], "vectorbt": "vectorbt" in sys.modules}))
""".replace("MARKER", MARKER)


def _once(extra: list[str], env: dict[str, str]) -> tuple[float, float, bool]:
    """(seconds to the first processed event, to the exit, vectorbt imported) of one
    `thunes mode=paper paper.once=true` process, on an account of its own (a state left by
    another run would be resumed, or refused for another config)."""
    with tempfile.TemporaryDirectory(prefix="thunes-bench-state-") as state:
        cmd = [sys.executable, "-c", _PROBE, "mode=paper", "paper.once=true", f"state.dir={state}"]
        spawned, start = time.time(), time.perf_counter()
        out = subprocess.run(
            [*cmd, *extra], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        whole = time.perf_counter() - start
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith(MARKER))
    probe = json.loads(line[len(MARKER) :])
    return probe["first"] - spawned, whole, probe["vectorbt"]


def first_event(repeats: int) -> Json:
    """`thunes mode=paper paper.once=true` processes, warm: from the spawn to the first
    event processed, and to the exit (medians)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out: Json = {}
    for name, extra in (("default_1m", []), ("1h", ["data.timeframe=1h"])):
        _once(extra, env)  # warm-up
        runs = [_once(extra, env) for _ in range(repeats)]
        out[name] = {
            "median_s": statistics.median(r[0] for r in runs),
            "process_median_s": statistics.median(r[1] for r in runs),
            "imported_vectorbt": any(r[2] for r in runs),
        }
    return out


def measure(bars: int, repeats: int) -> Json:
    result = {"engine": engine_run(bars), "first_event": first_event(repeats)}
    e, f = result["engine"], result["first_event"]
    result["goals"] = {
        "median_us": [e["latency_every_event"]["median_us"], GOAL_MEDIAN_US],
        "p99_us": [e["latency_every_event"]["p99_us"], GOAL_P99_US],
        "events_per_s": [e["events_per_s"], GOAL_EVENTS_S],
        "first_event_s": [f["default_1m"]["median_s"], GOAL_FIRST_S],
    }
    return result


def table(res: Json) -> Any:
    from rich.table import Table

    e, f = res["engine"], res["first_event"]
    t = Table(title=f"8. Live engine at paper.speed=0: SMA 10/50 on {e['bars']:,} sim 1h candles")
    for column in ("measure", "figure", "bare strategy (same run)", "goal", ""):
        t.add_column(column)
    every, ordered, bare = (
        e["latency_every_event"],
        e["latency_events_that_ordered"],
        e["bare_decide"],
    )

    def row(name: str, value: float, ref: str, target: float, lower: bool = True) -> None:
        met = value <= target if lower else value >= target
        goal = f"{'<' if lower else '>='} {target:g}"
        t.add_row(name, f"{value:,.1f}", ref, goal, "met" if met else "[red]missed[/]")

    ratio = f"x{e['latency_ratio']:.1f}"
    row(
        "event -> intent median (us)",
        every["median_us"],
        f"{bare['median_us']:.1f} ({ratio})",
        GOAL_MEDIAN_US,
    )
    row("event -> intent p99 (us)", every["p99_us"], f"{bare['p99_us']:.1f}", GOAL_P99_US)
    row("  events that sent an order: median (us)", ordered["median_us"] or 0, "-", GOAL_MEDIAN_US)
    row("  events that sent an order: p99 (us)", ordered["p99_us"] or 0, "-", GOAL_P99_US)
    row(
        "events per second",
        e["events_per_s"],
        f"{e['bare_calls_per_s']:,.0f}/s (x{e['throughput_ratio']:.1f})",
        GOAL_EVENTS_S,
        lower=False,
    )
    for name, run in f.items():
        whole = f"process {run['process_median_s']:.2f} s"
        row(f"thunes mode=paper, {name}: first event (s)", run["median_s"], whole, GOAL_FIRST_S)
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=44_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(MARKER + json.dumps(measure(args.bars, args.repeats)))


if __name__ == "__main__":
    main()
