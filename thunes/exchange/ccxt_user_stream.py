"""The account's own orders and trades on Binance spot through ccxt.pro, behind the
UserStream seam, on a client of their own (resetting the market stream's must not drop it).

ccxt.pro subscribes Binance spot's user data through the WebSocket API
(`userDataStream.subscribe.signature` on ws-api/v3, signed with the key pair), not a
listenKey. Two of its failures need more than the market stream's sorting:
- a refused subscription (bad key or signature) surfaces as a KeyError: ccxt 4.5.90 deletes
  the subscription twice; the exchange's answer is the KeyError's context, and a refused key
  is fatal, in one line naming where the keys come from;
- -1021 (our clock outside the exchange's recvWindow) is a lost link to ride out, after which
  the next connection measures the exchange's clock again before it signs.
"""

from __future__ import annotations

from thunes.domain.orders import Fill
from thunes.errors import ExchangeError, one_line
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_orders import trade_fill, venue_order
from thunes.exchange.ccxt_stream import ProConnection
from thunes.exchange.stream import StreamLost
from thunes.state.reconcile import VenueOrder


class CcxtUserStream(ProConnection):
    """Own trades and orders of `symbols` on `exchange`'s account (keys required)."""

    def __init__(self, exchange: CcxtExchange, symbols: list[str]) -> None:
        super().__init__(exchange, exchange.private_client)
        self._symbols = set(symbols)
        self._probe_symbol = symbols[0]
        self._resync = False  # a -1021 was answered: measure the clock before signing again

    async def connect(self) -> None:
        client = self._client
        if not client.markets:
            await self._guard(client.load_markets())  # also syncs the clock if so configured
        if self._resync:
            await self._guard(client.load_time_difference())
            self._resync = False
        await self._guard(client.authenticate({"type": "spot"}))  # answered once subscribed

    async def watch_fills(self) -> list[Fill]:
        trades = await self._guard(self._client.watch_my_trades())
        return [
            trade_fill(t, None, str((t.get("info") or {}).get("c") or ""))
            for t in trades
            if t.get("symbol") in self._symbols
        ]

    async def watch_orders(self) -> list[VenueOrder]:
        orders = await self._guard(self._client.watch_orders())
        return [venue_order(o) for o in orders if o.get("symbol") in self._symbols]

    async def probe(self) -> None:
        """The open orders of one symbol, asked over the WebSocket API: the same socket, a
        signed request of weight 6 (Binance's), answered only if the socket still works."""
        await self._guard(self._client.fetch_open_orders_ws(self._probe_symbol))

    def _sorted(self, exc: Exception) -> Exception:
        pro, answer = self._pro, _unmasked(exc, self._pro.BaseError)
        if isinstance(answer, pro.InvalidNonce):
            self._resync = True
            return StreamLost(f"clock outside the exchange's recvWindow: {one_line(answer)}")
        if isinstance(answer, (pro.AuthenticationError, pro.PermissionDenied)):
            name, keys = self._exchange.name, self._exchange.keys_from
            return ExchangeError(
                f"{name} private stream: the key was refused ({one_line(answer)}); check {keys}"
            )
        return super()._sorted(answer)


def _unmasked(exc: Exception, ccxt_error: type[Exception]) -> Exception:
    """The ccxt error a KeyError masks (see the module docstring), else `exc`."""
    context = exc.__context__
    if isinstance(exc, KeyError) and isinstance(context, ccxt_error):
        return context
    return exc
