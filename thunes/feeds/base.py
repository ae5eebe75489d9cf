"""The seam every market-data source plugs into: the simulator's stream, stored candles and
recorded ticks replayed, and (later) an exchange's websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from thunes.feeds.clock import MarketClock
from thunes.feeds.events import CandleClosed, MarketEvent


class Feed(Protocol):
    """Closed candles (and book ticks) of `symbols` in market-time order, from `clock.start_ms`
    on; the engine groups the candles of one timestamp. A feed advances `clock`."""

    symbols: list[str]
    timeframe: str
    clock: MarketClock

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        """The last `bars` candles closed by the stream's start, oldest first: the warm-up."""
        ...

    def __aiter__(self) -> AsyncIterator[MarketEvent]: ...
