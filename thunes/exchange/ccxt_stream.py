"""ccxt.pro's market streams behind the MarketStream seam: one client, replaced on reset.

ccxt reconnects only when watched again and cannot revive a socket that went silent, so a
reset closes the client and starts a new one (its markets and clock offset carried over: no
second exchangeInfo). Errors become the feed's: ExchangeClosedByUser (ours) first, since it
subclasses ExchangeError; a request the exchange will never accept (bad symbol, bad key) is
fatal; anything else is a lost link to ride out. `ProConnection` is that client life, shared
with the account's own stream (ccxt_user_stream.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from thunes.errors import ExchangeError, one_line
from thunes.exchange.base import OhlcvRow
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.stream import Quote, StreamClosed, StreamLost

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLOSE_S = 5.0  # the longest wait for an old client to close


class ProConnection:
    """One ccxt.pro client of `exchange` at a time (`new_client` makes them), replaced on
    reset, its failures sorted for the feeds (`_sorted`)."""

    def __init__(self, exchange: CcxtExchange, new_client: Callable[[], Any]) -> None:
        import ccxt.pro  # lazily, as ccxt_exchange does

        self._pro = ccxt.pro
        self._exchange, self._new_client = exchange, new_client
        self._client: Any = new_client()
        self._closing: set[asyncio.Task[None]] = set()

    async def reset(self) -> None:
        """A new client at once; the old one closes in the background, since a polite close
        of a dead or silent socket can wait for a close frame that never comes."""
        old, self._client = self._client, self._new_client()
        if old.markets:
            self._client.set_markets(old.markets, old.currencies)
        if "timeDifference" in old.options:  # the exchange's clock, as last measured
            self._client.options["timeDifference"] = old.options["timeDifference"]
        closing = asyncio.create_task(self._close(old))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        await asyncio.gather(self._close(self._client), *self._closing)

    async def _close(self, client: Any) -> None:
        try:
            await asyncio.wait_for(client.close(), _CLOSE_S)
        except (TimeoutError, self._pro.BaseError) as exc:  # the link is gone either way
            log.info("closing a stream client: %s", one_line(exc))

    async def _guard(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except Exception as exc:
            sorted_ = self._sorted(exc)
            if sorted_ is exc:
                raise
            raise sorted_ from exc

    def _sorted(self, exc: Exception) -> Exception:
        """What a failed call means to the feed: StreamClosed (ours), ExchangeError (never
        accepted: fatal), StreamLost (ride it out), or `exc` itself (not ccxt's: a bug)."""
        pro = self._pro
        if isinstance(exc, pro.ExchangeClosedByUser):
            return StreamClosed(one_line(exc))
        if isinstance(exc, (pro.BadRequest, pro.AuthenticationError, pro.PermissionDenied)):
            return ExchangeError(f"{self._exchange.name} stream: {one_line(exc)}")
        if isinstance(exc, (pro.NetworkError, pro.ExchangeError)):
            return StreamLost(f"{type(exc).__name__}: {one_line(exc)}")
        return exc


class CcxtStream(ProConnection):
    """Market data of `exchange` over one ccxt.pro client (public streams only)."""

    def __init__(self, exchange: CcxtExchange) -> None:
        super().__init__(exchange, exchange.stream_client)

    async def watch_candles(self, symbol: str, timeframe: str) -> list[OhlcvRow]:
        rows = await self._guard(self._client.watch_ohlcv(symbol, timeframe))
        return [list(row) for row in rows]

    async def watch_book(self, symbols: list[str]) -> list[Quote]:
        tickers = await self._guard(self._client.watch_bids_asks(symbols))
        return [
            (
                symbol,
                float(t["bid"]),
                float(t.get("bidVolume") or 0.0),
                float(t["ask"]),
                float(t.get("askVolume") or 0.0),
            )
            for symbol, t in tickers.items()
        ]

    async def fetch_candles(
        self, symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> list[OhlcvRow]:
        rows = await self._guard(self._client.fetch_ohlcv(symbol, timeframe, since_ms, limit))
        return [list(row) for row in rows]

    async def server_ms(self) -> int:
        if self._client.has.get("fetchTime"):
            return int(await self._guard(self._client.fetch_time()))
        return int(self._client.milliseconds())
