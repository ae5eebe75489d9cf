"""What the rest of THUNES may ask of a venue, in ccxt's unified shapes."""

from __future__ import annotations

from typing import Protocol

from thunes.domain.market import Fees, MarketFilters
from thunes.exchange.latency import RestLatency

OhlcvRow = list[float]
"""[open_time_ms, open, high, low, close, volume], as ccxt's fetch_ohlcv returns."""


class Exchange(Protocol):
    """A venue that serves candles and market filters."""

    name: str
    needs_network: bool
    """False for the simulator: its candles are regenerated, never cached or downloaded."""
    max_candles_per_call: int
    fees: Fees
    slippage: float
    """Assumed adverse price move on a market order, as a fraction (backtest and paper)."""
    latency: RestLatency | None
    """The venue's REST round trips (/health, metrics); None: no network (the simulator)."""

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> list[OhlcvRow]:
        """Candles opening at or after `since_ms`, oldest first, at most `limit` rows."""
        ...

    def milliseconds(self) -> int:
        """The venue's clock, used to recognise a still-forming last candle."""
        ...

    def market_filters(self, symbol: str) -> MarketFilters:
        """The venue's current filters for `symbol`."""
        ...
