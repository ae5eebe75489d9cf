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
from dataclasses import replace
from functools import partial
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.live import Live

from thunes import ops
from thunes.components import Components, build
from thunes.data.sources import FileCandleSource, SimCandleSource
from thunes.domain.timeframes import span_ms, timeframe_ms, utc_minute, utc_ms
from thunes.engine.exchange_broker import BrokerLimits
from thunes.engine.lane import simulated_lanes, simulated_ticks
from thunes.engine.sim_broker import SimBroker
from thunes.engine.venue_check import VenueCheck
from thunes.errors import ConfigError, NotBuiltError
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.sim import SimExchange
from thunes.execution.filters import ExchangeFilters
from thunes.feeds.base import Feed
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import MarketEvent
from thunes.feeds.sim import SimFeed, SimTickFeed
from thunes.live.activity import Activity
from thunes.live.alerts import notifying
from thunes.live.engine import LiveEngine
from thunes.live.persist import PaperState
from thunes.live.view import render, summary
from thunes.state.account import Account
from thunes.state.jobs import Jobs
from thunes.state.lock import AccountLock
from thunes.state.store import StateStore
from thunes.strategy.scalper import Scalper

_REFRESH_S = 0.25


Start = str | int | None
"""paper.start as configured, or (a resumed run) the market time in ms its last step reached."""


def _clock(start: Start, speed: float, default_ms: int | None = None) -> MarketClock:
    """A market clock from paper.start, else `default_ms`, else now on the host's clock (the
    only time it is read: where a simulated market begins)."""
    if isinstance(start, int):
        default_ms = start
    elif start is not None:
        default_ms = utc_ms(start)
    return MarketClock(time.time_ns() // 1_000_000 if default_ms is None else default_ms, speed)


def feed_for(parts: Components, timeframe: str, start: Start, speed: float) -> Feed:
    """The market the config names: the simulator's stream (exchange=sim, or data=sim with
    its own seed), a candle file replayed, or a ccxt exchange's websockets (from now, or a
    restart from its last close: what closed while it was down is back-filled by REST)."""
    symbols = [m.symbol for m in parts.markets]
    if isinstance(parts.data, FileCandleSource):
        from thunes.feeds.recorded import RecordedFeed, candle_events  # pandas: a file's

        sets = [parts.data.load(parts.exchange, m) for m in parts.markets]
        tf = timeframe_ms(timeframe)
        events: dict[str, list[MarketEvent]] = {
            m.symbol: list(candle_events(m.symbol, s.frame, tf))
            for m, s in zip(parts.markets, sets, strict=True)
        }
        first = min(int(s.frame.index[0].value // 1_000_000) for s in sets)
        return RecordedFeed(events, timeframe, _clock(start, speed, first))
    clock = _clock(start, speed)
    if isinstance(parts.data, SimCandleSource):
        return SimFeed(SimExchange(seed=parts.data.seed), symbols, timeframe, clock)
    if isinstance(parts.exchange, SimExchange):
        return SimFeed(parts.exchange, symbols, timeframe, clock)
    if not isinstance(parts.exchange, CcxtExchange):
        raise ConfigError("exchange: paper trading needs the simulator or a ccxt exchange")
    if speed <= 0:
        raise ConfigError(
            f"paper.speed: {speed:g} (as fast as possible) needs a simulated or stored market; "
            f"exchange={parts.exchange.name} runs at its own pace (1, or a stand-in's speed)"
        )
    from thunes.feeds.ccxt_feed import open_feed  # ccxt.pro: only for a real venue

    resumed = start if isinstance(start, int) else None  # paper.start: the simulator's only
    return open_feed(parts.exchange, symbols, timeframe, speed=speed, since_ms=resumed)


def on_venue(parts: Components) -> tuple[Components, list[VenueCheck | None]]:
    """Paper on a ccxt exchange's live markets (filters=exchange): the exchange's filters
    replace the YAML snapshot, and each symbol's simulated broker refuses what the venue's
    raw filters would (engine/venue_check.py), on its prices read with no key. A simulated
    or stored market keeps the snapshot and has no venue to ask; filters=none, none."""
    exchange = parts.exchange
    live = not isinstance(parts.data, FileCandleSource | SimCandleSource)
    filtered = isinstance(parts.filters, ExchangeFilters)
    if not (live and filtered and isinstance(exchange, CcxtExchange)):
        return parts, [None for _ in parts.markets]
    limits = BrokerLimits()
    checks: list[VenueCheck | None] = [
        VenueCheck(
            exchange.venue_filters(m.symbol),
            partial(exchange.book, m.symbol),
            limits.edge,
            limits.stop_limit_offset,
        )
        for m in parts.markets
    ]
    markets = [replace(m, filters=exchange.market_filters(m.symbol)) for m in parts.markets]
    return replace(parts, markets=markets), checks


def markets_job(parts: Components, brokers: list[SimBroker], every_s: float) -> Jobs | None:
    """Paper on a ccxt venue (`on_venue`): its markets read again every `every_s`
    (live.markets_every_s), by the venue session's job mechanism (never two at once), and
    handed to each symbol's simulated broker: its raw filters and status to the venue
    check, its tick, step and minimums to order preparation (the venue's are the truth).
    The read runs off the loop, the hand-over between two steps. None: no venue to read."""
    exchange = parts.exchange
    watched = [(m.symbol, b) for m, b in zip(parts.markets, brokers, strict=True) if b.venue_check]
    if not watched or not isinstance(exchange, CcxtExchange):
        return None

    async def markets() -> None:
        await asyncio.to_thread(exchange.refresh_markets)
        for symbol, broker in watched:  # from what was just read
            assert broker.venue_check is not None
            broker.venue_check.filters = exchange.venue_filters(symbol)
            broker.rules(exchange.market_filters(symbol))

    jobs = Jobs()
    jobs.every("markets", every_s, markets)
    return jobs


def tick_feed(parts: Components, start: Start, speed: float) -> Feed:
    """The simulator's book ticks (data=sim_ticks) for the scalper."""
    from thunes.data.tick_sources import SimTickSource  # pandas: the ticks come as a frame

    if not isinstance(parts.data, SimTickSource):
        raise NotBuiltError(
            "mode=paper is not built yet for recorded ticks: use data=sim_ticks (the simulator)"
        )
    sim = SimExchange(seed=parts.data.seed)
    return SimTickFeed(sim, parts.market.symbol, parts.data.step_ms, _clock(start, speed))


def run(cfg: DictConfig) -> None:
    """Under the account's lock, on its state file: a second process on the same account
    refuses to start, and a restart resumes where the last one stopped (or was killed)."""
    parts = build(cfg)
    account = Account.of(parts.exchange.name, str(cfg.state.account), "paper", None)
    directory = Path(str(cfg.state.dir))
    with AccountLock(directory, account), notifying(parts.notifier):
        store = StateStore.open(directory, account, durable=bool(cfg.state.durable))
        try:
            _run(cfg, parts, store)
        finally:
            store.close()


def _run(cfg: DictConfig, parts: Components, store: StateStore) -> None:
    paper = cfg.paper
    scalper = isinstance(parts.strategy, Scalper)
    timeframe = "ticks" if scalper else str(cfg.data.timeframe)
    state = PaperState(store, _what(cfg, parts, timeframe))
    last = state.last_ms
    # resumed: after its last close (its last tick); paper.once acts on the last close as of
    # paper.start
    start: Start = paper.start if last is None or paper.once else last + int(scalper)
    speed = float(paper.speed)
    feed = tick_feed(parts, start, speed) if scalper else feed_for(parts, timeframe, start, speed)
    first = state.started_ms
    started = feed.clock.start_ms if first is None else first
    until = None if paper.duration is None else started + span_ms(paper.duration)
    console = Console()
    view = bool(paper.view) and console.is_terminal and not paper.once
    activity = Activity(feed.clock, echo=None if view else console.print, then=state)
    run_id = state.run_id or f"p{started // 1000:x}"
    jobs = None
    if scalper:  # the tick engine records its orders and fills, checkpoints each minute
        ticks, risk = simulated_ticks(parts, run_id)
        engine = LiveEngine([], feed, until, ticks={parts.market.symbol: ticks})
        resumed = state.attach_ticks(ticks, risk, run_id, started, feed.clock.now_ms)
    else:
        parts, checks = on_venue(parts)
        lanes, risk = simulated_lanes(parts, [None for _ in parts.markets], False, run_id)
        brokers = []
        for lane, check in zip(lanes, checks, strict=True):
            assert isinstance(lane.broker, SimBroker)
            lane.broker.venue_check = check
            brokers.append(lane.broker)
        jobs = markets_job(parts, brokers, float(cfg.live.markets_every_s))
        engine = LiveEngine(lanes, feed, until, recorder=activity, stepped=state.stepped)
        resumed = state.attach(lanes, risk, engine.kernel, run_id, started, feed.clock.now_ms)
    if resumed:
        console.print(f"paper: resuming {store.path} after market {utc_minute(last or 0)} UTC")
    ops.attach(engine, risk, parts, cfg, store.path)  # alerts, drift, metrics, logs, API
    title = (
        f"PAPER {', '.join(feed.symbols)} {timeframe} {type(parts.strategy).__name__} "
        f"(speed {paper.speed:g}x; fills simulated by the backtest's rules)"
    )
    if paper.once and last is not None and feed.clock.start_ms <= last:
        console.print(f"paper.once: the last close ({utc_minute(last)} UTC) was acted on already")
    elif paper.once:
        engine.once()
    elif view:
        with Live(
            render(engine, activity, risk, title), console=console, auto_refresh=False
        ) as live:
            asyncio.run(
                _session(
                    engine,
                    lambda: live.update(render(engine, activity, risk, title), refresh=True),
                    jobs,
                )
            )
    else:
        console.print(f"{title}: warming up, then waiting for the next close. Ctrl-C stops.")
        asyncio.run(_session(engine, None, jobs))
    for ticked in engine.ticks.values():  # what the last minute's ticks did, too
        if ticked.last_ms is not None:
            state.stepped(ticked.last_ms)
    state.flush()  # the last step's checkpoint, if a quiet step left it for later
    for line in summary(engine, activity, risk):
        console.print(line, highlight=False)
    console.print(f"state saved in {store.path}: the next start resumes it", highlight=False)


def _what(cfg: DictConfig, parts: Components, timeframe: str) -> str:
    """The strategy, its parameters, symbols and timeframe: what a state file resumes."""
    params = OmegaConf.to_container(cfg.strategy, resolve=True)
    assert isinstance(params, dict)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()) if not str(k).startswith("_"))
    symbols = ",".join(m.symbol for m in parts.markets)
    return f"{type(parts.strategy).__name__}({shown}) on {symbols} {timeframe}"


async def _session(
    engine: LiveEngine, refresh: Callable[[], None] | None, jobs: Jobs | None = None
) -> None:
    """The engine until it stops, Ctrl-C (SIGINT) or SIGTERM included, and the view
    refreshing and the `jobs` running beside it."""
    task = asyncio.ensure_future(engine.run())
    loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop, task.cancel)  # the engine stops cleanly, then summary
    if jobs is not None:
        jobs.start()
    try:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), _REFRESH_S)
            if refresh is not None:
                refresh()
        await task
    finally:
        if jobs is not None:
            jobs.shutdown()
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(stop)
