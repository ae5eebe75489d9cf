"""The REAL ccxt client trading on the Binance stand-in: orders, fills, fees, filters, faults."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import ccxt
import pytest

from tests.exchange.conftest import MINUTE, T0
from tests.exchange.standin import SYMBOL, rest_client
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.market import ORDER_TYPES
from thunes.domain.market import VenueFilters
from thunes.exchange.binance_filters import parse_binance_filters
from thunes.exchange.ccxt_exchange import CcxtExchange

FEE = 0.001


def test_market_buy_fills_at_the_ask_and_pays_its_fee_in_base(market: FakeBinance) -> None:
    client = rest_client(market)
    order = client.create_order(SYMBOL, "market", "buy", 0.5, params={"newClientOrderId": "b-1"})
    assert (order["status"], order["clientOrderId"], order["filled"]) == ("closed", "b-1", 0.5)
    assert order["average"] == 100.01
    [trade] = client.fetch_my_trades(SYMBOL)
    assert trade["fee"] == {"currency": "BTC", "cost": 0.5 * FEE}
    assert trade["order"] == order["id"]
    balance = client.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(1 + 0.5 - 0.5 * FEE)
    assert balance["USDT"]["free"] == pytest.approx(1000 - 0.5 * 100.01)
    assert (market.stats.orders, market.stats.trades) == (1, 1)


def test_quote_order_qty_buys_whole_steps_and_a_sell_pays_its_fee_in_quote(
    market: FakeBinance,
) -> None:
    client = rest_client(market)
    bought = client.create_order(SYMBOL, "market", "buy", None, params={"quoteOrderQty": 50})
    assert bought["filled"] == 0.49995  # 50 / 100.01 = 0.499950005, floored to the 1e-5 step
    sold = client.create_order(SYMBOL, "market", "sell", 0.2)
    assert sold["average"] == 100.0
    assert client.fetch_my_trades(SYMBOL)[-1]["fee"] == {"currency": "USDT", "cost": 0.02}


def test_a_limit_rests_until_the_price_trades_through_it(market: FakeBinance) -> None:
    client = rest_client(market)
    buy = client.create_order(SYMBOL, "limit", "buy", 1, 95, {"newClientOrderId": "dip-buy"})
    sell = client.create_order(SYMBOL, "limit", "sell", 1, 105, {"newClientOrderId": "top-sell"})
    assert (buy["status"], sell["status"]) == ("open", "open")
    balance = client.fetch_balance()
    assert (balance["USDT"]["used"], balance["BTC"]["used"]) == (95, 1)
    market.clock.pin(T0 + 11 * MINUTE)  # the dip to 90 happened: matched before any request
    filled = client.fetch_order(None, SYMBOL, {"origClientOrderId": "dip-buy"})
    assert (filled["status"], filled["average"]) == ("closed", 95)
    assert client.fetch_my_trades(SYMBOL)[0]["takerOrMaker"] == "maker"
    assert [o["clientOrderId"] for o in client.fetch_open_orders(SYMBOL)] == ["top-sell"]
    assert client.fetch_balance()["BTC"]["free"] == pytest.approx(1 - FEE)


def test_fetch_by_client_id_cancel_and_unknown_orders(market: FakeBinance) -> None:
    client = rest_client(market)
    placed = client.create_order(SYMBOL, "limit", "buy", 1, 99, {"newClientOrderId": "c-1"})
    assert client.fetch_order(None, SYMBOL, {"origClientOrderId": "c-1"})["id"] == placed["id"]
    assert client.cancel_order(placed["id"], SYMBOL)["status"] == "canceled"
    assert client.fetch_balance()["USDT"] == {"free": 1000, "used": 0, "total": 1000}
    assert client.fetch_open_orders(SYMBOL) == []
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        client.cancel_order(placed["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        client.fetch_order(None, SYMBOL, {"origClientOrderId": "never-sent"})
    assert [o["status"] for o in client.fetch_orders(SYMBOL)] == ["canceled"]


def raw_order(**fields: Any) -> dict[str, Any]:
    """An order as sent on the wire (ccxt's create_order would round it to the filters first)."""
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **fields}


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        (raw_order(quantity="1", price="99.001"), ccxt.InvalidOrder, "PRICE_FILTER"),
        (raw_order(quantity="0.000015", price="99"), ccxt.InvalidOrder, "LOT_SIZE"),
        (raw_order(quantity="0.01", price="99"), ccxt.BadRequest, "NOTIONAL"),
        (raw_order(quantity="0.01", price="600"), ccxt.InvalidOrder, "PERCENT_PRICE_BY_SIDE"),
        (raw_order(type="MARKET", quantity="101"), ccxt.InvalidOrder, "MARKET_LOT_SIZE"),
        (raw_order(quantity="11", price="99"), ccxt.InsufficientFunds, "insufficient balance"),
    ],
)
def test_filter_failures_answer_binance_codes_that_ccxt_maps(
    market: FakeBinance, fields: dict[str, Any], error: type[Exception], message: str
) -> None:
    client = rest_client(market)
    client.load_markets()
    fields.pop("timeInForce") if fields["type"] == "MARKET" else None
    with pytest.raises(error, match=message):
        client.private_post_order(fields)
    code = -2010 if message == "insufficient balance" else -1013
    assert market.stats.errors == {code: 1}
    assert market.stats.orders == 0


def test_max_num_orders_duplicates_and_halted_symbols_are_refused(market: FakeBinance) -> None:
    client = rest_client(market)
    for i in range(3):  # BTC's MAX_NUM_ORDERS is 3 here
        client.create_order(SYMBOL, "limit", "buy", 0.1, 90 + i, {"newClientOrderId": f"o-{i}"})
    with pytest.raises(ccxt.BadRequest, match="MAX_NUM_ORDERS"):
        client.create_order(SYMBOL, "limit", "buy", 0.1, 80)
    client.cancel_order(None, SYMBOL, {"origClientOrderId": "o-2"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        client.create_order(SYMBOL, "limit", "buy", 0.1, 80, {"newClientOrderId": "o-1"})
    market.set_status("BTCUSDT", "HALT")
    with pytest.raises(ccxt.MarketClosed, match="Market is closed"):
        client.create_order(SYMBOL, "limit", "buy", 0.1, 80)
    assert market.stats.errors == {-1013: 1, -2010: 2}
    assert market.stats.duplicate_client_ids == []


def test_refresh_markets_reads_a_symbols_status_and_filters_again(market: FakeBinance) -> None:
    exchange = CcxtExchange(
        exchange_id="binance",
        base_url=market.url,
        fees={"maker": FEE, "taker": FEE, "from_received": True},
        slippage=0.0,
    )
    assert exchange.venue_filters(SYMBOL).status == "TRADING"
    market.set_status("BTCUSDT", "BREAK")
    assert exchange.venue_filters(SYMBOL).status == "TRADING"  # the markets read at start
    exchange.refresh_markets()
    assert exchange.venue_filters(SYMBOL).status == "BREAK"
    market.set_status("BTCUSDT", "TRADING")
    exchange.refresh_markets()
    assert exchange.venue_filters(SYMBOL).status == "TRADING"
    assert len(market.requests_to("/api/v3/exchangeInfo")) == 3


def test_signed_requests_need_the_key_a_valid_signature_and_a_fresh_timestamp(
    market: FakeBinance,
) -> None:
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        rest_client(market, secret="wrong").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        rest_client(market, apiKey="someone-else").fetch_balance()
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(f"{market.url}/api/v3/account", timeout=5)
    assert (unsigned.value.code, json.load(unsigned.value)["code"]) == (401, -2014)
    market.credentials.clock_offset_ms = 30_000  # the client's clock is 30 s behind
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        rest_client(market).fetch_balance()


def test_rate_limits_and_server_errors_reach_ccxt_as_live(market: FakeBinance) -> None:
    client = rest_client(market)
    market.faults.rate_limit_next(1, "/api/v3/account", retry_after_s=7)
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        client.fetch_balance()
    assert client.last_response_headers["Retry-After"] == "7"
    market.faults.server_error_next("/api/v3/openOrders", status=502)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        client.fetch_open_orders(SYMBOL)
    assert client.fetch_balance()["USDT"]["free"] == 1000


def test_an_order_answered_5xx_exists_and_a_blind_retry_doubles_it(market: FakeBinance) -> None:
    client = rest_client(market)
    market.faults.lose_order_replies(1)
    with pytest.raises(ccxt.RequestTimeout):  # -1007: execution status unknown
        client.create_order(SYMBOL, "market", "buy", 0.1, params={"newClientOrderId": "lost-1"})
    found = client.fetch_order(None, SYMBOL, {"origClientOrderId": "lost-1"})
    assert (found["status"], found["filled"]) == ("closed", 0.1)
    client.create_order(SYMBOL, "market", "buy", 0.1, params={"newClientOrderId": "lost-1"})
    assert market.stats.duplicate_client_ids == ["lost-1"]  # Binance took it again


def test_raw_filters_dropped_by_ccxt_are_read_from_exchange_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doge = SymbolSpec(
        "DOGEUSDT",
        "DOGE",
        "USDT",
        tick_size="0.00001000",
        step_size="1.00000000",
        min_qty="1.00000000",
        min_notional="1.00000000",
        market_max_qty="50000.00000000",
        market_step_size="1.00000000",
        multiplier_up="1.5",
        multiplier_down="0.5",
        avg_price_mins=3,
        max_num_orders=50,
        start_price=0.1,
    )
    with FakeBinance([doge]) as server:
        server.set_status("DOGEUSDT", "BREAK")
        exchange = CcxtExchange(
            exchange_id="binance",
            base_url=server.url,
            fees={"maker": FEE, "taker": FEE, "from_received": True},
            slippage=0.0,
        )
        assert exchange.venue_filters("DOGE/USDT") == VenueFilters(
            status="BREAK",
            market_min_qty=0.0,
            market_max_qty=50_000.0,
            market_step_size=1.0,
            min_notional=1.0,
            max_notional=9_000_000.0,
            apply_min_to_market=True,
            apply_max_to_market=False,
            avg_price_mins=3,
            bid_multiplier_up=1.5,
            bid_multiplier_down=0.5,
            ask_multiplier_up=1.5,
            ask_multiplier_down=0.5,
            max_num_orders=50,
            max_num_algo_orders=5,
            order_types=ORDER_TYPES,
        )


def test_absent_filters_are_neutral() -> None:
    neutral = parse_binance_filters({"symbol": "XUSDT", "filters": []})
    assert (neutral.status, neutral.market_max_qty, neutral.max_num_orders) == (
        "TRADING",
        math.inf,
        0,
    )
    assert (neutral.bid_multiplier_down, neutral.ask_multiplier_up) == (0.0, math.inf)


def test_market_data_follows_the_price_path(market: FakeBinance) -> None:
    client = rest_client(market)
    quotes = client.fetch_bids_asks([SYMBOL])[SYMBOL]
    assert (quotes["bid"], quotes["ask"]) == (100.0, 100.01)
    assert client.public_get_avgprice({"symbol": "BTCUSDT"})["price"] == "100.00000000"
    market.clock.pin(T0 + 10 * MINUTE + 30_000)  # half-way through the dip candle
    forming = client.fetch_ohlcv(SYMBOL, "1m", since=T0 + 9 * MINUTE)
    assert forming[-1][:5] == [T0 + 10 * MINUTE, 100.0, 100.0, 95.0, 95.0]  # down a half
    five = client.fetch_ohlcv(SYMBOL, "5m", since=T0)
    assert five[0][:5] == [T0, 100.0, 100.0, 100.0, 100.0]
    assert five[-1][:5] == [T0 + 10 * MINUTE, 100.0, 100.0, 95.0, 95.0]


def test_base_url_rebases_rest_and_websockets_keeping_paths() -> None:
    exchange = CcxtExchange(
        exchange_id="binance",
        base_url="https://gateway.example/binance",
        fees={"maker": FEE, "taker": FEE, "from_received": True},
        slippage=0.0,
    )
    urls = exchange.stream_client().urls["api"]
    assert urls["public"] == "https://gateway.example/binance/api/v3"
    assert urls["ws"]["spot"] == "wss://gateway.example/binance/ws"
    assert urls["ws"]["ws-api"]["spot"] == "wss://gateway.example/binance/ws-api/v3"
