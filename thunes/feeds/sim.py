"""The simulator's live streams: its candles released as the market clock passes each close,
and its book ticks as it passes each tick's time.

The simulator's candles are a deterministic function of the seed, so candles "from the future"
exist; the feed lends the simulator its market clock, so that the simulator itself serves only
what has closed by market time, however fast that clock runs against the wall clock.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator

from thunes.domain.timeframes import timeframe_ms
from thunes.exchange.sim import SimExchange
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import BookTicked, CandleClosed, MarketEvent


class SimFeed:
    """Closed candles of `symbols` from `exchange`'s seeded market, from `clock.start_ms` on."""

    def __init__(
        self, exchange: SimExchange, symbols: list[str], timeframe: str, clock: MarketClock
    ) -> None:
        self.symbols, self.timeframe, self.clock = symbols, timeframe, clock
        self.tf = timeframe_ms(timeframe)
        self.sim = copy.copy(exchange)  # shares the generated paths, not the clock
        self.sim.clock = clock.now_ms

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        start = self.clock.start_ms
        since = max(self.sim.origin_ms, start - (bars + 1) * self.tf)
        rows = self.sim.fetch_ohlcv(symbol, self.timeframe, since, bars + 2)
        closed = [self._event(symbol, row) for row in rows if row[0] + self.tf <= start]
        return closed[-bars:] if bars else []

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        anchor = self.history(self.symbols[0], 1)  # the candle grid, from the last close
        next_open = anchor[-1].close_ms if anchor else self.sim.origin_ms
        ahead = copy.copy(self.sim)  # reads a page ahead; the clock still gates each candle
        page = 1 if self.clock.speed else 1024  # as fast as it can: fetch in pages
        while True:
            horizon = max(self.clock.now_ms(), next_open + page * self.tf)
            ahead.clock = lambda: horizon  # noqa: B023 (used before the next pass)
            due = (horizon - next_open) // self.tf
            rows = [
                (row[0], n, symbol, row)
                for n, symbol in enumerate(self.symbols)
                for row in ahead.fetch_ohlcv(symbol, self.timeframe, next_open, due)
            ]
            for _, _, symbol, row in sorted(rows, key=lambda r: (r[0], r[1])):
                event = self._event(symbol, row)
                await self.clock.until(event.close_ms)  # released once closed, not before
                yield event
            next_open += due * self.tf

    def _event(self, symbol: str, row: list[float]) -> CandleClosed:
        t = int(row[0])
        return CandleClosed(symbol, t, t + self.tf, *map(float, row[1:6]))


class SimTickFeed:
    """The simulator's best bid/ask of one symbol every `step_ms`, each released once its
    time has passed on the market clock; no candles, so no warm-up."""

    def __init__(
        self, exchange: SimExchange, symbol: str, step_ms: int, clock: MarketClock
    ) -> None:
        self.symbols, self.timeframe, self.clock = [symbol], "1h", clock
        self.step_ms = step_ms
        self.sim = copy.copy(exchange)

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        return []

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        import pandas as pd  # the simulator's ticks come as a frame

        symbol, step = self.symbols[0], self.step_ms
        since = -(-self.clock.start_ms // step) * step
        page = 600 if self.clock.speed else 36_000  # a minute of ticks, or an hour
        while True:
            horizon = since + page * step
            self.sim.clock = lambda: horizon  # noqa: B023 (used before the next pass)
            batch = self.sim.book_ticks(symbol, since, page, step)
            times = pd.DatetimeIndex(batch.index).as_unit("ms").asi8.tolist()
            quotes = batch[["bid", "bid_size", "ask", "ask_size"]].to_numpy().tolist()
            for t, (bid, bid_size, ask, ask_size) in zip(times, quotes, strict=True):
                await self.clock.until(t)  # released once its time has come, not before
                yield BookTicked(symbol, t, bid, bid_size, ask, ask_size)
            since = horizon
