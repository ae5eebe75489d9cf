"""What a feed delivers: past-tense market events stamped with the exchange's time (ms).

A candle is an event only once closed: `close_ms` has passed on the market clock. A
forming candle never leaves a feed, so no strategy can act on a bar the backtest never saw.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CandleClosed:
    """One closed candle of `symbol`: opened at `time_ms`, closed at `close_ms`."""

    symbol: str
    time_ms: int
    close_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    @property
    def at_ms(self) -> int:
        """When the market knew it: its close."""
        return self.close_ms


@dataclass(frozen=True, slots=True)
class BookTicked:
    """The best bid and ask of `symbol` at `time_ms` (sizes in base units)."""

    symbol: str
    time_ms: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float

    @property
    def at_ms(self) -> int:
        return self.time_ms


MarketEvent = CandleClosed | BookTicked
