"""Hand-worked fills of the shared broker on best bid/ask quotes (broker_core.on_quote), and
`would_refuse`, which an engine asks before repeating a refused order, against `submit`."""

from __future__ import annotations

import pytest

from tests.engine.test_sim_broker import FEES  # the broker tests' fees: maker 0.1%, taker 0.2%
from thunes.domain.market import MarketFilters
from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.domain.reasons import REASONS
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine import broker_core as c
from thunes.engine.sim_broker import SimBroker, as_row
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits

FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
MAX = "max_open_positions"


def broker(cash: float = 1_000.0, risk: RiskEngine | None = None) -> SimBroker:
    return SimBroker(FEES, 0.0, FILTERS, FixedQuote(50.0), cash, risk)


def fill(tick: int, side: Side, price: float, amount: float, tag: str, maker: bool) -> Fill:
    fee = amount * price * (FEES.maker if maker else FEES.taker)
    return Fill(tick, side, price, amount, pytest.approx(fee, rel=1e-12), tag, maker)  # type: ignore[arg-type]


def test_market_orders_take_the_ask_to_buy_and_the_bid_to_sell() -> None:
    b = broker()
    b.submit(OrderIntent(BUY, MARKET, amount=0.5, tag="in"))
    assert b.on_quote(0, 0, 99.98, 100.02) == [fill(0, BUY, 100.02, 0.5, "in", maker=False)]
    b.submit(OrderIntent(SELL, MARKET, tag="out"))
    assert b.on_quote(1, 100, 100.10, 100.14) == [fill(1, SELL, 100.10, 0.5, "out", maker=False)]


def test_limits_fill_at_their_price_when_the_quote_trades_through_them() -> None:
    b = broker()
    b.submit(OrderIntent(BUY, LIMIT, amount=0.5, price=100.0, tag="in"))
    assert b.on_quote(0, 0, 99.99, 100.00) == []  # rests from the next quote on
    assert b.on_quote(1, 100, 99.98, 100.00) == []  # the ask only touches it
    assert b.on_quote(2, 200, 99.97, 99.99) == [fill(2, BUY, 100.0, 0.5, "in", maker=True)]
    b.submit(OrderIntent(SELL, LIMIT, price=100.05, tag="tp"))
    assert b.on_quote(3, 300, 100.05, 100.06) == []  # the bid only touches it
    assert b.on_quote(4, 400, 100.07, 100.08) == [fill(4, SELL, 100.05, 0.5, "tp", maker=True)]


def test_a_stop_sells_at_the_bid_that_reaches_it_as_a_taker() -> None:
    b = broker()
    b.submit(OrderIntent(BUY, MARKET, amount=0.5, tag="in"))
    b.on_quote(0, 0, 100.0, 100.01)
    b.submit(OrderIntent(SELL, STOP, price=99.90, tag="stop"))
    assert b.on_quote(1, 100, 99.91, 99.92) == []
    assert b.on_quote(2, 200, 99.85, 99.86) == [fill(2, SELL, 99.85, 0.5, "stop", maker=False)]


def test_the_risk_stop_guards_a_buy_from_the_quote_that_filled_it() -> None:
    # max loss 0.2 on 0.5 @ 100.00 (cost 50.05): stop (50.05 - 0.2) / (0.5 * 0.998) = 99.8998
    # -> 99.90. The ask 99.85 fills the buy and the bid 99.84 is under the new stop already.
    risk = RiskEngine(RiskLimits(0.2, 1e9, 1, 0.0, False), FEES.taker)
    b = broker(risk=risk)
    b.submit(OrderIntent(BUY, LIMIT, amount=0.5, price=100.0, tag="in"))
    b.on_quote(0, 0, 100.0, 100.01)
    assert b.on_quote(1, 100, 99.84, 99.85) == [
        fill(1, BUY, 100.0, 0.5, "in", maker=True),
        fill(1, SELL, 99.84, 0.5, MAX_LOSS_TAG, maker=False),
    ]
    assert risk.fired["max_loss_per_trade"] == 1


HALTED = RiskLimits(1.0, 9.0, 1, 0.0, True)  # with the kill-switch tripped today (below)


@pytest.mark.parametrize(
    ("intent", "cash", "limits", "reason"),
    [
        (OrderIntent(BUY, LIMIT, quote=50.0, price=100.0), 1_000.0, None, ""),
        (OrderIntent(BUY, LIMIT, quote=4.0, price=100.0), 1_000.0, None, "below minimum"),
        (OrderIntent(BUY, LIMIT, quote=50.0, price=100.0), 30.0, None, "insufficient cash"),
        (OrderIntent(BUY, MARKET, quote=50.0), 1_000.0, HALTED, "kill_switch"),
        (OrderIntent(BUY, MARKET, quote=50.0), 1_000.0, RiskLimits(1.0, 9.0, 0, 0.0, True), MAX),
        (OrderIntent(SELL, STOP, price=99.0), 1_000.0, HALTED, ""),  # sells are never halted
    ],
)
def test_would_refuse_says_what_submit_does_and_records_nothing(
    intent: OrderIntent, cash: float, limits: RiskLimits | None, reason: str
) -> None:
    risk = None if limits is None else RiskEngine(limits, FEES.taker)
    if risk is not None and limits is HALTED:
        risk.halted_day = 0  # epoch day 0, the broker's clock
    b = broker(cash, risk)
    w, j = b.wallet, b.lane
    asked = c.would_refuse(j, as_row(intent), 0, b.risk_vector, w.book)
    assert REASONS[asked] == reason
    assert int(w.acct[c.AcctRow.N_LOG]) == 0 and (risk is None or not risk.fired)  # asked, not told
    b.submit(intent)
    assert [s.reason for s in b.skipped] == ([reason] if reason else [])


def test_an_order_waits_through_quotes_that_do_not_reach_it() -> None:
    b = broker()
    b.submit(OrderIntent(BUY, LIMIT, amount=0.5, price=100.0, tag="in"))
    assert b.on_quote(7, 700, 100.01, 100.02) == []
    assert b.cash == 1_000.0 and b.position == 0.0
    fills = b.on_quote(8, 800, 99.98, 99.99)
    assert fills == [fill(8, BUY, 100.0, 0.5, "in", maker=True)] and fills[0].time_ms == 800
