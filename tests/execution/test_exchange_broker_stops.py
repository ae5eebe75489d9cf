"""The exchange broker's stops, venue limits, fees in BNB, halts and shared cash, on the
Binance stand-in through the REAL ccxt client: the protective stop (max_loss_per_trade)
rests on the venue, follows the position, and is never doubled; what cannot be protected
says so and stops buying."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.conftest import MINUTE, T0, steady_then_dip
from tests.exchange.standin import SYMBOL
from tests.execution.test_exchange_broker import FEE, Desk, buy, keys, limit
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.orders import Balance
from thunes.domain.orders import ClientIds, OrderIntent, OrderStatus, OrderType, Side
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG
from thunes.engine.broker_core import LaneRow
from thunes.engine.exchange_broker import ExchangeBroker
from thunes.engine.venue_ledger import Wallet
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits

__all__ = ["keys"]  # the autouse fixture that puts the stand-in's keys in the environment

SPEC = SymbolSpec("BTCUSDT", "BTC", "USDT", max_num_orders=5)
NO_STOP_LOSS = ("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")


def max_loss(usdt: float) -> RiskEngine:
    """Only max_loss_per_trade binds (a daily loss, positions and no cooldown that don't)."""
    return RiskEngine(RiskLimits(usdt, 1e9, 10, 0.0, False), FEE)


@contextmanager
def desk(
    tmp_path: Path,
    specs: Sequence[SymbolSpec] = (SPEC,),
    candles: list[list[float]] | None = None,
    minute: int = 5,
    risk: RiskEngine | None = None,
    **limits: Any,
) -> Iterator[Desk]:
    """A desk on a stand-in (1000 USDT), its broker under `risk`, at `minute` of `candles`
    (by default: at 100 until minute 10, then a dip to 90)."""
    with FakeBinance(specs, start_ms=T0, balances={"USDT": "1000"}) as server:
        server.set_candles("BTCUSDT", "1m", candles or steady_then_dip())
        server.clock.pin(T0 + minute * MINUTE)
        d = Desk(server, tmp_path, **limits)
        d.broker = d.start(risk)
        try:
            yield d
        finally:
            d.store.close()


def venue_stops(d: Desk) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    """The stand-in's stop orders: (type, status, stop, limit, quantity)."""
    return [
        (o.type, o.status, o.stop_price, o.price, o.qty)
        for o in d.server.account.orders.values()
        if o.is_stop
    ]


def expected_stop(broker: ExchangeBroker) -> float:
    """Where the shared risk rule puts the stop for the broker's position now."""
    lane = broker.ledger.lanes[0]
    price = rules.stop_price(
        lane[LaneRow.BOOK_AMOUNT], lane[LaneRow.BOOK_COST], broker.ledger.risk_vector
    )
    return round(float(-(-price // 0.01) * 0.01), 2)


def test_the_protective_stop_rests_on_the_venue_at_the_rules_price_sized_to_the_position(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        broker = d.send(buy(50.0))
        broker.pump()
        [(kind, status, stop, lim, qty)] = venue_stops(d)
        assert (kind, status, lim) == ("STOP_LOSS", "NEW", 0)
        assert float(qty) == broker.position == 0.49945
        assert float(stop) == expected_stop(broker) == 90.19  # 5 USDT under the cost, fees in
        assert d.held_on_exchange() == pytest.approx(broker.holdings)
        assert [e.tag for e in broker.events] == ["entry"]  # the stop is no news to the strategy
        d.server.clock.pin(T0 + 11 * MINUTE)  # the dip to 90 goes through it
        d.clock.now += 10
        broker.pump()
        exit_ = broker.fills[-1]
        assert (exit_.tag, exit_.price, exit_.amount) == (MAX_LOSS_TAG, 90.19, 0.49945)
        assert broker.position == 0.0 and broker.stop is None
        assert d.store.risk()["fired.max_loss_per_trade"] == 1
        assert broker.cash - 1000.0 == pytest.approx(-5.0, abs=0.02)  # the max loss, fees in


def test_a_buy_and_its_protective_stop_leave_on_one_read_of_the_book(tmp_path: Path) -> None:
    """The venue's book and average price are weighted reads (ccxt spaces them by their
    weight): a pump that sends a buy and then rests its stop reads them once, and the
    next pump reads them afresh."""
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        broker = d.send(buy(50.0))  # one pump
        assert [(o.type, o.status) for o in d.server.account.orders.values()] == [
            ("MARKET", "FILLED"),
            ("STOP_LOSS", "NEW"),
        ]
        reads = ("/api/v3/ticker/bookTicker", "/api/v3/avgPrice")
        assert [len(d.server.requests_to(path)) for path in reads] == [1, 1]
        d.send(buy(20.0))  # a pump sends it; the old stop's cancel is asked
        broker.pump()  # confirmed: the stop rests again, sized to both, on a read of its own
        assert [len(d.server.requests_to(path)) for path in reads] == [3, 3]
        assert [float(s[4]) for s in venue_stops(d) if s[1] == "NEW"] == [broker.position]


def test_the_stop_is_resized_after_each_partial_fill_replaced_only_once_the_cancel_is_confirmed(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.server.account.fill_cap = Decimal("0.3")
        broker = d.send(limit(95.0, 0.5))
        d.server.clock.pin(T0 + 10 * MINUTE + 35_000)  # down through 95, not yet at 90.x
        d.clock.now += 10
        broker.pump()  # the 0.3 filled: a stop for it
        assert broker.position == pytest.approx(0.2997)
        [(_, _, _, _, qty)] = venue_stops(d)
        assert float(qty) == pytest.approx(0.2997)
        d.server.clock.pin(T0 + 10 * MINUTE + 36_000)  # the rest fills: the stop must move
        d.clock.now += 10
        broker.pump()  # the fill is booked
        assert broker.position == pytest.approx(0.4995)
        d.server.faults.server_error_next("/api/v3/order", times=1)  # the cancel: no answer
        broker.pump()
        assert [s[1] for s in venue_stops(d)] == ["NEW"]  # no second stop beside the first
        broker.pump()  # the cancel is confirmed: the stop comes back, for all of it
        assert [(s[1], float(s[4])) for s in venue_stops(d)] == [
            ("CANCELED", pytest.approx(0.2997)),
            ("NEW", pytest.approx(0.4995)),
        ]
        assert float(venue_stops(d)[-1][2]) == expected_stop(broker)
        assert d.server.stats.errors.get(-2010, 0) == 0


def test_a_sell_waits_for_the_stops_cancel_and_the_stop_comes_back_for_the_rest(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        broker = d.send(buy(50.0))
        broker.pump()
        assert len(venue_stops(d)) == 1
        broker.submit(OrderIntent(Side.SELL, OrderType.MARKET, amount=0.2, tag="trim"), 0)
        broker.pump()  # the stop holds the base: withdrawn first, then the sell leaves
        assert [f.tag for f in broker.fills] == ["entry", "trim"]
        assert broker.position == pytest.approx(0.29945)
        assert [(s[1], float(s[4])) for s in venue_stops(d)] == [
            ("CANCELED", 0.49945),
            ("NEW", pytest.approx(0.29945)),
        ]
        assert d.server.stats.errors == {}


def test_a_stop_limit_where_the_symbol_has_no_stop_loss_sits_one_percent_under(
    tmp_path: Path,
) -> None:
    spec = SymbolSpec("BTCUSDT", "BTC", "USDT", order_types=NO_STOP_LOSS)
    with desk(tmp_path, (spec,), risk=max_loss(5.0)) as d:
        broker = d.send(buy(50.0))
        broker.pump()
        [(kind, _, stop, lim, _)] = venue_stops(d)
        assert (kind, float(stop), float(lim)) == ("STOP_LOSS_LIMIT", 90.19, 89.28)
        d.server.clock.pin(T0 + 11 * MINUTE)
        d.clock.now += 10
        broker.pump()
        assert broker.fills[-1].price == 90.19 and broker.position == 0.0


def test_a_strategys_own_stop_rests_and_fills_on_the_venue(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        broker = d.send(buy(50.0))
        d.send(OrderIntent(Side.SELL, OrderType.STOP, price=95.0, tag="stop"))
        assert [(s[0], float(s[2]), float(s[4])) for s in venue_stops(d)] == [
            ("STOP_LOSS", 95.0, 0.49945)
        ]
        d.server.clock.pin(T0 + 11 * MINUTE)
        d.clock.now += 10
        broker.pump()
        assert (broker.fills[-1].tag, broker.fills[-1].price) == ("stop", 95.0)
        assert [e.status for e in broker.events if e.tag == "stop"] == [OrderStatus.NEW]


def test_a_stop_the_price_is_through_already_sells_the_position(tmp_path: Path) -> None:
    with desk(tmp_path, risk=max_loss(0.05)) as d:  # its stop sits over the bid (100)
        broker = d.send(buy(50.0))
        broker.pump()
        broker.pump()
        assert [f.tag for f in broker.fills] == ["entry", MAX_LOSS_TAG]
        assert broker.position == 0.0 and venue_stops(d) == []


def test_a_stop_the_venue_says_would_trigger_sells_the_position(tmp_path: Path) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.server.faults.fail_next(  # the buy leaves; the stop after it is refused
            "/api/v3/order", 1, 400, -2010, "Stop price would trigger immediately.", after=1
        )
        broker = d.send(buy(50.0))
        assert d.server.stats.errors == {-2010: 1}
        broker.pump()  # sold at market instead
        assert [f.tag for f in broker.fills] == ["entry", MAX_LOSS_TAG]
        assert broker.position == 0.0


def test_a_stop_a_minimum_blocks_leaves_the_position_unprotected_and_buys_paused(
    tmp_path: Path,
) -> None:
    with desk(tmp_path, risk=max_loss(1.0)) as d:
        broker = d.send(buy(5.6))  # 0.05599 BTC; its stop (~82) is worth under 5 USDT
        broker.pump()
        assert venue_stops(d) == []
        assert broker.unprotected.startswith("BTC/USDT: the position (0.05593) has no stop")
        assert "dust" in broker.unprotected
        broker.submit(buy(20.0), 0)
        assert broker.skipped[-1].reason == f"entries paused: {broker.unprotected}"
        assert d.server.stats.orders == 1
        d.send(OrderIntent(Side.SELL, OrderType.MARKET, tag="exit"))
        assert broker.position == 0.0 and broker.unprotected == ""
        d.send(buy(20.0))
        assert d.server.stats.orders == 3


def test_unprotected_positions_are_sold_when_configured(tmp_path: Path) -> None:
    with desk(tmp_path, risk=max_loss(1.0), sell_unprotected=True) as d:
        broker = d.send(buy(5.6))
        broker.pump()
        assert [f.tag for f in broker.fills] == ["entry", MAX_LOSS_TAG]


def test_max_num_orders_counts_orders_placed_by_others(tmp_path: Path) -> None:
    spec = SymbolSpec("BTCUSDT", "BTC", "USDT", max_num_orders=3, max_num_algo_orders=1)
    with desk(tmp_path, (spec,)) as d:
        d.server.account.balances["BTC"] = Balance(Decimal("1"))
        client = d.exchange.client
        client.create_order(SYMBOL, "limit", "buy", 0.1, 91, {"newClientOrderId": "manual-1"})
        client.create_order(SYMBOL, "market", "sell", 0.1, None, {"stopPrice": 80})
        broker = d.send(limit(92.0, 0.1), limit(93.0, 0.1))
        assert len(broker.working) == 1
        assert broker.skipped[-1].reason == "MAX_NUM_ORDERS: 3 orders open, at most 3"
        d.send(OrderIntent(Side.SELL, OrderType.STOP, amount=0.1, price=85.0, tag="stop"))
        assert broker.skipped[-1].reason == "MAX_NUM_ALGO_ORDERS: 1 stop orders open, at most 1"
        assert d.server.stats.errors == {}


BNB = SymbolSpec("BNBUSDT", "BNB", "USDT", start_price=250.0)


def test_fees_paid_in_bnb_leave_position_and_quote_whole_and_count_at_the_bnb_bid(
    tmp_path: Path,
) -> None:
    books = RiskEngine(RiskLimits(1e9, 1e9, 10, 0.0, False), FEE)  # counts the day's PnL
    with desk(tmp_path, (SPEC, BNB), risk=books) as d:
        flat = [[T0 + i * MINUTE, 250.0, 250.0, 250.0, 250.0, 1.0] for i in range(20)]
        d.server.set_candles("BNBUSDT", "1m", flat)
        d.server.account.bnb_fees = Decimal("250")
        d.server.account.balances["BNB"] = Balance(Decimal("1"))
        broker = d.send(buy(50.0))
        bought = broker.fills[0]
        assert (bought.fee_asset, bought.fee_base) == ("BNB", 0.0)
        assert bought.fee == pytest.approx(0.49995 * 100.01 * FEE)  # 0.0002 BNB at 250
        assert broker.position == 0.49995  # nothing kept from the base
        assert broker.cash == pytest.approx(1000 - 0.49995 * 100.01)  # nor from the quote
        assert broker.cash == pytest.approx(d.orders.balances()["USDT"])
        sold = d.send(OrderIntent(Side.SELL, OrderType.MARKET, tag="exit")).fills[1]
        assert sold.fee == pytest.approx(0.49995 * 100.0 * FEE)
        assert broker.cash == pytest.approx(d.orders.balances()["USDT"])
        assert d.orders.balances()["BNB"] == pytest.approx(1 - (bought.fee + sold.fee) / 250)
        pnl = 0.49995 * (100.0 - 100.01) - bought.fee - sold.fee  # both fees, in USDT
        assert d.store.risk()["day_pnl"] == pytest.approx(pnl)


def test_a_halted_symbol_refuses_until_the_markets_say_it_trades_again(tmp_path: Path) -> None:
    with desk(tmp_path) as d:
        d.server.set_status("BTCUSDT", "BREAK")
        broker = d.send(buy(50.0))  # the broker's markets still say TRADING: the venue refuses
        assert d.server.stats.errors == {-2010: 1}
        d.send(buy(50.0))
        assert (
            broker.skipped[-1].reason == "BTC/USDT is not trading on the exchange (status CLOSED)"
        )
        d.exchange.refresh_markets()
        broker.refresh(d.exchange.market_filters(SYMBOL), d.exchange.venue_filters(SYMBOL))
        d.send(buy(50.0))
        assert broker.skipped[-1].reason == "BTC/USDT is not trading on the exchange (status BREAK)"
        d.server.set_status("BTCUSDT", "TRADING")
        d.exchange.refresh_markets()
        broker.refresh(d.exchange.market_filters(SYMBOL), d.exchange.venue_filters(SYMBOL))
        d.send(buy(50.0))
        assert len(broker.fills) == 1 and d.server.stats.errors == {-2010: 1}


def test_two_symbols_brokers_share_the_accounts_cash(tmp_path: Path) -> None:
    eth = SymbolSpec(
        "ETHUSDT", "ETH", "USDT", step_size="0.00010000", min_qty="0.00010000", start_price=100.0
    )
    with desk(tmp_path, (SPEC, eth)) as d:
        d.server.set_candles("ETHUSDT", "1m", steady_then_dip())
        wallet = Wallet(1000.0)
        btc = d.start(cash=wallet)
        eth_broker = d.start(ids=ClientIds("run001", "test", "ETH/USDT"), cash=wallet)
        btc.submit(limit(95.0, 6.0), 0)  # 570 USDT set aside on the venue
        btc.pump()
        assert wallet.free() == pytest.approx(430.0)
        eth_broker.submit(limit(95.0, 6.0, tag="eth"), 0)  # would need 570 more
        eth_broker.pump()
        assert eth_broker.skipped[-1].reason == "insufficient cash"
        assert d.server.stats.errors == {}
        eth_broker.submit(buy(400.0), 0)
        eth_broker.pump()
        assert wallet.cash == pytest.approx(d.orders.balances()["USDT"])  # free and locked
        assert wallet.free() == pytest.approx(1000 - 570 - 400, abs=0.02)


def test_a_restart_takes_back_the_resting_stop_and_places_no_second_one(tmp_path: Path) -> None:
    with desk(tmp_path, risk=max_loss(5.0)) as d:
        d.send(buy(50.0)).pump()
        broker = d.start(max_loss(5.0))  # the process died; the store knows the stop
        d.clock.now += 10
        broker.pump()
        broker.pump()
        assert [s[1] for s in venue_stops(d)] == ["NEW"]
        assert broker.stop is not None and broker.stop.order.price == 90.19
        d.server.clock.pin(T0 + 11 * MINUTE)
        d.clock.now += 10
        broker.pump()
        assert broker.fills[-1].tag == MAX_LOSS_TAG and broker.position == 0.0


def test_the_kill_switch_sells_out_past_the_resting_stop(tmp_path: Path) -> None:
    # the day's loss counts the holding net of its exit fee: the buy's two fees (0.0999) pass,
    # the trim's spread and fees (0.1049 in all) trip it, and it flattens
    risk = RiskEngine(RiskLimits(5.0, 0.1025, 10, 0.0, True), FEE)
    with desk(tmp_path, risk=risk) as d:
        broker = d.send(buy(50.0))
        assert len(venue_stops(d)) == 1
        d.send(OrderIntent(Side.SELL, OrderType.MARKET, amount=0.1, tag="trim"))
        broker.pump()
        assert [f.tag for f in broker.fills] == ["entry", "trim", KILL_TAG]
        assert broker.position == 0.0 and risk.fired["kill_switch_trips"] == 1
        assert [s[1] for s in venue_stops(d)] == ["CANCELED"]
        assert d.server.stats.errors == {}


def test_a_trip_by_a_mark_withdraws_the_resting_take_profit_before_it_sells(
    tmp_path: Path,
) -> None:
    # the take-profit holds the whole base: the kill-switch's market sell would find nothing
    # free to sell (dust) unless it is withdrawn first, and only then may the sell leave
    risk = RiskEngine(RiskLimits(5.0, 2.0, 10, 0.0, True), FEE)
    with desk(tmp_path, risk=risk) as d:
        broker = d.send(buy(50.0))
        held = broker.position
        take = OrderIntent(Side.SELL, OrderType.LIMIT, amount=held, price=110.0, tag="tp")
        d.send(take)
        broker.at(T0 + 6 * MINUTE, 95.0)  # the feed's price: 2.5 lost on the holding, no sell
        assert risk.trading(T0 + 6 * MINUTE) == "reducing"
        broker.pump()
        broker.pump()
        assert [f.tag for f in broker.fills] == ["entry", KILL_TAG] and broker.position == 0.0
        tp = [o.status for o in d.server.account.orders.values() if o.side == "SELL" and o.price]
        assert "CANCELED" in tp and not broker.skipped
        assert d.server.stats.errors == {}


def test_a_stop_limit_the_price_gapped_past_is_replaced_by_a_market_sell(tmp_path: Path) -> None:
    spec = SymbolSpec("BTCUSDT", "BTC", "USDT", order_types=NO_STOP_LOSS)
    gap = [[T0 + i * MINUTE, 100.0, 100.0, 100.0, 100.0, 1.0] for i in range(10)]
    gap += [[T0 + i * MINUTE, 80.0, 80.0, 80.0, 80.0, 1.0] for i in range(10, 20)]
    with desk(tmp_path, (spec,), gap, risk=max_loss(5.0)) as d:
        broker = d.send(buy(50.0))
        broker.pump()
        d.server.clock.pin(T0 + 11 * MINUTE)  # 100 -> 80: triggered at 80, its limit 89.28
        d.clock.now += 10
        broker.pump()  # looked up: it rests, and the bid (80) is under its limit
        broker.pump()  # withdrawn, confirmed; sold at market
        assert [(f.tag, f.price) for f in broker.fills] == [("entry", 100.01), (MAX_LOSS_TAG, 80.0)]
        assert [s[1] for s in venue_stops(d)] == ["CANCELED"] and broker.position == 0.0
