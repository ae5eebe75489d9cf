"""Hand-worked fills of the simulated broker: market, stops, targets, the intrabar rule."""

from __future__ import annotations

import pytest

from tests.engine.bars import candles
from tests.engine.lanes import run_one
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import (
    CancelOrders,
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
)
from thunes.engine.sim_broker import SimBroker
from thunes.portfolio.sizing import FixedQuote
from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.events import Account, Bar, EventStrategy
from thunes.strategy.signal_runner import SignalRunner

FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
FEES = Fees(maker=0.001, taker=0.002, from_received=False)


class EnterOnce(Strategy):
    """Enters at the first bar's close; never exits by signal."""

    def __init__(self, **exits: float) -> None:
        for name, value in exits.items():
            setattr(self, name, value)

    @property
    def warmup(self) -> int:
        return 1

    def signals(self, candles: Columns) -> Signals:
        entries = candles["close"] > 0
        return Signals(entries, ~entries)


def run(rows: list[tuple[float, float, float, float]], **exits: float) -> list[Fill]:
    broker = SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 1_000.0)
    return run_one(SignalRunner(EnterOnce(**exits)), broker, candles(rows)).fills


def test_market_entry_fills_at_the_next_open_with_the_taker_fee() -> None:
    fills = run([(100, 101, 99, 100), (100.5, 102, 100, 101), (101, 101, 101, 101)])
    # decided at bar 0's close, filled at bar 1's open 100.5:
    # amount = 100 / 100.5 = 0.99502 -> 0.995 (step 0.001); fee = 0.995*100.5*0.002 = 0.199995
    assert fills == [Fill(1, Side.BUY, 100.5, 0.995, pytest.approx(0.199995), "entry")]


def test_stop_and_target_touched_in_one_bar_take_the_stop() -> None:
    # entry at bar 1's open 100: 100 / 100 = 1.0 bought (exactly on the 0.001 step).
    # stop 5% -> 95, target 5% -> 105. Bar 2 spans 94..106: both are met; the path
    # open -> low -> high meets the stop first.
    fills = run(
        [(100, 100, 100, 100), (100, 100, 100, 100), (100, 106, 94, 100)],
        stop_loss=0.05,
        take_profit=0.05,
    )
    assert [(f.bar, f.side, f.price, f.tag) for f in fills] == [
        (1, Side.BUY, 100.0, "entry"),
        (2, Side.SELL, 95.0, "exit:stop_loss"),
    ]
    assert fills[1].amount == 1.0
    assert fills[1].fee == pytest.approx(1.0 * 95.0 * FEES.taker)


def test_a_target_needs_the_market_to_trade_through_it() -> None:
    # target 105: bar 2's high only touches 105 -> no fill; bar 3's high 105.01 -> fill at 105,
    # a limit order, so the maker fee
    fills = run(
        [
            (100, 100, 100, 100),
            (100, 100, 100, 100),
            (101, 105, 100.5, 104),
            (104, 105.01, 103, 104),
        ],
        take_profit=0.05,
    )
    assert [(f.bar, f.price, f.tag, f.maker) for f in fills[1:]] == [
        (3, 105.0, "exit:take_profit", True)
    ]
    assert fills[1].fee == pytest.approx(1.0 * 105.0 * FEES.maker)


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    fills = run([(100, 100, 100, 100), (100, 100, 100, 100), (90, 92, 88, 91)], stop_loss=0.05)
    assert (fills[1].bar, fills[1].price) == (2, 90.0)


def test_trailing_stop_follows_the_high_and_exits_below_it() -> None:
    # entry 100 -> trail 10% -> stop 90; bar 2 high 120 -> stop moves to 108 from bar 3 on;
    # bar 3 low 107 -> exit at 108
    fills = run(
        [(100, 100, 100, 100), (100, 100, 100, 100), (100, 120, 99, 119), (118, 119, 107, 110)],
        trailing_stop=0.1,
    )
    assert [(f.bar, f.price, f.tag) for f in fills[1:]] == [(3, 108.0, "exit:trailing")]


def test_a_resting_buy_locks_cash_and_an_unaffordable_one_is_skipped() -> None:
    broker = SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 150.0)
    broker.submit(OrderIntent(Side.BUY, OrderType.LIMIT, quote=100.0, price=99.0, tag="a"))
    broker.submit(OrderIntent(Side.BUY, OrderType.LIMIT, quote=100.0, price=98.0, tag="b"))
    assert [o.tag for o in broker.resting] == ["a"]
    assert [(s.tag, s.reason) for s in broker.skipped] == [("b", "insufficient cash")]


class Recorder(EventStrategy):
    """Places a limit, a too-small buy and a market buy, cancels the limit; keeps every event."""

    def __init__(self) -> None:
        self.events: list[OrderEvent] = []
        self.fills: list[Fill] = []

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        if bar.index == 0:
            return [
                OrderIntent(Side.BUY, OrderType.LIMIT, quote=50.0, price=90.0, tag="rest"),
                OrderIntent(Side.BUY, OrderType.MARKET, quote=1.0, tag="tiny"),  # < 5 notional
                OrderIntent(Side.BUY, OrderType.MARKET, quote=50.0, tag="go"),
            ]
        return [CancelOrders("rest")] if bar.index == 1 else []

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        self.fills.append(fill)
        return []

    def on_order_event(self, event: OrderEvent, account: Account) -> list[Command]:
        self.events.append(event)
        return []


def test_the_strategy_hears_accepts_rejects_and_cancels() -> None:
    recorder = Recorder()
    broker = SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 1_000.0)
    run_one(
        recorder, broker, candles([(100, 100, 100, 100), (100, 101, 99, 100), (100, 100, 100, 100)])
    )
    assert [(e.status, e.tag) for e in recorder.events] == [
        (OrderStatus.NEW, "rest"),  # rests at 90 from bar 1
        (OrderStatus.NEW, "tiny"),  # queued for bar 1's open...
        (OrderStatus.NEW, "go"),
        (OrderStatus.REJECTED, "tiny"),  # ...where 1 USDT is under the 5 USDT min notional
        (OrderStatus.CANCELED, "rest"),  # the cancel at bar 1's close
    ]
    assert recorder.events[3].reason == "below minimum"
    assert [(f.bar, f.tag) for f in recorder.fills] == [(1, "go")]


def test_a_fee_taken_from_what_a_buy_receives_leaves_dust_that_is_held_not_sold() -> None:
    # Binance's way: 100 quote at 100.5 buys 0.995 (step 0.001) for 99.9975 of cash, no fee
    # on top; the 0.2% taker fee keeps 0.00199 of it: 0.99301 received, 0.993 to sell and
    # 0.00001 of dust. The stop at 95 (5%) sells the 0.993, its fee out of the quote.
    fees = Fees(maker=0.001, taker=0.002, from_received=True)
    broker = SimBroker(fees, 0.0, FILTERS, FixedQuote(100.0), 1_000.0)
    rows = [(100, 101, 99, 100), (100.5, 102, 100, 101), (96, 96, 94, 95)]
    fills = run_one(SignalRunner(EnterOnce(stop_loss=0.05)), broker, candles(rows)).fills
    buy, sell = fills
    assert (buy.amount, buy.fee_base, buy.tradable) == (0.995, pytest.approx(0.00199), 0.993)
    assert buy.fee == pytest.approx(0.995 * 100.5 * 0.002)  # its worth in quote, for reports
    stop = 100.5 * 0.95  # 95.475, a sell rounded up to the tick: 95.48
    assert (sell.price, sell.amount, sell.fee_base) == (95.48, 0.993, 0.0)
    assert broker.position == 0.0 and broker.holdings == pytest.approx(0.00001)
    cash = 1_000.0 - 0.995 * 100.5 + 0.993 * 95.48 * (1 - 0.002)
    assert broker.cash == pytest.approx(cash, abs=1e-9) and stop < sell.price
    assert broker.equity(95.0) == pytest.approx(cash + 0.00001 * 95.0, abs=1e-9)
