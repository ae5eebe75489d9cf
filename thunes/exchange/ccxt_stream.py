"""ccxt.pro's market streams behind the MarketStream seam: one client, replaced on reset.

ccxt reconnects only when watched again and cannot revive a socket that went silent, so a
reset closes the client and starts a new one (its markets carried over: no second
exchangeInfo). Errors become the feed's: ExchangeClosedByUser (ours) first, since it
subclasses ExchangeError; a request the exchange will never accept (bad symbol, bad key) is
fatal; anything else is a lost link to ride out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from thunes.errors import ExchangeError, one_line
from thunes.exchange.base import OhlcvRow
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.stream import Quote, StreamClosed, StreamLost

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLOSE_S = 5.0  # the longest wait for an old client to close


class CcxtStream:
    """Market data of `exchange` over one ccxt.pro client (public streams only)."""

    def __init__(self, exchange: CcxtExchange) -> None:
        import ccxt.pro  # lazily, as ccxt_exchange does

        self._pro = ccxt.pro
        self._exchange = exchange
        self._client: Any = exchange.stream_client()
        self._closing: set[asyncio.Task[None]] = set()

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

    async def reset(self) -> None:
        """A new client at once; the old one closes in the background, since a polite close
        of a dead or silent socket can wait for a close frame that never comes."""
        old, self._client = self._client, self._exchange.stream_client()
        if old.markets:
            self._client.set_markets(old.markets, old.currencies)
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
        pro = self._pro
        try:
            return await call
        except pro.ExchangeClosedByUser as exc:
            raise StreamClosed(one_line(exc)) from exc
        except (pro.BadRequest, pro.AuthenticationError, pro.PermissionDenied) as exc:
            raise ExchangeError(f"{self._exchange.name} stream: {one_line(exc)}") from exc
        except (pro.NetworkError, pro.ExchangeError) as exc:
            raise StreamLost(f"{type(exc).__name__}: {one_line(exc)}") from exc
