"""The exchange broker trading on the Binance stand-in through the REAL ccxt client: client
ids from the store, unknown answers looked up, cancels confirmed, fills booked once, fees
in base, rate limits, the circuit breaker and Binance's raw filters (zero -1013)."""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.exchange.conftest import MINUTE, T0, steady_then_dip
from tests.exchange.standin import SYMBOL
from tests.fakes.binance import API_KEY, SECRET, FakeBinance, SymbolSpec
from thunes.domain.orders import CancelOrders, ClientIds, OrderIntent, OrderStatus, OrderType, Side
from thunes.engine.exchange_broker import BrokerLimits, ExchangeBroker
from thunes.engine.venue_ledger import Wallet
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_orders import CcxtOrders, trade_fill
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.state.account import Account
from thunes.state.store import StateStore

FEE = 0.001
IDS = ClientIds("run001", "test", SYMBOL)
BTC = SymbolSpec("BTCUSDT", "BTC", "USDT", max_num_orders=3, market_max_qty="1.00000000")


def buy(quote: float, tag: str = "entry") -> OrderIntent:
    return OrderIntent(Side.BUY, OrderType.MARKET, quote=quote, tag=tag)


def limit(price: float, amount: float, tag: str = "grid:1") -> OrderIntent:
    return OrderIntent(Side.BUY, OrderType.LIMIT, amount=amount, price=price, tag=tag)


SELL_ALL = OrderIntent(Side.SELL, OrderType.MARKET, tag="exit")


class Clock:
    """The broker's host clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Desk:
    """A stand-in market, a store and a broker on it, as the live engine would wire them."""

    def __init__(self, server: FakeBinance, tmp_path: Path, **limits: Any) -> None:
        self.server, self.clock = server, Clock()
        self.exchange = CcxtExchange(
            exchange_id="binance",
            base_url=server.url,
            api_key_env="STANDIN_KEY",
            secret_env="STANDIN_SECRET",
            fees={"maker": FEE, "taker": FEE, "from_received": True},
            slippage=0.0,
        )
        self.exchange.client.enableRateLimit = False  # the stand-in has no limit to respect
        self.orders = CcxtOrders(self.exchange.client)
        self.store = StateStore.open(tmp_path, Account.of("binance", "t", "paper", API_KEY), False)
        self.limits = BrokerLimits(**limits)
        self.broker = self.start()

    def start(
        self, risk: RiskEngine | None = None, ids: ClientIds = IDS, cash: Wallet | None = None
    ) -> ExchangeBroker:
        """A broker on the desk's store, as a (re)start builds it (on the account's
        `cash`, shared, or on the quote balance)."""
        return ExchangeBroker(
            self.orders,
            self.store,
            ids,
            self.exchange.fees,
            self.exchange.market_filters(ids.symbol),
            self.exchange.venue_filters(ids.symbol),
            FixedQuote(20.0),
            cash=cash or self.orders.balances().get("USDT", 0.0),
            risk=risk,
            limits=self.limits,
            clock=self.clock,
        )

    def send(self, *commands: OrderIntent | CancelOrders) -> ExchangeBroker:
        for command in commands:
            self.broker.submit(command, 0)
            self.broker.pump()
        return self.broker

    def exchange_orders(self) -> list[tuple[str, str]]:
        return [(o.client_id, o.status) for o in self.server.account.orders.values()]

    def held_on_exchange(self) -> float:
        return float(self.orders.balances().get("BTC", 0.0))


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_KEY", API_KEY)
    monkeypatch.setenv("STANDIN_SECRET", SECRET)


def rising() -> list[list[float]]:
    """1m candles at 90 for ten minutes, then 100: at minute 12 the average price (96) is
    under the ask (100.01), as after any rise."""
    return [[T0 + i * MINUTE, p, p, p, p, 10.0] for i, p in enumerate([90.0] * 10 + [100.0] * 10)]


@contextmanager
def desk_on(
    tmp_path: Path, candles: list[list[float]], minute: int, status: str = "TRADING", **limits: Any
) -> Iterator[Desk]:
    """A desk on a stand-in holding 1000 USDT, its market at `minute` of `candles`."""
    with FakeBinance([BTC], start_ms=T0, balances={"USDT": "1000"}) as server:
        server.set_candles("BTCUSDT", "1m", candles)
        server.clock.pin(T0 + minute * MINUTE)
        server.set_status("BTCUSDT", status)
        desk = Desk(server, tmp_path, **limits)
        try:
            yield desk
        finally:
            desk.store.close()


@pytest.fixture
def dip(tmp_path: Path) -> Iterator[Desk]:
    """At 100 (bid 100, ask 100.01, average 100) at T0 + 5 min; dips to 90 at minute 10."""
    with desk_on(tmp_path, steady_then_dip(), 5) as desk:
        yield desk


@pytest.fixture
def rise(tmp_path: Path) -> Iterator[Desk]:
    with desk_on(tmp_path, rising(), 12) as desk:
        yield desk


def test_orders_carry_the_stores_client_ids_and_an_exit_strands_no_dust(dip: Desk) -> None:
    broker = dip.send(buy(50.0), SELL_ALL)
    assert dip.exchange_orders() == [(IDS.of(1), "FILLED"), (IDS.of(2), "FILLED")]
    bought, sold = broker.fills
    assert (bought.order_id, bought.amount, bought.fee_base) == (IDS.of(1), 0.49995, 0.00049995)
    assert bought.received == 0.49945  # on the step; the 5e-8 under it is dust
    assert sold.amount == bought.received
    assert broker.position == 0.0
    assert dip.held_on_exchange() == pytest.approx(broker.holdings) == pytest.approx(5e-8)
    assert broker.cash == pytest.approx(dip.orders.balances()["USDT"])
    assert [e.status for e in broker.events] == [OrderStatus.NEW, OrderStatus.NEW]
    assert dip.store.positions()[SYMBOL].amount == 0.0


def test_an_order_answered_minus_1007_is_looked_up_and_found_not_sent_again(dip: Desk) -> None:
    dip.server.faults.lose_order_replies(1)
    broker = dip.send(buy(50.0))
    assert dip.server.stats.errors[-1007] == 1
    assert dip.exchange_orders() == [(IDS.of(1), "FILLED")]
    assert dip.server.stats.duplicate_client_ids == []
    assert [f.order_id for f in broker.fills] == [IDS.of(1)]
    record = dip.store.order(IDS.of(1))
    assert record is not None and record.status == "filled"


def test_a_lookup_answering_minus_2013_marks_the_order_never_placed(dip: Desk) -> None:
    dip.server.faults.server_error_next("/api/v3/order", status=502)  # before matching
    broker = dip.send(buy(50.0))
    record = dip.store.order(IDS.of(1))
    assert record is not None and (record.status, record.reason) == (
        "rejected",
        "never placed (-2013 by client id)",
    )
    assert broker.events[-1].status is OrderStatus.REJECTED
    assert dip.server.stats.orders == 0 and broker.fills == []
    dip.send(buy(50.0))  # the next intent leaves under the next id
    assert dip.exchange_orders() == [(IDS.of(2), "FILLED")]


def test_a_cancel_counts_only_once_the_exchange_confirms_it(dip: Desk) -> None:
    broker = dip.send(limit(95.0, 0.1))
    dip.server.faults.server_error_next("/api/v3/order")  # the DELETE goes unanswered
    dip.send(CancelOrders("grid"))
    assert [w.client_id for w in broker.working] == [IDS.of(1)]
    assert OrderStatus.CANCELED not in [e.status for e in broker.events]
    broker.pump()
    assert broker.working == [] and broker.events[-1].status is OrderStatus.CANCELED
    assert dip.exchange_orders() == [(IDS.of(1), "CANCELED")]
    assert broker.cash == 1000.0 and broker.committed is False


def test_a_cancel_that_comes_too_late_books_what_the_order_filled(dip: Desk) -> None:
    broker = dip.send(limit(95.0, 0.1))
    dip.server.clock.pin(T0 + 11 * MINUTE)  # the dip to 90 went through it
    dip.send(CancelOrders("grid"))
    [fill] = broker.fills
    assert (fill.order_id, fill.price, fill.amount, fill.maker) == (IDS.of(1), 95.0, 0.1, True)
    assert broker.position == pytest.approx(0.0999)
    assert dip.store.order(IDS.of(1)).status == "filled"  # type: ignore[union-attr]


def test_an_order_at_work_is_looked_up_once_it_has_had_no_news_for_a_while(dip: Desk) -> None:
    broker = dip.send(limit(95.0, 0.1))
    dip.server.clock.pin(T0 + 11 * MINUTE)  # filled on the exchange
    dip.clock.now += 4.0
    broker.pump()
    assert broker.fills == [] and dip.server.requests_to("/api/v3/order")[-1].method == "POST"
    dip.clock.now += 1.0  # check_after_s (5 s) since the answer
    broker.pump()
    assert [f.order_id for f in broker.new_fills()] == [IDS.of(1)] and broker.working == []


def test_a_fill_reported_by_the_stream_and_the_poll_is_booked_once(dip: Desk) -> None:
    broker = dip.broker
    dip.send(limit(95.0, 0.1))
    dip.clock.now += 10  # the order is due for a check

    async def stream_and_poll() -> list[dict[str, Any]]:
        private = dip.exchange.stream_client()
        try:
            trades = asyncio.create_task(private.watch_my_trades(SYMBOL))
            while not dip.server.streams.users:
                await asyncio.sleep(0.01)
            dip.server.clock.pin(T0 + 11 * MINUTE)
            await broker.work()  # looks the order up: filled; polls its trade
            return list(await asyncio.wait_for(trades, 3.0))
        finally:
            await private.close()

    streamed = asyncio.run(stream_and_poll())
    assert len(broker.fills) == 1
    fills = [trade_fill(t, None, broker.client_ids[t["order"]]) for t in streamed]
    broker.report(fills)
    broker.report(fills)
    assert len(broker.fills) == 1 and len(dip.store.fills()) == 1
    assert broker.on_bar(1, T0, 90.0, 90.0, 90.0) == broker.fills


def test_a_restart_looks_up_what_a_dead_process_sent_and_books_it_once(dip: Desk) -> None:
    sent = dip.store.order_sending(IDS, buy(50.0), T0)
    dip.exchange.client.create_order(
        SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 50, "newClientOrderId": sent}
    )
    unsent = dip.store.order_sending(IDS, limit(95.0, 0.1), T0)  # died before sending it
    broker = dip.start()  # the process died before either answer was recorded
    assert [w.status for w in broker.working] == ["unknown", "unknown"]
    broker.pump()
    assert [f.order_id for f in broker.fills] == [sent] and broker.working == []
    assert broker.position == 0.49945 and dip.store.order(unsent).status == "rejected"  # type: ignore[union-attr]
    dip.start().pump()
    assert len(dip.store.fills()) == 1 and dip.server.stats.orders == 1


def test_a_snapshot_names_what_a_dead_process_left_for_reconciliation(dip: Desk) -> None:
    sent = dip.store.order_sending(IDS, buy(50.0), T0)
    dip.exchange.client.create_order(
        SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 50, "newClientOrderId": sent}
    )
    resting = dip.send(limit(95.0, 0.1)).working[0].client_id
    unsent = dip.store.order_sending(IDS, limit(94.0, 0.1), T0)
    snap = dip.orders.snapshot([SYMBOL], T0, dip.store.orders())
    assert [o.client_id for o in snap.open_orders] == [resting]
    assert snap.looked_up[unsent] is None and snap.looked_up[sent].status == "filled"  # type: ignore[union-attr]
    [trade] = snap.trades
    assert (trade.order_id, trade.amount, trade.fee_base) == (sent, 0.49995, 0.00049995)
    assert snap.balances["BTC"] == pytest.approx(0.49945005)
    plan = dip.store.reconcile(snap, [SYMBOL], [IDS.prefix], snap.time_ms)
    assert [f.trade_id for f in plan.fills] == [trade.trade_id]
    assert plan.unresolved == () and plan.mismatches == ()
    assert dip.store.order(unsent).status == "rejected"  # type: ignore[union-attr]


def test_the_kill_switch_trips_on_a_loss_and_no_buy_leaves_after(dip: Desk) -> None:
    risk = RiskEngine(RiskLimits(1e9, 2.0, 1, 0.0, False), FEE)
    broker = dip.start(risk)
    dip.clock.now += 1
    broker.submit(buy(50.0), 0)
    broker.pump()
    dip.server.clock.pin(T0 + 12 * MINUTE)  # at 90 now
    broker.at(T0 + 12 * MINUTE)  # the engine's market time: the risk day
    broker.submit(SELL_ALL, 0)
    broker.pump()
    assert risk.fired["kill_switch_trips"] == 1
    broker.submit(buy(50.0), 0)
    broker.pump()
    assert broker.skipped[-1].reason == "kill_switch" and dip.server.stats.orders == 2
    assert dip.store.risk()["fired.kill_switch_trips"] == 1


def test_pumps_run_one_at_a_time_and_send_each_intent_once(dip: Desk) -> None:
    for _ in range(20):
        dip.broker.submit(buy(6.0), 0)

    async def both() -> None:
        await asyncio.gather(dip.broker.work(), dip.broker.work(), dip.broker.work())

    asyncio.run(both())
    assert dip.server.stats.orders == 20 and len(dip.broker.fills) == 20


def test_retry_after_holds_the_queue_for_as_long_as_the_venue_says(dip: Desk) -> None:
    dip.server.faults.rate_limit_next(1, "/api/v3/order", retry_after_s=2)
    broker = dip.send(buy(50.0))
    assert dip.server.stats.orders == 0
    dip.clock.now += 1.5
    broker.pump()
    assert len(dip.server.requests_to("/api/v3/order")) == 1  # still waiting
    dip.clock.now += 0.6
    broker.pump()
    assert dip.server.stats.orders == 1 and len(broker.fills) == 1


def test_the_circuit_breaker_trips_after_repeated_rejections(tmp_path: Path) -> None:
    with desk_on(tmp_path, steady_then_dip(), 5, breaker_after=3, breaker_pause_s=60.0) as desk:
        server = desk.server
        server.account.balances["USDT"].free -= 990  # spent elsewhere: the venue says -2010
        broker = desk.send(*[buy(50.0) for _ in range(5)])
        assert server.stats.errors == {-2010: 3}
        assert broker.skipped[-1].reason.startswith("circuit breaker: 3 rejections in a row")
        desk.clock.now += 61
        desk.send(buy(5.5))  # the pause is over: this one fits the balance
        assert server.stats.orders == 1


@pytest.mark.parametrize(
    ("intent", "reason"),
    [
        (buy(5.1), "NOTIONAL: 4.895"),  # 0.05099 at the ask passes, at the average (96) not
        (OrderIntent(Side.BUY, OrderType.MARKET, amount=2.0), "MARKET_LOT_SIZE: 2 over"),
        (limit(19.1, 0.3), "PERCENT_PRICE_BY_SIDE: 19.1 outside"),
        (limit(481.0, 0.011), "PERCENT_PRICE_BY_SIDE: 481 outside"),
    ],
)
def test_an_order_breaking_a_raw_filter_is_refused_here_not_by_the_venue(
    rise: Desk, intent: OrderIntent, reason: str
) -> None:
    broker = rise.send(intent)
    assert [s.reason[: len(reason)] for s in broker.skipped] == [reason]
    assert broker.events[-1].status is OrderStatus.REJECTED
    assert len(rise.server.requests_to("/api/v3/order")) == 0
    assert rise.server.stats.errors[-1013] == 0


def test_max_num_orders_is_counted_here(rise: Desk) -> None:
    broker = rise.send(*[limit(90.0 + i, 0.06) for i in range(4)])
    assert len(broker.working) == 3
    assert broker.skipped[-1].reason == "MAX_NUM_ORDERS: 3 orders open, at most 3"
    assert rise.server.stats.errors[-1013] == 0


def test_a_halted_symbol_refuses_in_one_line(tmp_path: Path) -> None:
    with desk_on(tmp_path, steady_then_dip(), 5, status="HALT") as desk:
        broker = desk.send(buy(50.0))
        assert [s.reason for s in broker.skipped] == [
            "BTC/USDT is not trading on the exchange (status HALT)"
        ]
        assert desk.server.requests_to("/api/v3/order") == []


def test_hundreds_of_orders_at_the_filters_edges_get_no_minus_1013(rise: Desk) -> None:
    """Phase 6: market buys sized around min notional, limits around the price band's
    edges, exits of the whole position and cancels; the exchange answers no -1013, and
    the broker's holdings are the exchange's balance."""
    rng, broker = random.Random(7), rise.broker
    for i in range(600):
        pick = rng.random()
        if pick < 0.4:
            intent: OrderIntent | CancelOrders = buy(rng.uniform(4.9, 5.6))
        elif pick < 0.55:
            intent = SELL_ALL if broker.position > 0 else buy(rng.uniform(5.5, 8.0))
        elif pick < 0.9:
            price = round(rng.choice([19.2, 480.0]) * rng.uniform(0.995, 1.005), 2)
            intent = OrderIntent(
                Side.BUY, OrderType.LIMIT, quote=rng.uniform(4.95, 5.3), price=price, tag="band"
            )
        else:
            intent = CancelOrders("band")
        rise.send(intent)
        if i % 50 == 49:
            rise.send(CancelOrders("band"))
    stats = rise.server.stats
    assert stats.errors[-1013] == 0 and stats.duplicate_client_ids == []
    assert all(s.reason for s in broker.skipped)
    refused = collections.Counter(s.reason.partition(":")[0] for s in broker.skipped)
    assert stats.orders >= 250, (stats.orders, refused)
    assert rise.held_on_exchange() == pytest.approx(broker.holdings, abs=1e-9)
