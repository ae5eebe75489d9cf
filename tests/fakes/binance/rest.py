"""Binance's spot REST endpoints, keyed by (method, path); each handler returns the JSON payload."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.binance import errors
from tests.fakes.binance.auth import Credentials
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.market import INTERVAL_MS, MarketClock, SymbolMarket, symbol_info
from tests.fakes.binance.orders import Account

KLINES_MAX_LIMIT = 1000
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


@dataclass(frozen=True)
class Request:
    """One request as the server saw it, kept in `FakeBinance.requests`."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    status: int = 0
    total_params: str = field(default="", repr=False)
    """The query string then the body, as signed."""


Handler = Callable[[Request], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    signed: bool = False


def routes(
    markets: Mapping[str, SymbolMarket], clock: MarketClock, account: Account
) -> dict[tuple[str, str], Route]:
    """Every endpoint the stand-in serves."""

    def exchange_info(request: Request) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": clock.now_ms(),
            "rateLimits": RATE_LIMITS,
            "exchangeFilters": [],
            "symbols": [symbol_info(m.spec, m.status) for m in markets.values()],
        }

    def klines(request: Request) -> list[list[Any]]:
        params = request.params
        market = account.market(params.get("symbol"))
        interval = params.get("interval", "")
        if interval not in INTERVAL_MS:
            raise BinanceApiError(400, -1120, "Invalid interval.")
        limit = int(params.get("limit", 500))
        if not 1 <= limit <= KLINES_MAX_LIMIT:
            raise BinanceApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
        start = int(params["startTime"]) if "startTime" in params else None
        end = int(params["endTime"]) if "endTime" in params else None
        return market.klines(interval, clock.now_ms(), start, end, limit)

    def book_ticker(request: Request) -> Any:
        symbols = request.params.get("symbols")
        names = [request.params["symbol"]] if "symbol" in request.params else None
        chosen = json.loads(symbols) if symbols else names or list(markets)
        tickers = []
        for name in chosen:
            bid, ask = account.market(name).book(clock.now_ms())
            tickers.append(
                {
                    "symbol": name,
                    "bidPrice": f"{bid:.8f}",
                    "bidQty": "1.00000000",
                    "askPrice": f"{ask:.8f}",
                    "askQty": "1.00000000",
                }
            )
        return tickers[0] if names else tickers

    def avg_price(request: Request) -> dict[str, Any]:
        market = account.market(request.params.get("symbol"))
        now = clock.now_ms()
        return {
            "mins": market.spec.avg_price_mins,
            "price": f"{market.avg_price(now):.8f}",
            "closeTime": now,
        }

    def query_order(request: Request) -> dict[str, Any]:
        return account.find(request.params, errors.NO_SUCH_ORDER).as_json()

    return {
        ("GET", "/api/v3/ping"): Route(lambda request: {}),
        ("GET", "/api/v3/time"): Route(lambda request: {"serverTime": clock.now_ms()}),
        ("GET", "/api/v3/exchangeInfo"): Route(exchange_info),
        ("GET", "/api/v3/klines"): Route(klines),
        ("GET", "/api/v3/ticker/bookTicker"): Route(book_ticker),
        ("GET", "/api/v3/avgPrice"): Route(avg_price),
        ("POST", "/api/v3/order"): Route(lambda request: account.place(request.params), True),
        ("GET", "/api/v3/order"): Route(query_order, True),
        ("DELETE", "/api/v3/order"): Route(lambda request: account.cancel(request.params), True),
        ("GET", "/api/v3/openOrders"): Route(
            lambda request: account.open_orders(request.params.get("symbol")), True
        ),
        ("GET", "/api/v3/allOrders"): Route(
            lambda request: account.all_orders(request.params), True
        ),
        ("GET", "/api/v3/myTrades"): Route(lambda request: account.my_trades(request.params), True),
        ("GET", "/api/v3/account"): Route(lambda request: account.account_json(), True),
    }


def key_routes(credentials: Credentials) -> dict[tuple[str, str], Route]:
    """What the venue says about the calling key (signed: only the key itself may ask)."""
    return {
        ("GET", "/sapi/v1/account/apiRestrictions"): Route(
            lambda request: dict(credentials.restrictions), True
        ),
    }
