"""The hard risk limits, as a user relies on them: asserted on the orders that left."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.engine.bars import candles
from tests.engine.lanes import run_one
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import CancelOrders, Command, Fill, OrderIntent, OrderType, Side
from thunes.engine.replay import ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Columns
from thunes.strategy.events import Account, Bar, EventStrategy

FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
FEES = Fees(0.001, 0.001, from_received=False)
LIMITS = RiskLimits(
    max_loss_per_trade=5.0,
    max_daily_loss=20.0,
    max_open_positions=3,
    cooldown_minutes=60.0,
    kill_switch=True,
)


UNBOUND = RiskLimits(float("inf"), float("inf"), 3, 0.0, True)  # what each test then tightens


class FlipFlop(EventStrategy):
    """Buys at every close when flat, sells at the next close: one round trip per two bars."""

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        side = Side.SELL if account.position > 0 else Side.BUY
        return [OrderIntent(side, OrderType.MARKET, tag="flip")]


class BuyAndHold(EventStrategy):
    """Buys once at the first close and never sells by itself."""

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        return [OrderIntent(Side.BUY, OrderType.MARKET, tag="hold")] if bar.index == 0 else []


def run(
    strategy: EventStrategy,
    rows: list[tuple[float, float, float, float]],
    limits: RiskLimits = LIMITS,
) -> tuple[ReplayResult, RiskEngine]:
    risk = RiskEngine(limits, FEES.taker)
    broker = SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 1_000.0, risk)
    return run_one(strategy, broker, candles(rows)), risk


def falling(bars: int, start: float = 100.0, step: float = 0.06) -> list[tuple[float, ...]]:
    """Each bar opens 6% under the previous one: every long round trip loses about 6 USDT."""
    rows, price = [], start
    for _ in range(bars):
        rows.append((price, price, price * 0.999, price))
        price *= 1 - step
    return rows  # type: ignore[return-value]


def test_max_loss_per_trade_stop_caps_the_loss_at_five_usdt() -> None:
    # entry at 97: 100/97 = 1.0309 -> 1.030 bought for 99.91 + 0.09991 fee = 100.00991.
    # stop where 1.030 * p * 0.999 = 100.00991 - 5 -> p = 92.3346 -> 92.34 (rounded up)
    rows = [(97, 97, 97, 97), (97, 97, 97, 97), (96, 96, 90, 91)]
    result, risk = run(BuyAndHold(), rows, LIMITS)
    exit_fill = result.fills[1]
    assert (exit_fill.bar, exit_fill.price, exit_fill.tag) == (2, 92.34, "risk:max_loss")
    cost = 1.030 * 97 * 1.001
    loss = cost - (1.030 * 92.34 - exit_fill.fee)
    assert 4.99 < loss <= 5.0
    assert risk.fired["max_loss_per_trade"] == 1


class BuyUnderTakeProfit(BuyAndHold):
    """Buys once, then rests a take-profit for the whole position, as a DCA does."""

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        if fill.side is Side.SELL:
            return []
        return [OrderIntent(Side.SELL, OrderType.LIMIT, price=110.0, tag="dca:take_profit")]


def test_a_take_profit_holding_the_whole_position_leaves_the_max_loss_stop_in_force() -> None:
    # the simulated broker's stop and take-profit both rest on the whole position (no
    # venue's balance to hold): the dip reaches the stop first, as without the take-profit
    rows = [(97, 97, 97, 97), (97, 97, 97, 97), (97, 97, 97, 97), (96, 96, 90, 91)]
    result, risk = run(BuyUnderTakeProfit(), rows, LIMITS)
    assert [(f.bar, f.price, f.tag) for f in result.fills] == [
        (1, 97.0, "hold"),
        (3, 92.34, "risk:max_loss"),
    ]
    assert risk.fired["max_loss_per_trade"] == 1 and result.skipped == []
    rise = [*rows[:3], (100, 112, 99, 111)]  # the take-profit rests: a rise through it fills it
    result, _ = run(BuyUnderTakeProfit(), rise, LIMITS)
    assert [(f.bar, f.price, f.tag) for f in result.fills][1:] == [(3, 110.0, "dca:take_profit")]


def test_kill_switch_leaves_zero_buys_for_the_rest_of_the_day() -> None:
    limits = replace(UNBOUND, max_daily_loss=20.0)
    result, risk = run(FlipFlop(), falling(30), limits)
    sells = [f for f in result.fills if f.side is Side.SELL]
    day_loss, trip_bar = 0.0, None
    buys = {f.bar: f for f in result.fills if f.side is Side.BUY}
    for sell in sells:  # find the sell after which the day's realised loss reached 20
        buy = buys[max(bar for bar in buys if bar < sell.bar)]
        day_loss += buy.amount * buy.price + buy.fee - (sell.amount * sell.price - sell.fee)
        if day_loss >= 20:
            trip_bar = sell.bar
            break
    assert trip_bar is not None and risk.fired["kill_switch_trips"] == 1
    midnight = 24  # the candles start at 2024-01-01 00:00 UTC, hourly
    assert trip_bar < midnight - 2
    assert not [f for f in result.fills if trip_bar < f.bar < midnight]  # zero orders
    refused = {s.reason for s in result.skipped if trip_bar <= s.bar < midnight - 1}
    assert refused == {"kill_switch"}


def test_kill_switch_resets_on_the_next_utc_day() -> None:
    limits = replace(UNBOUND, max_daily_loss=20.0)
    result, _ = run(FlipFlop(), falling(30) + [(16.0, 16.0, 16.0, 16.0)] * 20, limits)
    assert any(f.bar >= 24 and f.side is Side.BUY for f in result.fills)  # a new day


def test_no_buy_within_the_cooldown_after_a_loss() -> None:
    limits = replace(UNBOUND, cooldown_minutes=150.0)
    result, risk = run(FlipFlop(), falling(12), limits)
    fills = result.fills
    for sell, buy in zip(fills[1::2], fills[2::2], strict=False):
        assert buy.side is Side.BUY and buy.bar - sell.bar >= 3  # 150 min: not before +3 h
    assert risk.fired["cooldown"] > 0


@pytest.mark.parametrize("limits", [LIMITS])
def test_sells_are_never_refused_by_risk(limits: RiskLimits) -> None:
    risk = RiskEngine(limits, 0.001)
    risk.halted_day = 0
    sell = OrderIntent(Side.SELL, OrderType.MARKET)
    assert risk.allows(sell, now_ms=1_000, open_positions=0, holding=True) is None
    assert risk.allows(OrderIntent(Side.BUY, OrderType.MARKET), 1_000, 0, False) == "kill_switch"


def test_the_trading_states_say_what_may_still_leave() -> None:
    # a trip's day: REDUCING with the kill-switch (sells leave, buys do not), HALTED without
    # it (nothing new leaves); a cancel is no new order: it still withdraws a resting one
    day_ms = 19_723 * 86_400_000 + 3_600_000
    for kill_switch, state, sell in ((True, "reducing", None), (False, "halted", "kill_switch")):
        risk = RiskEngine(replace(LIMITS, kill_switch=kill_switch), FEES.taker)
        broker = SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 1_000.0, risk)
        broker.at(day_ms, 100.0)
        broker.submit(OrderIntent(Side.BUY, OrderType.LIMIT, quote=50.0, price=95.0, tag="dip"))
        assert [o.tag for o in broker.open_orders()] == ["dip"]
        risk.halted_day = 19_723
        assert risk.trading(day_ms) == state
        buy, ask = OrderIntent(Side.BUY, OrderType.MARKET), OrderIntent(Side.SELL, OrderType.MARKET)
        assert risk.allows(buy, day_ms, 0, False) == "kill_switch"
        assert risk.allows(ask, day_ms, 0, True) == sell
        broker.submit(CancelOrders("dip"))
        assert broker.open_orders() == []
        assert risk.trading(day_ms + 86_400_000) == "active"  # the next UTC day
