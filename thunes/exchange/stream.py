"""The seams every exchange's streams plug into (as base.py is for REST): what a live feed may
ask of a market connection or of the account's own, and the two ways a connection ends."""

from __future__ import annotations

from typing import Protocol

from thunes.domain.orders import Fill
from thunes.exchange.base import OhlcvRow
from thunes.state.reconcile import VenueOrder

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


class UserStream(Protocol):
    """The account's own orders and trades on one connection; ccxt.pro's (Binance spot) is
    thunes.exchange.ccxt_user_stream.CcxtUserStream."""

    async def connect(self) -> None:
        """Subscribe on a (new) connection; returns once the exchange has confirmed it."""
        ...

    async def watch_fills(self) -> list[Fill]:
        """The account's trades since the last call, as fills named by client order id."""
        ...

    async def watch_orders(self) -> list[VenueOrder]:
        """The account's orders that changed since the last call."""
        ...

    async def probe(self) -> None:
        """A cheap request over the same connection: whether it still answers."""
        ...

    async def reset(self) -> None: ...

    async def close(self) -> None: ...
