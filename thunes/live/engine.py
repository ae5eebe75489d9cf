"""The live engine: a feed's closed candles through the replay kernel, on market time.

Only the feed, the clock and the broker differ from replay: each timestamp's candles go
through `Kernel.step` (fills at the open, decisions at the close, one wallet), and the
intents through the same risk and order preparation, inside the broker. Orders decided at a
close leave at that candle's close, which is the next candle's open: the same time replay
gives them, except after a gap in the candles, where replay (which knows the next bar) stamps
them with the open after the gap, and the risk rules see that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from thunes.domain.orders import Command, Fill, OrderEvent
from thunes.domain.ticks import BookTick
from thunes.domain.timeframes import DAY_MS, timeframe_ms
from thunes.engine.kernel import Arrival, Kernel, Recorder
from thunes.engine.lane import Lane
from thunes.engine.tick_engine import TickEngine
from thunes.execution.broker import Broker
from thunes.feeds.base import Feed
from thunes.feeds.events import BookTicked, CandleClosed

QUIET_S = 30.0
"""Real seconds of a silent feed after which a session past its end stops without the
closes still due (a stalled feed's watchdog allows as much: Resilience.stall_s)."""


class Stopped(Enum):
    DURATION = "paper.duration reached"
    FEED_ENDED = "the feed ended"
    ONCE = "acted on the last closed candle (paper.once)"
    INTERRUPTED = "interrupted"


@dataclass
class Health:
    """What the view says about the feed: is data arriving, how late, how much."""

    events: int = 0
    steps: int = 0
    last_event_ms: int | None = None  # market time of the last event
    last_real: float | None = None  # host monotonic time it arrived (staleness only)


class Observer(Recorder, Protocol):
    """Told what the kernel records (after the recorder wrote it) and each step (after the
    engine's `stepped`): the alerts, the drift watch, the operator's tap."""

    def stepped(self, close_ms: int) -> None: ...


class _Told:
    """The kernel's recorder: the session's own first (the state file writes before anyone
    acts on it), then each observer in the order they came."""

    def __init__(self, first: Recorder | None, observers: list[Observer]) -> None:
        self.first, self.observers = first, observers

    def _all(self) -> list[Recorder]:
        return ([] if self.first is None else [self.first]) + list(self.observers)

    def sending(self, symbol: str, command: Command) -> None:
        for recorder in self._all():
            recorder.sending(symbol, command)

    def filled(self, fill: Fill) -> None:
        for recorder in self._all():
            recorder.filled(fill)

    def event(self, symbol: str, event: OrderEvent) -> None:
        for recorder in self._all():
            recorder.event(symbol, event)


class LiveEngine:
    """Runs `lanes` (one per symbol, in the configured order) on `feed` until the feed ends,
    `until_ms` (market time) passes, or the task is cancelled."""

    def __init__(
        self,
        lanes: list[Lane],
        feed: Feed,
        until_ms: int | None = None,
        recorder: Recorder | None = None,
        ticks: dict[str, TickEngine] | None = None,
        stepped: Callable[[int], None] | None = None,
    ) -> None:
        """`ticks`: a tick engine per symbol whose book ticks it trades (the scalper);
        `stepped(close_ms)`: told after each step of candles (the state's checkpoint)."""
        self.lanes, self.feed, self.until_ms = lanes, feed, until_ms
        self.stepped = stepped
        self.ticks = ticks or {}
        self.bids: dict[str, float] = {}
        self.kernel = Kernel(lanes, recorder=recorder)
        self.lane_of = {lane.symbol: j for j, lane in enumerate(lanes)}
        self.health = Health()
        self.day, self.day_open_equity = -1, float("nan")
        self.stopped: Stopped | None = None
        self.observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        """Tell `observer` every order, order event and fill the kernel records, and every
        step, after the session's own recorder and step callback."""
        if not self.observers:
            self.kernel.recorder = _Told(self.kernel.recorder, self.observers)
        self.observers.append(observer)

    @property
    def now_ms(self) -> int:
        return self.feed.clock.now_ms()

    @property
    def equity(self) -> float:
        """The account's equity at each symbol's last price (close, or bid on ticks): read
        when someone looks, not at every event (NaN before any price)."""
        for symbol, engine in self.ticks.items():  # a tick engine trades alone
            return engine.broker.equity(self.bids.get(symbol, math.nan))
        return self.kernel.equity()

    @property
    def pnl_today(self) -> float:
        return self.equity - self.day_open_equity

    def warm_up(self, extra: int = 0) -> list[list[CandleClosed]]:
        """Each lane's window filled from the feed's history before the first live candle,
        so the strategy acts on the first close; `extra` bars more are returned unwarmed."""
        pending = []
        for j, lane in enumerate(self.lanes):
            history = self.feed.history(lane.symbol, lane.strategy.warmup + extra)
            cut = len(history) - extra if extra else len(history)
            self.kernel.warm(j, history[:cut])
            pending.append(history[cut:])
        self.day_open_equity = self.kernel.equity()
        return pending

    async def run(self) -> Stopped:
        """Until the feed ends or `until_ms` passes; a cancellation stops it cleanly."""
        self.warm_up()
        consume = asyncio.ensure_future(self._consume())
        try:
            if self.until_ms is not None and self.feed.clock.speed > 0:  # no event may come
                deadline = asyncio.ensure_future(self._deadline(self.until_ms))
                await asyncio.wait([consume, deadline], return_when=asyncio.FIRST_COMPLETED)
                for task in (consume, deadline):
                    task.cancel()
            self.stopped = await consume
        except asyncio.CancelledError:  # Ctrl-C: what already arrived is acted on first
            consume.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consume
            self.stopped = Stopped.INTERRUPTED
        return self.stopped

    @property
    def stopped_ms(self) -> int:
        """Market time it stopped at (or now): at most `until_ms`."""
        now = self.now_ms
        return now if self.until_ms is None else min(now, self.until_ms)

    async def _deadline(self, until_ms: int) -> None:
        """Wait in real time for the market clock to pass `until_ms`, without moving it; then,
        on candles, until the last close due by then is stepped or the feed has been silent
        for `QUIET_S`: closes that come late (a loaded machine, a back-fill after a restart
        or a reconnect) are stepped, not dropped, and a dead feed still ends the session."""
        clock, health, real = self.feed.clock, self.health, time.monotonic
        while (ahead := until_ms - clock.now_ms()) > 0:
            await asyncio.sleep(min(ahead / 1000 / clock.speed, 0.5))
        if not self.lanes:  # book ticks only: no close is due
            return
        tf = timeframe_ms(self.feed.timeframe)
        due, passed = until_ms // tf * tf, real()
        while (health.last_event_ms or 0) < due:
            silent = real() - max(passed, health.last_real or passed)
            if silent >= QUIET_S:
                return
            await asyncio.sleep(min(QUIET_S - silent, 0.1))

    def once(self) -> Stopped:
        """Act on the last closed candle of each symbol, then stop (its orders stay open)."""
        last = self.warm_up(extra=1)
        arrivals = [(j, bars[-1], bars[-1].close_ms) for j, bars in enumerate(last) if bars]
        if arrivals:
            self._step(arrivals)
        self.stopped = Stopped.ONCE
        return self.stopped

    async def _consume(self) -> Stopped:
        group: dict[int, CandleClosed] = {}
        try:
            return await self._events(group)
        except asyncio.CancelledError:
            self._flush(group)  # what arrived before the stop is acted on
            if self.until_ms is not None and self.now_ms >= self.until_ms:
                return Stopped.DURATION
            raise

    async def _events(self, group: dict[int, CandleClosed]) -> Stopped:
        until, health, lane_of, lanes = self.until_ms, self.health, self.lane_of, len(self.lanes)
        real = time.monotonic
        async for event in self.feed:
            at_ms = event.at_ms
            if until is not None and at_ms > until:
                break
            health.events += 1  # seen, in place: a call per event costs the engine
            health.last_event_ms, health.last_real = at_ms, real()
            if isinstance(event, BookTicked):
                self._tick(event)
                continue
            j = lane_of[event.symbol]
            if not group and lanes == 1:  # one symbol: each candle is a step of its own
                self._step([(j, event, at_ms)])
                continue
            if group and next(iter(group.values())).time_ms != event.time_ms:
                self._flush(group)  # a symbol without this candle: it had a gap
            group[j] = event
            if len(group) == lanes:
                self._flush(group)
        else:
            self._flush(group)
            return Stopped.FEED_ENDED
        self._flush(group)
        return Stopped.DURATION

    def books(self) -> list[tuple[str, Broker, float]]:
        """Each symbol traded, its broker and its last price (close, or bid on ticks)."""
        candles = zip(self.lanes, self.kernel.last_close, strict=True)
        books = [(lane.symbol, lane.broker, close) for lane, close in candles]
        return books + [(s, e.broker, self.bids.get(s, math.nan)) for s, e in self.ticks.items()]

    def _tick(self, event: BookTicked) -> None:
        """A book tick to the tick engine trading its symbol (its own per-event step)."""
        engine = self.ticks.get(event.symbol)
        if engine is None:
            return
        at_ms = event.time_ms
        opening = at_ms // DAY_MS != self.day and self._open_day(at_ms)
        engine.on_tick(BookTick(at_ms, event.bid, event.bid_size, event.ask, event.ask_size))
        self.bids[event.symbol] = event.bid
        if opening:
            self._opened_day()
        self.health.steps += 1

    def _flush(self, group: dict[int, CandleClosed]) -> None:
        if group:
            self._step([(j, group[j], group[j].close_ms) for j in sorted(group)])
            group.clear()

    def _step(self, arrivals: Sequence[Arrival]) -> None:
        at_ms = arrivals[0][1].close_ms
        opening = at_ms // DAY_MS != self.day and self._open_day(at_ms)
        self.kernel.step(arrivals)
        if opening:
            self._opened_day()
        self.health.steps += 1
        if self.stepped is not None:
            self.stepped(at_ms)
        for observer in self.observers:
            observer.stepped(at_ms)

    def _open_day(self, at_ms: int) -> bool:
        """A step at `at_ms` opens a new day (market time, UTC, as the risk engine counts
        it): its opening equity for the day's PnL is the account's before the step, the
        last day's closing one."""
        self.day, self.day_open_equity = at_ms // DAY_MS, self.equity
        return True

    def _opened_day(self) -> None:
        """After a step that opened a day: with no price before it, the day opens at the
        step's equity."""
        if self.day_open_equity != self.day_open_equity:
            self.day_open_equity = self.equity
