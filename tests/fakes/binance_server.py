"""A Binance-spot stand-in on 127.0.0.1 that the REAL ccxt client talks to.

Responses copy Binance's shapes, HTTP statuses and error bodies ({"code": -1003, "msg": ...}),
so ccxt's own parsing and error mapping are exercised, not mocked. Endpoints are entries of
`FakeBinance.routes`, keyed by (method, path); a handler takes the parsed `Request` and returns
the JSON payload or raises `BinanceApiError`. Later endpoints (orders, -1013 filter failures)
register the same way.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)
INTERVAL_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
KLINES_MAX_LIMIT = 1000


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol's exchangeInfo filters, as Binance's decimal strings."""

    symbol: str
    base: str
    quote: str
    tick_size: str = "0.01000000"
    step_size: str = "0.00001000"
    min_qty: str = "0.00001000"
    min_notional: str = "5.00000000"


DEFAULT_SYMBOLS = (
    SymbolSpec("BTCUSDT", "BTC", "USDT"),
    SymbolSpec("ETHUSDT", "ETH", "USDT", step_size="0.00010000", min_qty="0.00010000"),
)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it, kept in `FakeBinance.requests`."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    status: int = 0


class BinanceApiError(Exception):
    """A Binance error answer: HTTP status plus {"code": ..., "msg": ...}."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg = status, code, msg


Route = Callable[[Request], Any]


class FakeBinance:
    """The server's state (symbols, candles, clock, faults, request log) and its routes."""

    def __init__(self, symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS) -> None:
        self.symbols = {spec.symbol: spec for spec in symbols}
        self.server_time_ms: int | None = None
        """None follows the wall clock; set it to make the last served candle still forming."""
        self.requests: list[Request] = []
        self.routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v3/ping"): lambda request: {},
            ("GET", "/api/v3/time"): lambda request: {"serverTime": self.now_ms()},
            ("GET", "/api/v3/exchangeInfo"): self._exchange_info,
            ("GET", "/api/v3/klines"): self._klines,
        }
        self._candles: dict[tuple[str, str], list[list[float]]] = {}
        self._faults: dict[str, deque[BinanceApiError]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeBinance:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to hand to CcxtExchange(api_url=...)."""
        if self._httpd is None:
            raise RuntimeError("FakeBinance is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls -----------------------------------------------------------------------

    def set_candles(self, symbol: str, interval: str, rows: Iterable[Sequence[float]]) -> None:
        """Serve these [open_ms, o, h, l, c, v] rows (duplicates and gaps served as given)."""
        table = sorted((list(row) for row in rows), key=lambda row: row[0])
        with self._lock:
            self._candles[(symbol, interval)] = table

    def fail_next(self, path: str, times: int, status: int, code: int, msg: str) -> None:
        """The next `times` requests to `path` answer this Binance error instead."""
        with self._lock:
            queue = self._faults.setdefault(path, deque())
            queue.extend(BinanceApiError(status, code, msg) for _ in range(times))

    def rate_limit_next(self, times: int, path: str = "/api/v3/klines") -> None:
        """Binance's real 429 answer to a client over its request-weight limit."""
        self.fail_next(path, times, 429, -1003, RATE_LIMIT_MSG)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def now_ms(self) -> int:
        return self.server_time_ms if self.server_time_ms is not None else int(time.time() * 1000)

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, Any]:
        """(HTTP status, JSON payload) for one request; records it in the log."""
        with self._lock:
            queue = self._faults.get(request.path)
            fault = queue.popleft() if queue else None
        route = self.routes.get((request.method, request.path))
        try:
            if fault is not None:
                raise fault
            if route is None:
                raise BinanceApiError(
                    404, -1000, f"fake Binance: no route {request.method} {request.path}"
                )
            status, payload = 200, route(request)
        except BinanceApiError as error:
            status, payload = error.status, {"code": error.code, "msg": error.msg}
        with self._lock:
            self.requests.append(
                Request(request.method, request.path, request.params, request.headers, status)
            )
        return status, payload

    # -- endpoints ---------------------------------------------------------------------------

    def _exchange_info(self, request: Request) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(spec) for spec in self.symbols.values()],
        }

    def _klines(self, request: Request) -> list[list[Any]]:
        params = request.params
        symbol = params.get("symbol")
        if not symbol:
            raise BinanceApiError(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if symbol not in self.symbols:
            raise BinanceApiError(400, -1121, "Invalid symbol.")
        interval = params.get("interval", "")
        if interval not in INTERVAL_MS:
            raise BinanceApiError(400, -1120, "Invalid interval.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= KLINES_MAX_LIMIT:
            raise BinanceApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start = int(params["startTime"]) if "startTime" in params else None
        end = int(params["endTime"]) if "endTime" in params else None
        now = self.now_ms()
        with self._lock:
            table = self._candles.get((symbol, interval), [])
        rows = [
            row
            for row in table
            if row[0] <= now
            and (start is None or row[0] >= start)
            and (end is None or row[0] <= end)
        ]
        # Binance pages forward from startTime, otherwise it answers the most recent rows.
        rows = rows[:limit] if start is not None else rows[-limit:]
        return [_kline(row, INTERVAL_MS[interval]) for row in rows]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            params.update(parse_qsl(body, keep_blank_values=True))
        request = Request(self.command, parts.path, params, dict(self.headers.items()))
        status, payload = self.server.app.handle(request)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is `FakeBinance.requests`."""


def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """One entry of exchangeInfo['symbols'], shaped like Binance's (2024+) answer."""
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spec.tick_size,
                "maxPrice": "1000000.00000000",
                "tickSize": spec.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.min_qty,
                "maxQty": "9000.00000000",
                "stepSize": spec.step_size,
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": "100.00000000",
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spec.min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _kline(row: Sequence[float], interval_ms: int) -> list[Any]:
    """Binance's 12-field kline: prices and volumes as decimal strings."""
    open_ms, o, h, lo, c, v = row[:6]
    return [
        int(open_ms),
        f"{o:.8f}",
        f"{h:.8f}",
        f"{lo:.8f}",
        f"{c:.8f}",
        f"{v:.8f}",
        int(open_ms) + interval_ms - 1,
        f"{v * c:.8f}",
        100,
        f"{v / 2:.8f}",
        f"{v * c / 2:.8f}",
        "0",
    ]


def make_rows(
    start_ms: int, count: int, step_ms: int, *, skip: Iterable[int] = (), seed: int = 0
) -> list[list[float]]:
    """`count` consistent random-walk candles from `start_ms`; indices in `skip` left out."""
    rng = np.random.default_rng(seed)
    skipped = set(skip)
    rows, close = [], 20_000.0
    for i in range(count):
        open_ = close
        close = round(open_ * (1 + rng.normal(0, 0.01)), 2)
        high = round(max(open_, close) + abs(rng.normal(0, 20)), 2)
        low = round(min(open_, close) - abs(rng.normal(0, 20)), 2)
        if i not in skipped:
            rows.append(
                [
                    float(start_ms + i * step_ms),
                    open_,
                    high,
                    low,
                    close,
                    round(float(rng.uniform(1, 100)), 5),
                ]
            )
    return rows
