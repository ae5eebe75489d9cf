"""Closed candles (and best bid/ask) from an exchange's websockets, resilient to what a live
socket does: drops, abrupt closes, silent stalls, the exchange's daily cut.

The stream says how far the exchange's clock has got (the newest candle open it shows) and
that the link is alive; the closed candles themselves are read by REST, from the cursor of
the last one delivered up to the candle still forming. ccxt drops Binance's "closed" flag and
a lost message can leave a candle's last update unseen, so a streamed row is never known to be
final; REST's is, and it is the row a backtest downloads. Because every read starts at the
cursor, the back-fill after a reconnect is the same code as an ordinary close: no candle is
missed, none is delivered twice, a forming one never leaves.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from thunes.domain.timeframes import timeframe_ms
from thunes.exchange.base import Exchange, OhlcvRow
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_stream import CcxtStream
from thunes.exchange.stream import MarketStream, StreamClosed, StreamLost
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import BookTicked, CandleClosed, MarketEvent

log = logging.getLogger(__name__)

_PAGE = 1000  # candles per REST read (Binance's maximum)
_RETRIES_PER_CLOSE = 5  # re-reads of a close that REST does not show yet


class StreamStalled(StreamLost):
    """The socket stayed open and went silent: watching again would not revive it."""


@dataclass(frozen=True)
class Resilience:
    """How the feed rides out a failing link.

    `stall_s`: silence that counts as a stall (Binance pushes a kline every ~2 s, trades or
    not); `connect_s`: the wait for a new connection's first message (markets loaded,
    subscribed). Back-off after a failure: `backoff_s` doubling up to `max_backoff_s`, with jitter.
    `reconnect_every_s`: a planned reconnect, before Binance cuts the link at 24 h; counted on
    the host's monotonic clock, or on the market clock (an accelerated market's "day").
    """

    stall_s: float = 30.0
    connect_s: float = 30.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    reconnect_every_s: float = 23 * 3600.0
    reconnect_clock: Literal["market", "monotonic"] = "monotonic"

    def __post_init__(self) -> None:
        for name in ("stall_s", "connect_s", "backoff_s", "max_backoff_s", "reconnect_every_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} should be > 0, is {getattr(self, name)}")
        if self.reconnect_clock not in ("market", "monotonic"):
            raise ValueError(
                f"reconnect_clock should be 'market' or 'monotonic', is {self.reconnect_clock!r}"
            )

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after `failures` in a row: capped exponential, jittered in [½, 1]."""
        cap = min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
        return cap * rng.uniform(0.5, 1.0)


@dataclass
class FeedHealth:
    """What the live view shows about the link; counters only grow."""

    state: Literal["connecting", "connected", "reconnecting", "stalled", "closed"] = "connecting"
    reconnects: int = 0
    stalls: int = 0
    delivered: int = 0
    backfilled: int = 0  # candles read back after a reconnect
    missing: int = 0  # candles the exchange itself does not have (a halt): a visible gap
    last_message_real: float | None = None  # host monotonic time of the last stream message
    last_error: str = ""

    def message_age_s(self) -> float | None:
        if self.last_message_real is None:
            return None
        return time.monotonic() - self.last_message_real

    def describe(self) -> str:
        """One line for the live view: the link's state and what the faults cost."""
        age = self.message_age_s()
        heard = "nothing heard yet" if age is None else f"last message {age:.1f}s ago"
        error = f"; last error: {self.last_error}" if self.last_error else ""
        return (
            f"link {self.state}, {heard}; {self.reconnects} reconnects, {self.stalls} stalls, "
            f"{self.backfilled} back-filled, {self.missing} missing{error}"
        )


class CcxtFeed:
    """Closed candles of `symbols` from `clock.start_ms` on (and book ticks if `book`), from
    `stream`; `exchange` (sync REST) serves the warm-up history."""

    def __init__(
        self,
        exchange: Exchange,
        stream: MarketStream,
        symbols: list[str],
        timeframe: str,
        clock: MarketClock,
        *,
        book: bool = False,
        resilience: Resilience | None = None,
    ) -> None:
        self.symbols, self.timeframe, self.clock = symbols, timeframe, clock
        self.tf = timeframe_ms(timeframe)
        self.book = book
        self.resilience = resilience or Resilience()
        self.health = FeedHealth()
        self._exchange, self._stream = exchange, stream
        self._rng = random.Random()
        self._first = clock.start_ms // self.tf * self.tf  # the first candle closing after start
        self._next = dict.fromkeys(symbols, self._first)  # each symbol's next open to deliver
        self._frontier = self._first  # the newest open the exchange showed: older ones closed
        self._failures = 0

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        rows: list[OhlcvRow] = []
        since = self._first - bars * self.tf
        while since < self._first:
            page = self._exchange.fetch_ohlcv(symbol, self.timeframe, since, min(bars, _PAGE))
            rows += [row for row in page if since <= row[0] < self._first]
            if not page:
                break
            since = int(page[-1][0]) + self.tf
        return [self._event(symbol, row) for row in rows]

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        try:
            while True:
                try:
                    async for event in self._session():
                        yield event
                except StreamLost as lost:
                    await self._recover(lost)
                else:
                    await self._stream.reset()  # the planned reconnect: no back-off
                self.health.reconnects += 1
        finally:
            self.health.state = "closed"
            await self._stream.close()

    async def _recover(self, lost: StreamLost) -> None:
        self._failures += 1
        stalled = isinstance(lost, StreamStalled)
        self.health.stalls += stalled
        self.health.state = "stalled" if stalled else "reconnecting"
        self.health.last_error = str(lost)
        delay = self.resilience.backoff(self._failures, self._rng)
        log.warning("market stream lost (%s); reconnecting in %.2fs", lost, delay)
        await self._stream.reset()
        await asyncio.sleep(delay)

    async def _session(self) -> AsyncIterator[MarketEvent]:
        """One connection: back-fill up to the exchange's clock, then every close it shows,
        until it fails (StreamLost) or its planned reconnect is due (returns)."""
        queue: asyncio.Queue[int | list[BookTicked] | BaseException] = asyncio.Queue()
        watches: list[Callable[[], Awaitable[int | list[BookTicked]]]] = [
            functools.partial(self._newest_open, symbol) for symbol in self.symbols
        ]
        if self.book:
            watches.append(self._quotes)
        pumps = [asyncio.create_task(self._pump(watch, queue)) for watch in watches]
        started = (self.clock.now_ms(), time.monotonic())
        resumed = self.health.reconnects > 0
        try:
            server = await self._stream.server_ms()
            self.clock.advance(server)
            self._frontier = max(self._frontier, server // self.tf * self.tf)
            for event in await self._closed():
                self.health.backfilled += resumed
                yield event
            retries = 0
            while not self._due(*started):
                item = await self._next_item(queue)
                if isinstance(item, BaseException):
                    raise item
                self._alive()
                if isinstance(item, list):
                    for tick in item:
                        yield tick
                    continue
                if item > self._frontier:
                    self._frontier, retries = item, _RETRIES_PER_CLOSE
                    self.clock.advance(item)
                elif not retries or min(self._next.values()) >= self._frontier:
                    continue
                retries -= 1  # REST may show a close a moment after the stream does
                for event in await self._closed():
                    yield event
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps, timeout=1.0)  # a watch deaf to cancelling is left behind

    async def _next_item(
        self, queue: asyncio.Queue[int | list[BookTicked] | BaseException]
    ) -> int | list[BookTicked] | BaseException:
        """The next message or failure; a watchdog over the pumps' own, should one hang."""
        limit = self.resilience.connect_s + self.resilience.stall_s
        try:
            return await asyncio.wait_for(queue.get(), limit)
        except TimeoutError:
            return StreamStalled(f"no message and no failure for {limit:g}s")

    async def _pump(
        self,
        watch: Callable[[], Awaitable[int | list[BookTicked]]],
        queue: asyncio.Queue[int | list[BookTicked] | BaseException],
    ) -> None:
        """Watch until the link fails; a silence longer than `stall_s` is a failure too."""
        wait = self.resilience.connect_s
        while True:
            try:
                queue.put_nowait(await asyncio.wait_for(watch(), wait))
            except TimeoutError:
                queue.put_nowait(StreamStalled(f"silent for {wait:g}s"))
                return
            except StreamClosed:
                return
            except Exception as error:  # StreamLost reconnects; anything else ends the feed
                queue.put_nowait(error)
                return
            wait = self.resilience.stall_s

    async def _newest_open(self, symbol: str) -> int:
        rows = await self._stream.watch_candles(symbol, self.timeframe)
        return max(int(row[0]) for row in rows)

    async def _quotes(self) -> list[BookTicked]:
        quotes = await self._stream.watch_book(self.symbols)
        now = self.clock.now_ms()  # received now: a spot book ticker has no exchange time
        return [BookTicked(symbol, now, *quote) for symbol, *quote in quotes]

    def _alive(self) -> None:
        self._failures = 0
        self.health.state = "connected"
        self.health.last_message_real = time.monotonic()

    def _due(self, market_ms: int, real_s: float) -> bool:
        """Whether this connection's planned reconnect is due."""
        every = self.resilience.reconnect_every_s
        if self.resilience.reconnect_clock == "market":
            return self.clock.now_ms() - market_ms >= every * 1000
        return time.monotonic() - real_s >= every

    async def _closed(self) -> list[CandleClosed]:
        """Every candle before the frontier not delivered yet, read by REST (all symbols before
        any is delivered, so that a failed read delivers nothing), in market-time order."""
        found: dict[tuple[int, int], CandleClosed] = {}
        for n, symbol in enumerate(self.symbols):
            since = self._next[symbol]
            while since < self._frontier:
                limit = min(_PAGE, (self._frontier - since) // self.tf)
                rows = await self._stream.fetch_candles(symbol, self.timeframe, since, limit)
                closed = [row for row in rows if since <= row[0] < self._frontier]
                if not closed:
                    break
                found |= {(int(row[0]), n): self._event(symbol, row) for row in closed}
                since = int(closed[-1][0]) + self.tf
        return [self._deliver(found[key]) for key in sorted(found)]

    def _deliver(self, candle: CandleClosed) -> CandleClosed:
        expected = self._next[candle.symbol]
        if candle.time_ms > expected:
            missing = (candle.time_ms - expected) // self.tf
            self.health.missing += missing
            log.warning("%s: the exchange has no candle for %d step(s)", candle.symbol, missing)
        self._next[candle.symbol] = candle.time_ms + self.tf
        self.clock.advance(candle.close_ms)
        self.health.delivered += 1
        return candle

    def _event(self, symbol: str, row: OhlcvRow) -> CandleClosed:
        t = int(row[0])
        return CandleClosed(symbol, t, t + self.tf, *map(float, row[1:6]))


def open_feed(
    exchange: CcxtExchange,
    symbols: list[str],
    timeframe: str,
    *,
    book: bool = False,
    resilience: Resilience | None = None,
    speed: float = 1.0,
) -> CcxtFeed:
    """The live feed of `exchange`, starting now on its clock. `speed` is how fast that clock
    runs: 1 on a real venue, the market's pace on an accelerated stand-in."""
    clock = MarketClock(exchange.milliseconds(), speed)
    stream = CcxtStream(exchange)
    return CcxtFeed(exchange, stream, symbols, timeframe, clock, book=book, resilience=resilience)
