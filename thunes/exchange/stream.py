"""The seam every exchange's market streams plug into (as base.py is for REST): what a live
feed may ask of a connection, and the two ways a connection ends."""

from __future__ import annotations

from typing import Protocol

from thunes.exchange.base import OhlcvRow

Quote = tuple[str, float, float, float, float]
"""(symbol, bid, bid size, ask, ask size): a spot book ticker carries no exchange time."""


class StreamLost(Exception):
    """The socket, or a REST call behind the stream, failed: reconnect, then back-fill."""


class StreamClosed(Exception):
    """We closed the connection ourselves: not a fault."""


class MarketStream(Protocol):
    """One connection for market data; ccxt.pro's is thunes.exchange.ccxt_stream.CcxtStream."""

    async def watch_candles(self, symbol: str, timeframe: str) -> list[OhlcvRow]:
        """The candles updated since the last call (the forming one among them)."""
        ...

    async def watch_book(self, symbols: list[str]) -> list[Quote]: ...

    async def fetch_candles(
        self, symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> list[OhlcvRow]: ...

    async def server_ms(self) -> int:
        """The exchange's clock."""
        ...

    async def reset(self) -> None:
        """Drop this connection: the next call opens a new one and subscribes again."""
        ...

    async def close(self) -> None: ...
