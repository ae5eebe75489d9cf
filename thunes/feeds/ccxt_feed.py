"""Closed candles (and best bid/ask) from an exchange's websockets, resilient to what a live
socket does: drops, abrupt closes, silent stalls, the exchange's daily cut.

The stream says how far the exchange's clock has got (the newest candle open it shows) and
that the link is alive; the closed candles themselves are read by REST, from the cursor of
the last one delivered up to the candle still forming. ccxt drops Binance's "closed" flag and
a lost message can leave a candle's last update unseen, so a streamed row is never known to be
final; REST's is, and it is the row a backtest downloads. Because every read starts at the
cursor, the back-fill after a reconnect is the same code as an ordinary close: no candle is
missed, none is delivered twice, a forming one never leaves. A restarted run sets the cursor
at the last close it processed (`since_ms`): what closed while it was down is back-filled too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from thunes.domain.timeframes import timeframe_ms
from thunes.exchange.base import Exchange, OhlcvRow
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_stream import CcxtStream
from thunes.exchange.stream import MarketStream
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import BookTicked, CandleClosed, MarketEvent
from thunes.feeds.link import FeedHealth, Link, Resilience

log = logging.getLogger(__name__)

_PAGE = 1000  # candles per REST read (Binance's maximum)
_RETRIES_PER_CLOSE = 5  # re-reads of a close that REST does not show yet


class CcxtFeed:
    """Closed candles of `symbols` from `clock.start_ms` (or `since_ms`, a restart's last
    close) on, and book ticks if `book`, from `stream`; `exchange` (sync REST) serves the
    warm-up history, the candles before that."""

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
        since_ms: int | None = None,
    ) -> None:
        self.symbols, self.timeframe, self.clock = symbols, timeframe, clock
        self.tf = timeframe_ms(timeframe)
        self.book = book
        self.resilience = resilience or Resilience()
        self.health = FeedHealth()
        self._exchange, self._stream = exchange, stream
        self._link = Link(
            stream, self.resilience, self.health, clock.now_ms, "market stream", clock.speed
        )
        # the first candle to deliver: the one closing after the start (or after `since_ms`)
        self._first = (clock.start_ms if since_ms is None else since_ms) // self.tf * self.tf
        self._next = dict.fromkeys(symbols, self._first)  # each symbol's next open to deliver
        self._frontier = self._first  # the newest open the exchange showed: older ones closed

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

    def __aiter__(self) -> AsyncIterator[MarketEvent]:
        return self._link.run(self._session)

    async def _session(self) -> AsyncIterator[MarketEvent]:
        """One connection: back-fill up to the exchange's clock, then every close it shows,
        until it fails (StreamLost) or its planned reconnect is due (returns)."""
        watches: list[Callable[[], Awaitable[int | list[BookTicked]]]] = [
            functools.partial(self._newest_open, symbol) for symbol in self.symbols
        ]
        if self.book:
            watches.append(self._quotes)
        resumed = self.health.reconnects > 0
        async with self._link.watching(watches) as watching:
            server = await self._stream.server_ms()
            self.clock.advance(server)
            self._frontier = max(self._frontier, server // self.tf * self.tf)
            for event in await self._closed():  # closed before the start: a restart's gap
                self.health.backfilled += resumed or event.close_ms <= self.clock.start_ms
                yield event
            retries = 0
            while (item := await watching.next()) is not None:
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

    async def _newest_open(self, symbol: str) -> int:
        rows = await self._stream.watch_candles(symbol, self.timeframe)
        return max(int(row[0]) for row in rows)

    async def _quotes(self) -> list[BookTicked]:
        quotes = await self._stream.watch_book(self.symbols)
        now = self.clock.now_ms()  # received now: a spot book ticker has no exchange time
        return [BookTicked(symbol, now, *quote) for symbol, *quote in quotes]

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
    since_ms: int | None = None,
) -> CcxtFeed:
    """The live feed of `exchange`, its clock starting now on the exchange's. `speed` is how
    fast that clock runs: 1 on a real venue, the market's pace on an accelerated stand-in.
    `since_ms`: a restart's last processed close, from which it back-fills (None: from now)."""
    clock = MarketClock(exchange.milliseconds(), speed)
    stream = CcxtStream(exchange)
    return CcxtFeed(
        exchange,
        stream,
        symbols,
        timeframe,
        clock,
        book=book,
        resilience=resilience,
        since_ms=since_ms,
    )
