"""Websockets as ccxt.pro uses them on Binance spot.

Market streams: `/ws/<n>` takes {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", ...],
"id": n}, answers {"result": null, "id": n}, then pushes raw events (kline, bookTicker, trade).
WebSocket API: `/ws-api/v3` answers `userDataStream.subscribe.signature` with
{"id", "status": 200, "result": {"subscriptionId": n}} and then pushes the account's
executionReport / outboundAccountPosition events as {"subscriptionId": n, "event": {...}};
it also answers `ping` and the signed `openOrders.status` (GET /api/v3/openOrders' list).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.binance.auth import Credentials
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.faults import Faults
from tests.fakes.binance.market import INTERVAL_MS, SymbolMarket
from tests.fakes.binance.orders import Account

Events = dict[str, list[dict[str, Any]]]
"""Market events by stream name ('btcusdt@trade')."""


class Streams:
    """Open sockets, what each subscribed to, and sending through the fault switches."""

    def __init__(
        self,
        faults: Faults,
        credentials: Credentials,
        account: Account,
        locked: Callable[[], Any],
    ) -> None:
        self._faults, self._credentials, self._locked = faults, credentials, locked
        self._account = account
        self.market: dict[web.WebSocketResponse, set[str]] = {}
        self.users: dict[web.WebSocketResponse, int] = {}
        self._requests: dict[web.WebSocketResponse, web.Request] = {}
        self._next_subscription = 0

    @property
    def subscribed(self) -> set[str]:
        return set().union(*self.market.values()) if self.market else set()

    async def market_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open(request)
        self.market[ws] = set()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            names = set(frame.get("params") or [])
            if frame.get("method") == "SUBSCRIBE":
                self.market[ws] |= names
            elif frame.get("method") == "UNSUBSCRIBE":
                self.market[ws] -= names
            result = (
                sorted(self.market[ws]) if frame.get("method") == "LIST_SUBSCRIPTIONS" else None
            )
            await self._send(ws, {"result": result, "id": frame.get("id")})
        self._forget(ws)
        return ws

    async def api_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = await self._open(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await self._send(ws, self._api_answer(ws, json.loads(message.data)))
        self._forget(ws)
        return ws

    def _api_answer(self, ws: web.WebSocketResponse, frame: Mapping[str, Any]) -> dict[str, Any]:
        method, request_id = frame.get("method"), frame.get("id")
        try:
            if method == "userDataStream.subscribe.signature":
                with self._locked():
                    self._credentials.check_ws(frame.get("params") or {})
                self.users[ws] = self._next_subscription
                self._next_subscription += 1
                result: Any = {"subscriptionId": self.users[ws]}
            elif method == "userDataStream.unsubscribe":
                self.users.pop(ws, None)
                result = {}
            elif method == "ping":
                result = {}
            elif method == "openOrders.status":
                params = frame.get("params") or {}
                with self._locked():
                    self._credentials.check_ws(params)
                    result = self._account.open_orders(params.get("symbol"))
            else:
                raise BinanceApiError(400, -1000, f"Unknown method {method!r}.")
        except BinanceApiError as error:
            with self._locked():
                self._account.stats.errors[error.code] += 1
            return {
                "id": request_id,
                "status": error.status,
                "error": {"code": error.code, "msg": error.msg},
            }
        return {"id": request_id, "status": 200, "result": result}

    async def publish(self, events: Events) -> None:
        for ws, names in list(self.market.items()):
            for name in sorted(names):
                for payload in events.get(name, ()):
                    await self._send(ws, payload)

    async def push_user(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            for ws, subscription in list(self.users.items()):
                await self._send(ws, {"subscriptionId": subscription, "event": event})

    def abort_all(self) -> None:
        """Cut every socket without a close frame, as a dropped connection looks."""
        for request in list(self._requests.values()):
            if request.transport is not None:
                request.transport.abort()

    async def _open(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._requests[ws] = request
        return ws

    def _forget(self, ws: web.WebSocketResponse) -> None:
        self.market.pop(ws, None)
        self.users.pop(ws, None)
        self._requests.pop(ws, None)

    async def _send(self, ws: web.WebSocketResponse, payload: Mapping[str, Any]) -> None:
        if ws.closed or not self._faults.allow_send():
            return
        try:
            await ws.send_str(json.dumps(payload))
        except (ConnectionError, RuntimeError):
            self._forget(ws)


def market_events(
    markets: Mapping[str, SymbolMarket], names: Iterable[str], t0: int, t1: int, serial: int
) -> Events:
    """The events each subscribed stream carries for the market's move from t0 to t1."""
    by_id = {symbol.lower(): market for symbol, market in markets.items()}
    events: Events = {}
    for name in names:
        symbol_id, _, channel = name.partition("@")
        market = by_id.get(symbol_id)
        if market is None:
            continue
        symbol = market.spec.symbol
        if channel == "bookTicker":
            bid, ask = market.book(t1)
            events[name] = [
                {
                    "u": serial,
                    "s": symbol,
                    "b": f"{bid:.8f}",
                    "B": "1.00000000",
                    "a": f"{ask:.8f}",
                    "A": "1.00000000",
                }
            ]
        elif channel == "trade":
            events[name] = [
                {
                    "e": "trade",
                    "E": t1,
                    "s": symbol,
                    "t": serial,
                    "p": f"{market.price(t1):.8f}",
                    "q": "0.01000000",
                    "T": t1,
                    "m": market.price(t1) < market.price(t0),
                    "M": True,
                }
            ]
        elif channel.startswith("kline_") and channel[6:] in INTERVAL_MS:
            events[name] = _klines(market, channel[6:], t0, t1)
    return events


def _klines(market: SymbolMarket, interval: str, t0: int, t1: int) -> list[dict[str, Any]]:
    """The candle that closed since t0 (x = true), if any, then the forming one."""
    step = INTERVAL_MS[interval]
    opens = [t1 // step * step]
    if t0 // step != t1 // step:
        opens.insert(0, opens[0] - step)
    out = []
    for open_ms in opens:
        o, h, lo, c, v = market.candle(interval, open_ms, t1)[1:6]
        out.append(
            {
                "e": "kline",
                "E": t1,
                "s": market.spec.symbol,
                "k": {
                    "t": open_ms,
                    "T": open_ms + step - 1,
                    "s": market.spec.symbol,
                    "i": interval,
                    "f": 0,
                    "L": 0,
                    "o": f"{o:.8f}",
                    "c": f"{c:.8f}",
                    "h": f"{h:.8f}",
                    "l": f"{lo:.8f}",
                    "v": f"{v:.8f}",
                    "n": 1,
                    "x": t1 >= open_ms + step,
                    "q": f"{v * c:.8f}",
                    "V": "0",
                    "Q": "0",
                    "B": "0",
                },
            }
        )
    return out
