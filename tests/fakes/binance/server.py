"""FakeBinance: the stand-in's HTTP and websocket server on 127.0.0.1, on a thread of its own.

One aiohttp server serves REST (`/api/v3/...`), the market streams (`/ws/<n>`) and the
WebSocket API (`/ws-api/v3`) on one port, from its own event loop, so sync and async tests
alike can use it. A ticker pushes the market's moves every `tick_s` real seconds and fills
resting orders the path traded through; state is guarded by one lock, so a test thread can
change candles, statuses and faults while clients are connected.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.binance.auth import Credentials
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.faults import Faults
from tests.fakes.binance.market import DEFAULT_SYMBOLS, MarketClock, SymbolMarket, SymbolSpec
from tests.fakes.binance.orders import Account, Stats
from tests.fakes.binance.rest import Request, key_routes, routes
from tests.fakes.binance.streams import Streams, market_events

DEFAULT_BALANCES = {"USDT": "10000", "BTC": "0.1", "ETH": "1"}


class FakeBinance:
    """One Binance spot account on an accelerated market; start it, point ccxt at `url`."""

    def __init__(
        self,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        *,
        start_ms: int | None = None,
        speed: float = 1.0,
        seed: int = 0,
        balances: Mapping[str, float | str] = DEFAULT_BALANCES,
        commission: float = 0.001,
        tick_s: float = 0.05,
    ) -> None:
        self.clock = MarketClock(start_ms, speed)
        self.markets = {
            spec.symbol: SymbolMarket(spec, self.clock, seed + i) for i, spec in enumerate(symbols)
        }
        self.account = Account(self.markets, self.clock, balances, commission)
        self.credentials = Credentials()
        self.faults = Faults()
        self.requests: deque[Request] = deque(maxlen=100_000)
        """The latest requests answered, oldest first (bounded for long soaks)."""
        self.routes = routes(self.markets, self.clock, self.account)
        self.routes.update(key_routes(self.credentials))
        self._lock = threading.RLock()
        self.streams = Streams(self.faults, self.credentials, self.account, lambda: self._lock)
        self._tick_s = tick_s
        self._matched_ms = self._streamed_ms = self.clock.now_ms()
        self._serial = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeBinance:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for `exchange.base_url` (REST and, as ws://, the websockets)."""
        if not self._port:
            raise RuntimeError("FakeBinance is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def speed(self) -> float:
        """Market seconds a real second (the clock's): a session's `paper.speed`."""
        return self.clock.speed

    # -- test controls -----------------------------------------------------------------------

    def set_candles(self, symbol: str, interval: str, rows: Iterable[Sequence[float]]) -> None:
        """Serve these [open_ms, o, h, l, c, v] rows (duplicates and gaps served as given)."""
        with self._lock:
            self.markets[symbol].set_candles(interval, rows)

    def set_status(self, symbol: str, status: str) -> None:
        """TRADING, HALT or BREAK: exchangeInfo shows it; new orders get -2010 unless TRADING."""
        with self._lock:
            self.markets[symbol].status = status

    def skew_clock(self, offset_ms: int) -> None:
        """The venue's clock runs `offset_ms` ahead of the host's (behind if negative): signed
        requests are checked against it (-1021 outside the recvWindow) and its market moves
        with it, so a real-time market's GET /api/v3/time shows it, as Binance's does, and a
        client that measures it (ccxt's load_time_difference) signs on it."""
        with self._lock:
            step = offset_ms - self.credentials.clock_offset_ms
            self.credentials.clock_offset_ms = offset_ms
            clock = self.clock
            if clock.pinned_ms is not None:
                clock.pin(clock.pinned_ms + step)
            else:
                clock.run(clock.now_ms() + step, clock.speed)

    def close_sockets(self) -> None:
        """Cut every open websocket abruptly (no close frame)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.streams.abort_all)

    @property
    def stats(self) -> Stats:
        return self.account.stats

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    # -- serving -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self.streams.market_socket)
        app.router.add_get("/ws/{stream}", self.streams.market_socket)
        app.router.add_get("/ws-api/v3", self.streams.api_socket)
        app.router.add_route("*", "/api/{tail:.*}", self._http)
        app.router.add_route("*", "/sapi/{tail:.*}", self._http)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self._port = server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self._tick())

    async def _shutdown(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.streams.abort_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            with self._lock:
                self._match()
                now, last = self.clock.now_ms(), self._streamed_ms
                self._serial += 1
                moved = now > last
                events = (
                    market_events(self.markets, self.streams.subscribed, last, now, self._serial)
                    if moved
                    else {}
                )
                self._streamed_ms = now if moved or now < last else last
            await self.streams.publish(events)
            await self._push_user_events()

    async def _push_user_events(self) -> None:
        with self._lock:
            events, self.account.events = self.account.events, []
        await self.streams.push_user(events)

    def _match(self) -> None:
        now = self.clock.now_ms()
        if now > self._matched_ms:
            self.account.advance(self._matched_ms, now)
        self._matched_ms = now

    async def _http(self, http: web.Request) -> web.Response:
        body = await http.text()
        params = dict(parse_qsl(http.query_string, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        request = Request(
            http.method,
            http.path,
            params,
            dict(http.headers),
            total_params=http.query_string + body,
        )
        status, payload = self.handle(request)
        await self._push_user_events()  # as Binance does, before a poll could see the change
        if isinstance(payload, str):
            return web.Response(text=payload, status=status, content_type="text/html")
        headers = {"Retry-After": str(self.faults.retry_after_s)} if status == 429 else None
        return web.json_response(payload, status=status, headers=headers)

    def handle(self, request: Request) -> tuple[int, Any]:
        """(HTTP status, JSON payload or an HTML page) for one request; records it in the log."""
        fault = self.faults.take_http_fault(request.path)
        with self._lock:
            try:
                if fault is not None:
                    raise fault
                route = self.routes.get((request.method, request.path))
                if route is None:
                    raise BinanceApiError(
                        404, -1000, f"fake Binance: no route {request.method} {request.path}"
                    )
                if route.signed:
                    key = {k.lower(): v for k, v in request.headers.items()}.get("x-mbx-apikey")
                    self.credentials.check_rest(key, request.total_params, request.params)
                self._match()
                status, payload = 200, route.handler(request)
                lost = (
                    self.faults.take_lost_reply()
                    if request.path == "/api/v3/order" and request.method == "POST"
                    else None
                )
                if lost is not None:
                    raise lost
            except BinanceApiError as error:
                status, payload = error.status, error.page or {"code": error.code, "msg": error.msg}
                self.account.stats.errors[error.code] += 1
            self.requests.append(
                Request(request.method, request.path, request.params, request.headers, status)
            )
        return status, payload
