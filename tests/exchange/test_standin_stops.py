"""The REAL ccxt client placing stop orders on the Binance stand-in: how ccxt maps a
`stopPrice` to Binance's STOP_LOSS / STOP_LOSS_LIMIT, how they rest, trigger on the
stand-in's own price path and fill, and Binance's answers to bad ones; with partial fills
and fees paid in BNB."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from tests.exchange.conftest import MINUTE, T0
from tests.exchange.standin import SYMBOL, rest_client
from tests.fakes.binance import FakeBinance, SymbolSpec


def test_a_stop_limit_rests_unseen_locks_its_base_and_fills_once_the_dip_reaches_it(
    market: FakeBinance,
) -> None:
    client = rest_client(market)
    stop = client.create_order(
        SYMBOL, "limit", "sell", 0.5, 94, {"stopPrice": 95, "newClientOrderId": "guard"}
    )
    sent = market.requests_to("/api/v3/order")[-1].params
    assert (sent["type"], sent["stopPrice"], sent["price"], sent["timeInForce"]) == (
        "STOP_LOSS_LIMIT",
        "95",
        "94",
        "GTC",
    )
    assert (stop["status"], stop["type"], stop["triggerPrice"]) == ("open", "limit", 95.0)
    assert stop["info"]["isWorking"] is False
    assert client.fetch_balance()["BTC"]["used"] == 0.5
    market.clock.pin(T0 + 11 * MINUTE)  # the path fell through 95 on its way to 90
    done = client.fetch_order(None, SYMBOL, {"origClientOrderId": "guard"})
    assert (done["status"], done["average"]) == ("closed", 95.0)  # its limit (94) crossed
    assert client.fetch_my_trades(SYMBOL)[0]["takerOrMaker"] == "taker"


def test_a_stop_market_sell_fills_where_the_price_gapped_to(market: FakeBinance) -> None:
    gap = [[T0 + i * MINUTE, 100.0, 100.0, 100.0, 100.0, 1.0] for i in range(10)]
    gap += [[T0 + i * MINUTE, 80.0, 80.0, 80.0, 80.0, 1.0] for i in range(10, 20)]
    market.set_candles("BTCUSDT", "1m", gap)
    client = rest_client(market)
    client.create_order(SYMBOL, "market", "sell", 0.5, None, {"stopPrice": 95})
    assert market.requests_to("/api/v3/order")[-1].params["type"] == "STOP_LOSS"
    market.clock.pin(T0 + 12 * MINUTE)
    [trade] = client.fetch_my_trades(SYMBOL)
    assert (trade["price"], trade["amount"], trade["takerOrMaker"]) == (80.0, 0.5, "taker")


def test_a_triggered_stop_limit_beyond_its_limit_rests_as_a_limit(market: FakeBinance) -> None:
    client = rest_client(market)
    client.create_order(SYMBOL, "limit", "sell", 0.5, 98, {"stopPrice": 97})
    market.clock.pin(T0 + 11 * MINUTE)  # triggered at 97: its limit, 98, is above the market
    [order] = client.fetch_open_orders(SYMBOL)
    assert order["info"]["isWorking"] is True and order["filled"] == 0


def test_take_profit_limit_triggers_on_a_rise(market: FakeBinance) -> None:
    client = rest_client(market)
    client.create_order(SYMBOL, "limit", "buy", 0.1, 95, {"takeProfitPrice": 95})
    assert market.requests_to("/api/v3/order")[-1].params["type"] == "TAKE_PROFIT_LIMIT"
    market.clock.pin(T0 + 11 * MINUTE)
    [trade] = client.fetch_my_trades(SYMBOL)
    assert (trade["side"], trade["price"]) == ("buy", 95.0)


@pytest.mark.parametrize(
    ("price", "stop", "code", "message"),
    [
        (100, 101, -2010, "Stop price would trigger immediately."),
        (94, 95.005, -1013, "Filter failure: PRICE_FILTER"),
        (10, 95, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    ],
)
def test_bad_stops_get_binances_answers(
    market: FakeBinance, price: float, stop: float, code: int, message: str
) -> None:
    client = rest_client(market)
    client.load_markets()
    client.markets[SYMBOL]["precision"]["price"] = 0.001  # let the bad tick through ccxt
    with pytest.raises(ccxt.BaseError, match=message):
        client.create_order(SYMBOL, "limit", "sell", 0.5, price, {"stopPrice": stop})
    assert market.stats.errors == {code: 1}


def test_max_num_algo_orders_counts_only_stops() -> None:
    spec = SymbolSpec("BTCUSDT", "BTC", "USDT", max_num_algo_orders=2, start_price=100.0)
    with FakeBinance([spec], balances={"USDT": "1000", "BTC": "1"}) as server:
        server.clock.pin(server.clock.now_ms())
        client = rest_client(server)
        price = server.markets["BTCUSDT"].book(server.clock.now_ms())[0]
        for _ in range(2):
            client.create_order(SYMBOL, "market", "sell", 0.1, None, {"stopPrice": price * 0.9})
        client.create_order(SYMBOL, "limit", "sell", 0.1, round(price * 1.1, 2))
        with pytest.raises(ccxt.BaseError, match="MAX_NUM_ALGO_ORDERS"):
            client.create_order(SYMBOL, "market", "sell", 0.1, None, {"stopPrice": price * 0.8})


def test_a_symbol_without_stop_order_types_is_refused_by_ccxt_itself() -> None:
    spec = SymbolSpec("BTCUSDT", "BTC", "USDT", order_types=("LIMIT", "MARKET"))
    with FakeBinance([spec]) as server:
        with pytest.raises(ccxt.InvalidOrder, match="triggerPrice parameter is not allowed"):
            rest_client(server).create_order(SYMBOL, "market", "sell", 0.1, None, {"stopPrice": 1})
        assert server.requests_to("/api/v3/order") == []


def test_partial_fills_and_fees_paid_in_bnb(market: FakeBinance) -> None:
    market.account.fill_cap = Decimal("0.3")
    market.account.bnb_fees = Decimal("250")
    market.account.balances["BNB"] = type(market.account.balances["BTC"])(Decimal("1"))
    client = rest_client(market)
    client.create_order(SYMBOL, "limit", "buy", 0.5, 95, {"newClientOrderId": "dip"})
    market.clock.pin(T0 + 11 * MINUTE)
    part = client.fetch_order(None, SYMBOL, {"origClientOrderId": "dip"})
    assert (part["status"], part["info"]["status"], part["filled"]) == (
        "open",
        "PARTIALLY_FILLED",
        0.3,
    )
    market.clock.pin(T0 + 12 * MINUTE)  # at 90, still under 95: the rest fills
    trades = client.fetch_my_trades(SYMBOL)
    assert [t["amount"] for t in trades] == [0.3, 0.2]
    assert trades[0]["fee"] == {"currency": "BNB", "cost": 0.3 * 95 * 0.001 / 250}
    balance = client.fetch_balance()
    assert balance["BTC"]["total"] == 1.5  # nothing kept from the base bought
    assert balance["USDT"]["total"] == pytest.approx(1000 - 0.5 * 95)
    assert balance["BNB"]["total"] == pytest.approx(1 - 0.5 * 95 * 0.001 / 250)
