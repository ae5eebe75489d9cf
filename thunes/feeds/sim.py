"""The simulator's live stream: its candles released as the market clock passes each close.

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
from thunes.feeds.events import CandleClosed, MarketEvent


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
        while True:
            await self.clock.until(next_open + self.tf)
            due = (self.clock.now_ms() - next_open) // self.tf
            pages = [self.sim.fetch_ohlcv(s, self.timeframe, next_open, due) for s in self.symbols]
            for k in range(max(map(len, pages))):
                for symbol, page in zip(self.symbols, pages, strict=True):
                    if k < len(page):
                        yield self._event(symbol, page[k])
            next_open += due * self.tf

    def _event(self, symbol: str, row: list[float]) -> CandleClosed:
        t = int(row[0])
        return CandleClosed(symbol, t, t + self.tf, *map(float, row[1:6]))
