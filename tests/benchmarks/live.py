"""The bench's LIVE section: the live engine at paper.speed=0, against the bare strategy.

    python -m tests.benchmarks.live --bars 44000 --ticks 200000   # a fresh process, as run.py

Two streams, each replayed at speed 0 through the same measurement (`engine_run`):
SMA 10/50 (default risk) on sim 1h candles, through the kernel; the scalper
(strategy=scalper) on the simulator's book ticks (data=sim_ticks), through the tick engine.
- latency: timed per event from the moment the feed hands it over to the moment the engine
  asks for the next: the engine's grouping, fills, the strategy's decision, the risk check
  and order preparation in the broker (median and p99 over every event, and over the
  events that sent an order);
- throughput: events per second of the same whole run (feed, clock and engine), untimed;
  both after a run that lets numba load its compiled rules (once per process);
- bare: the strategy alone on the same input in the same process (`SmaCross.decide` on
  the same rolling windows, `Scalper.on_tick` on the same ticks): the ratios say what the
  engine adds;
- first event: `thunes mode=paper paper.once=true` as a whole process, from its spawn to the
  moment the engine has processed its first close (start, compose, warm-up, the close), and
  to its exit (median of 5, and best), and the process's CPU time; on the default 1m
  candles and on 1h ones.
Goals (reported, never asserted): median < 100 us, p99 < 1 ms, >= 50,000 events/s, first
event < 2 s warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
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
    """The engine's recorder: counts the orders sent; a tick engine's checkpoints too."""

    def __init__(self) -> None:
        self.sent = [0]

    def sending(self, symbol: str, command: Any) -> None:
        self.sent[0] += 1

    def filled(self, fill: Any) -> None:
        pass

    def event(self, symbol: str, event: Any) -> None:
        pass

    def stepped(self, close_ms: int) -> None:
        pass


@dataclass
class Case:
    """One strategy on its stream: the events, a fresh engine on a feed of them, and the
    bare strategy's calls on the same events (their times, in ns)."""

    title: str
    events: dict[str, list[Any]]
    start_ms: int  # the market clock's start: the events after it are the stream
    engine: Callable[[Any, _Count], Any]  # (feed, recorder) -> LiveEngine
    bare: Callable[[], list[int]]


def sma_case(bars: int) -> Case:
    """SMA 10/50 (default risk) on sim 1h candles; bare: `SmaCross.decide` on the same
    rolling windows."""
    from tests.config.compose import composed
    from thunes.components import build
    from thunes.engine.lane import simulated_lanes
    from thunes.feeds.recorded import candle_events
    from thunes.live.engine import LiveEngine
    from thunes.strategy.base import Strategy

    with composed("data=sim", "data.since=2020-01-01", "data.until=null") as cfg:
        parts = build(cfg)
    frame = parts.data.load(parts.exchange, parts.market).frame.iloc[:bars]
    symbol, strategy = parts.market.symbol, parts.strategy
    assert isinstance(strategy, Strategy)

    def engine(feed: Any, count: _Count) -> Any:
        lanes, _ = simulated_lanes(parts, [frame], whole_history=False)
        return LiveEngine(lanes, feed, recorder=count)

    def bare() -> list[int]:
        window = strategy.warmup
        columns = {name: frame[name].to_numpy("float64") for name in frame.columns}
        decide, clock, spent = strategy.decide, time.perf_counter_ns, []
        decide({k: v[:window] for k, v in columns.items()})  # numba loads the indicator
        for i in range(len(frame)):
            view = {k: v[max(0, i + 1 - window) : i + 1] for k, v in columns.items()}
            t0 = clock()
            decide(view)
            spent.append(clock() - t0)
        return spent

    return Case(
        f"SMA 10/50 on {len(frame):,} sim 1h candles",
        {symbol: candle_events(symbol, frame, 3_600_000)},
        int(frame.index[0].value // 1_000_000),
        engine,
        bare,
    )


def scalper_case(ticks: int) -> Case:
    """strategy=scalper on the simulator's book ticks (data=sim_ticks), through the tick
    engine; bare: `Scalper.on_tick` on the same ticks."""
    from tests.config.compose import composed
    from thunes.components import build
    from thunes.domain.ticks import BookTick
    from thunes.engine.lane import simulated_ticks
    from thunes.feeds.recorded import tick_events
    from thunes.live.engine import LiveEngine

    with composed("strategy=scalper", f"data.ticks={ticks}") as cfg:
        parts = build(cfg)
    frame = parts.data.load(parts.exchange, parts.market).frame
    symbol = parts.market.symbol
    events = tick_events(symbol, frame)

    def engine(feed: Any, count: _Count) -> Any:
        ticked, _ = simulated_ticks(parts)
        ticked.recorder = count
        return LiveEngine([], feed, ticks={symbol: ticked})

    def bare() -> list[int]:
        ticked, _ = simulated_ticks(parts)  # a fresh strategy, and an account to read
        on_tick, broker, clock, spent = (
            ticked.strategy.on_tick,
            ticked.broker,
            time.perf_counter_ns,
            [],
        )
        quotes = [BookTick(e.time_ms, e.bid, e.bid_size, e.ask, e.ask_size) for e in events]
        for quote in quotes:
            t0 = clock()
            on_tick(quote, broker)
            spent.append(clock() - t0)
        return spent

    return Case(
        f"scalper on {len(frame):,} sim book ticks",
        {symbol: events},
        events[0].at_ms - 1,
        engine,
        bare,
    )


def _engine(case: Case, timed: bool) -> tuple[Any, Any, _Count]:
    from thunes.feeds.clock import MarketClock
    from thunes.feeds.recorded import RecordedFeed

    count = _Count()
    feed: Any = RecordedFeed(case.events, "1h", MarketClock(case.start_ms, speed=0))
    if timed:
        feed = _Timed(feed, count.sent)
    return case.engine(feed, count), feed, count


def engine_run(case: Case) -> Json:
    """The case's engine run three times in this process: to let numba load its compiled
    rules (once per process), untimed (the throughput), timed per event (the latency);
    then the bare strategy."""
    warm, _, _ = _engine(case, timed=False)
    asyncio.run(warm.run())
    fresh, _, _ = _engine(case, timed=False)
    start = time.perf_counter()
    asyncio.run(fresh.run())
    seconds = time.perf_counter() - start
    engine, feed, count = _engine(case, timed=True)
    asyncio.run(engine.run())
    bare = case.bare()
    n = len(bare)
    bare_seconds = sum(bare) / 1e9  # the calls alone, not the loop building their input
    every, ordering, calls = _quantiles(feed.all), _quantiles(feed.ordering), _quantiles(bare)
    return {
        "title": case.title,
        "events": n,
        "orders_sent": count.sent[0],
        "latency_every_event": every,
        "latency_events_that_ordered": ordering,
        "bare_strategy": calls,
        "events_per_s": n / seconds,
        "bare_calls_per_s": n / bare_seconds,
        "latency_ratio": every["median_us"] / calls["median_us"],
        "throughput_ratio": (n / bare_seconds) / (n / seconds),
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


def _once(extra: list[str], env: dict[str, str]) -> tuple[float, float, float, bool]:
    """(seconds to the first processed event, to the exit, CPU seconds of the whole process,
    vectorbt imported) of one `thunes mode=paper paper.once=true` process, on an account of
    its own (a state left by another run would be resumed, or refused for another config)."""
    from tests.benchmarks.run import marker_json, run_process  # run imports this module

    with tempfile.TemporaryDirectory(prefix="thunes-bench-state-") as state:
        cmd = [sys.executable, "-c", _PROBE, "mode=paper", "paper.once=true", f"state.dir={state}"]
        spawned = time.time()
        run = run_process([*cmd, *extra], REPO, env)
    probe = marker_json(run.stdout)
    return probe["first"] - spawned, run.seconds, run.cpu_seconds, probe["vectorbt"]


def first_event(repeats: int) -> Json:
    """`thunes mode=paper paper.once=true` processes, warm: from the spawn to the first
    event processed (median, the goal's figure, and best: a busy machine only slows a
    start), to the exit, and the process's CPU time (best: what the start costs)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out: Json = {}
    for name, extra in (("default_1m", []), ("1h", ["data.timeframe=1h"])):
        _once(extra, env)  # warm-up
        runs = [_once(extra, env) for _ in range(repeats)]
        out[name] = {
            "median_s": statistics.median(r[0] for r in runs),
            "best_s": min(r[0] for r in runs),
            "process_median_s": statistics.median(r[1] for r in runs),
            "process_best_cpu_s": min(r[2] for r in runs),
            "imported_vectorbt": any(r[3] for r in runs),
        }
    return out


def measure(bars: int, ticks: int, repeats: int) -> Json:
    engines = {"sma_cross": engine_run(sma_case(bars)), "scalper": engine_run(scalper_case(ticks))}
    result = {"engines": engines, "first_event": first_event(repeats)}
    goals = {}
    for name, e in engines.items():
        goals[f"{name}_median_us"] = [e["latency_every_event"]["median_us"], GOAL_MEDIAN_US]
        goals[f"{name}_p99_us"] = [e["latency_every_event"]["p99_us"], GOAL_P99_US]
        goals[f"{name}_events_per_s"] = [e["events_per_s"], GOAL_EVENTS_S]
    goals["first_event_s"] = [result["first_event"]["default_1m"]["median_s"], GOAL_FIRST_S]
    result["goals"] = goals
    return result


def table(res: Json) -> Any:
    from rich.table import Table

    t = Table(title="8. Live engine at paper.speed=0, and `thunes mode=paper` to its first event")
    for column in ("measure", "figure", "bare strategy (same run)", "goal", ""):
        t.add_column(column)

    def row(name: str, value: float, ref: str, target: float, lower: bool = True) -> None:
        met = value <= target if lower else value >= target
        goal = f"{'<' if lower else '>='} {target:g}"
        t.add_row(name, f"{value:,.1f}", ref, goal, "met" if met else "[red]missed[/]")

    for e in res["engines"].values():
        every, ordered, bare = (
            e["latency_every_event"],
            e["latency_events_that_ordered"],
            e["bare_strategy"],
        )
        t.add_section()
        t.add_row(f"[bold]{e['title']}[/] ({e['orders_sent']:,} orders sent)")
        ratio = f"x{e['latency_ratio']:.1f}"
        row(
            "  event -> intent median (us)",
            every["median_us"],
            f"{bare['median_us']:.1f} ({ratio})",
            GOAL_MEDIAN_US,
        )
        row("  event -> intent p99 (us)", every["p99_us"], f"{bare['p99_us']:.1f}", GOAL_P99_US)
        ordered_median, ordered_p99 = ordered["median_us"] or 0, ordered["p99_us"] or 0
        row("  events that sent an order: median (us)", ordered_median, "-", GOAL_MEDIAN_US)
        row("  events that sent an order: p99 (us)", ordered_p99, "-", GOAL_P99_US)
        row(
            "  events per second",
            e["events_per_s"],
            f"{e['bare_calls_per_s']:,.0f}/s (x{e['throughput_ratio']:.1f})",
            GOAL_EVENTS_S,
            lower=False,
        )
    t.add_section()
    for name, run in res["first_event"].items():
        whole = (
            f"best {run['best_s']:.2f} s; process {run['process_median_s']:.2f} s, "
            f"CPU {run['process_best_cpu_s']:.2f} s"
        )
        row(f"thunes mode=paper, {name}: first event (s)", run["median_s"], whole, GOAL_FIRST_S)
    return t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=44_000)
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(MARKER + json.dumps(measure(args.bars, args.ticks, args.repeats)))


if __name__ == "__main__":
    main()
