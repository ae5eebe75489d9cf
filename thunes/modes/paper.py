"""mode=paper: the live engine on the simulator's stream (or stored candles), with the
backtest's fill rules, on a market clock running `paper.speed` market seconds per second.

Ctrl-C stops it cleanly and prints what is still open; `paper.duration` (market time) stops
it by itself; `paper.once=true` acts on the last closed candle and exits. Never imports
vectorbt: a paper session starts in about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.live import Live

from thunes.components import Components, build
from thunes.data.sources import FileCandleSource, SimCandleSource
from thunes.data.tick_sources import SimTickSource
from thunes.domain.timeframes import timeframe_ms
from thunes.engine.lane import simulated_lanes, simulated_ticks
from thunes.errors import NotBuiltError
from thunes.exchange.sim import SimExchange
from thunes.feeds.base import Feed
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import MarketEvent
from thunes.feeds.recorded import RecordedFeed, candle_events
from thunes.feeds.sim import SimFeed, SimTickFeed
from thunes.live.activity import Activity
from thunes.live.engine import LiveEngine
from thunes.live.view import render, summary
from thunes.risk.engine import RiskEngine
from thunes.strategy.scalper import Scalper

_REFRESH_S = 0.25


def _ms(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)


def feed_for(parts: Components, timeframe: str, start: str | None, speed: float) -> Feed:
    """The market the config names: the simulator's stream (exchange=sim, or data=sim with
    its own seed) or a candle file replayed; a ccxt exchange's websockets are not built yet."""
    symbols = [m.symbol for m in parts.markets]
    if isinstance(parts.data, FileCandleSource):
        sets = [parts.data.load(parts.exchange, m) for m in parts.markets]
        tf = timeframe_ms(timeframe)
        events: dict[str, list[MarketEvent]] = {
            m.symbol: list(candle_events(m.symbol, s.frame, tf))
            for m, s in zip(parts.markets, sets, strict=True)
        }
        first = min(int(s.frame.index[0].value // 1_000_000) for s in sets)
        return RecordedFeed(events, timeframe, MarketClock(_ms(start) if start else first, speed))
    clock = MarketClock(_ms(start) if start else time.time_ns() // 1_000_000, speed)
    if isinstance(parts.data, SimCandleSource):
        return SimFeed(SimExchange(seed=parts.data.seed), symbols, timeframe, clock)
    if isinstance(parts.exchange, SimExchange):
        return SimFeed(parts.exchange, symbols, timeframe, clock)
    raise NotBuiltError(
        f"mode=paper is not built yet for exchange={parts.exchange.name}: it needs the "
        "websocket feed; paper-trade the simulator (exchange=sim) or a file (data=csv)"
    )


def tick_feed(parts: Components, start: str | None, speed: float) -> Feed:
    """The simulator's book ticks (data=sim_ticks) for the scalper."""
    if not isinstance(parts.data, SimTickSource):
        raise NotBuiltError(
            "mode=paper is not built yet for recorded ticks: use data=sim_ticks (the simulator)"
        )
    clock = MarketClock(_ms(start) if start else time.time_ns() // 1_000_000, speed)
    sim = SimExchange(seed=parts.data.seed)
    return SimTickFeed(sim, parts.market.symbol, parts.data.step_ms, clock)


def _engine(
    parts: Components, cfg: DictConfig, feed: Feed, activity: Activity
) -> tuple[LiveEngine, RiskEngine]:
    """The live engine on `feed`: candle lanes, or the scalper's tick engine (whose orders
    its own step sends: the recorder does not hear them)."""
    paper = cfg.paper
    until = None if paper.duration is None else feed.clock.start_ms + _span_ms(paper.duration)
    if isinstance(parts.strategy, Scalper):
        ticks, risk = simulated_ticks(parts)
        return LiveEngine([], feed, until, ticks={parts.market.symbol: ticks}), risk
    empty = [pd.DataFrame() for _ in parts.markets]  # a live lane's candles come from its feed
    run_id = f"p{feed.clock.start_ms // 1000:x}"
    lanes, risk = simulated_lanes(parts, empty, False, run_id)
    return LiveEngine(lanes, feed, until, recorder=activity), risk


def run(cfg: DictConfig) -> None:
    parts = build(cfg)
    paper = cfg.paper
    scalper = isinstance(parts.strategy, Scalper)
    timeframe = "ticks" if scalper else str(cfg.data.timeframe)
    feed = (
        tick_feed(parts, paper.start, float(paper.speed))
        if scalper
        else feed_for(parts, timeframe, paper.start, float(paper.speed))
    )
    console = Console()
    view = bool(paper.view) and console.is_terminal and not paper.once
    activity = Activity(feed.clock, echo=None if view else console.print)
    engine, risk = _engine(parts, cfg, feed, activity)
    title = (
        f"PAPER {', '.join(feed.symbols)} {timeframe} {type(parts.strategy).__name__} "
        f"(speed {paper.speed:g}x; fills simulated by the backtest's rules)"
    )
    if paper.once:
        engine.once()
    elif view:
        with Live(
            render(engine, activity, risk, title), console=console, auto_refresh=False
        ) as live:
            asyncio.run(
                _session(
                    engine, lambda: live.update(render(engine, activity, risk, title), refresh=True)
                )
            )
    else:
        console.print(f"{title}: warming up, then waiting for the next close. Ctrl-C stops.")
        asyncio.run(_session(engine, None))
    for line in summary(engine, activity, risk):
        console.print(line, highlight=False)


def _span_ms(span: str) -> int:
    return int(pd.Timedelta(span).total_seconds() * 1000)


async def _session(engine: LiveEngine, refresh: Callable[[], None] | None) -> None:
    """The engine until it stops, Ctrl-C (SIGINT) or SIGTERM included, and the view
    refreshing beside it."""
    task = asyncio.ensure_future(engine.run())
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop, task.cancel)  # the engine stops cleanly, then summary
    try:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), _REFRESH_S)
            if refresh is not None:
                refresh()
        await task
    finally:
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop)
