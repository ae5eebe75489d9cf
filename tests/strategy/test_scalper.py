"""The tick scalper: fills worked out by hand on literal ticks, batch == per-event parity on
simulated ticks, and the honest cost of naive taker scalping against a 0.1% fee.

The scalper decides and the shared broker (broker_core.on_quote) fills, as for candles. Where
that differs from the tick engine's former private broker, the expected values below changed,
with the reason where they do (PATH): the strategy answers a quote it has seen, after the
broker matched it, so a time-limit exit decided at one tick is a market sell filled at the
next tick's bid, and a maker entry found stale is withdrawn after that quote could fill it."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.config.compose import composed
from thunes.config.validate import validate
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.domain.ticks import BookTick
from thunes.engine.tick_engine import TickEngine, TickResult, run_ticks
from thunes.errors import ConfigError
from thunes.exchange.sim import SimExchange
from thunes.execution.filters import ceil_to, floor_to
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.scalper import Scalper, cost_breakdown, to_grid

MAKER, TAKER = 0.001, 0.002  # distinct, so each fill's fee shows which side of the book it took
FEES = Fees(MAKER, TAKER, from_received=False)
FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
BUY, SELL = Side.BUY, Side.SELL
ENTRY, TP, STOP, TIME = "scalper:entry", "scalper:take_profit", "scalper:stop", "scalper:time_limit"
N, Y, Y9 = (5.0, 5.0), (8.0, 2.0), (9.0, 1.0)  # imbalance 0 (none), 0.6 (just enough), 0.8


def ticks(*rows: tuple[float, tuple[float, float], float]) -> pd.DataFrame:
    """Ticks every 100 ms from literal (bid, (bid_size, ask_size), ask) rows."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq="100ms", tz="UTC")
    data = [(bid, sizes[0], ask, sizes[1]) for bid, sizes, ask in rows]
    return pd.DataFrame(data, index=index, columns=["bid", "bid_size", "ask", "ask_size"])


def scalper(**overrides: float | str) -> Scalper:
    rules: dict[str, float | str] = {
        "imbalance_threshold": 0.6,
        "take_profit_ticks": 3,
        "stop_loss_ticks": 6,
        "max_hold_ms": 500,
        "entry": "maker",
        "quote_amount": 50.0,
        "cancel_after_ms": 500,
    }
    return Scalper(**{**rules, **overrides})  # type: ignore[arg-type]


def fill(tick: int, side: Side, price: float, amount: float, tag: str, maker: bool) -> Fill:
    fee = amount * price * (MAKER if maker else TAKER)
    return Fill(tick, side, price, amount, pytest.approx(fee, rel=1e-12), tag, maker)  # type: ignore[arg-type]


# Maker entries, 100 ms a tick, tick size 0.01: entry at the bid, TP +3 ticks, stop -6 ticks,
# time limit 500 ms, an unfilled entry withdrawn after 500 ms; 50 quote a trade.
PATH = ticks(
    (100.00, Y, 100.01),  # 0: imbalance 0.6: buy limit 100.00 x 0.5 (50/100), rests from 1
    (99.99, N, 100.00),  # 1: the ask only touches 100.00: no fill
    (99.98, N, 99.99),  # 2: the ask trades through: BUY 0.5 @ 100.00 maker; TP 100.03, stop 99.94
    (100.03, N, 100.04),  # 3: the bid touches the TP: no fill
    (100.04, N, 100.05),  # 4: the bid is above it: SELL 0.5 @ 100.03 maker (not at 100.04)
    (100.04, Y9, 100.05),  # 5: buy limit 100.04 x 0.499 (50/100.04 = 0.4998 down), t = 500
    (100.05, N, 100.06),  # 6
    (100.04, N, 100.05),  # 7
    (100.03, N, 100.04),  # 8: a touch again: no fill
    (100.04, N, 100.05),  # 9
    (100.04, N, 100.05),  # 10: t = 1000, 500 ms on: withdrawn (*)
    (100.00, Y, 100.01),  # 11: buy limit 100.00 x 0.5
    (99.95, N, 99.96),  # 12: BUY 0.5 @ 100.00 maker; TP 100.03, stop 99.94
    (99.95, N, 99.96),  # 13: a tick above the stop
    (99.91, N, 99.92),  # 14: through the stop: SELL 0.5 @ 99.91, the bid, taker
    (99.92, Y, 99.93),  # 15: buy limit 99.92 x 0.5 (50/99.92 = 0.5004 down)
    (99.90, N, 99.91),  # 16: BUY 0.5 @ 99.92 maker, t = 1600; TP 99.95, stop 99.86
    (99.95, N, 99.96),  # 17: TP touched
    (99.87, N, 99.88),  # 18: a tick above the stop
    (99.90, N, 99.91),  # 19
    (99.93, N, 99.94),  # 20
    (99.91, N, 99.92),  # 21: t = 2100, 500 ms held: a market sell (**)
    (99.91, N, 99.92),  # 22: SELL 0.5 @ 99.91, the bid, taker
)
# (*) was (100.02, N, 100.03), which the withdrawal preceded: now the broker matches a quote
# before the strategy finds its entry stale, and that ask would fill it (see
# test_a_stale_entry_is_withdrawn_after_the_quote_that_finds_it_stale); a quote that does not
# cross keeps this path's withdrawal. (**) was sold at tick 21's bid: the strategy decides on
# a quote the broker has matched, so its market sell meets the next quote.
PATH_FILLS = [
    fill(2, BUY, 100.00, 0.5, ENTRY, maker=True),
    fill(4, SELL, 100.03, 0.5, TP, maker=True),
    fill(12, BUY, 100.00, 0.5, ENTRY, maker=True),
    fill(14, SELL, 99.91, 0.5, STOP, maker=False),
    fill(16, BUY, 99.92, 0.5, ENTRY, maker=True),
    fill(22, SELL, 99.91, 0.5, TIME, maker=False),
]


def test_maker_path_worked_by_hand() -> None:
    result = run_ticks(PATH, scalper(), FEES, FILTERS, 1_000.0)
    assert result.fills == PATH_FILLS
    assert result.skipped == []
    # cash: -50.05 +50.015-0.050015 -50.05 +49.955-0.09991 -49.96-0.04996 +49.955-0.09991
    assert result.equity[-1] == pytest.approx(999.565205, abs=1e-9)
    # after the first buy: 1000 - 50.05 in cash, 0.5 marked at the bid 99.98
    assert result.equity[2] == pytest.approx(949.95 + 0.5 * 99.98, abs=1e-9)
    assert result.equity[0] == result.equity[1] == 1_000.0  # a resting order costs nothing yet


@pytest.mark.parametrize("crosses", [False, True])
def test_a_stale_entry_is_withdrawn_after_the_quote_that_finds_it_stale(crosses: bool) -> None:
    # A buy limit 100.00 x 0.5 placed at t = 0 is 500 ms old at tick 5. The broker matches
    # tick 5's quote first (a venue fills a resting order until the cancel reaches it): an ask
    # under 100.00 there fills it; else the strategy withdraws it and tick 6 cannot fill it.
    last = (99.98, N, 99.99) if crosses else (100.00, N, 100.01)
    path = ticks((100.00, Y, 100.01), *[(100.00, N, 100.01)] * 4, last, (99.98, N, 99.99))
    result = run_ticks(path, scalper(take_profit_ticks=9), FEES, FILTERS, 1_000.0)
    assert result.fills == ([fill(5, BUY, 100.00, 0.5, ENTRY, maker=True)] if crosses else [])


def test_taker_entry_pays_the_next_ask_and_the_taker_fee() -> None:
    path = ticks(
        (100.00, Y, 100.02),  # 0: signal: a market buy, sent now, meets the next tick
        (100.05, N, 100.07),  # 1: BUY 0.499 @ 100.07, the ask (50/100.07 = 0.49965 down), taker
        (100.10, N, 100.12),  # 2: TP 100.10 touched: no fill
        (100.11, N, 100.13),  # 3: SELL 0.499 @ 100.10 maker
    )
    result = run_ticks(path, scalper(entry="taker"), FEES, FILTERS, 1_000.0)
    assert result.fills == [
        fill(1, BUY, 100.07, 0.499, ENTRY, maker=False),
        fill(3, SELL, 100.10, 0.499, TP, maker=True),
    ]


def test_an_order_under_min_notional_is_skipped_once_per_run_of_refusals() -> None:
    # 4 quote < min notional 5: the signal at ticks 0, 1 and 3 is refused; one record
    path = ticks((100.0, Y, 100.01), (100.0, Y, 100.01), (100.0, N, 100.01), (100.0, Y, 100.01))
    result = run_ticks(path, scalper(quote_amount=4.0), FEES, FILTERS, 1_000.0)
    assert result.fills == []
    assert result.skipped == [SkippedOrder(0, BUY, 100.0, 0.04, "below minimum", ENTRY)]


def test_cash_never_goes_negative() -> None:
    # 30 quote of cash, 50 quote asked: the maker buy is refused, the market buy shrinks
    maker = run_ticks(PATH, scalper(), FEES, FILTERS, 30.0)
    assert maker.fills == [] and maker.skipped[0].reason == "insufficient cash"
    taker = run_ticks(PATH, scalper(entry="taker"), FEES, FILTERS, 30.0)
    assert taker.fills[0].amount == 0.299  # 30 / 1.002 / 100.00 = 0.2994 down
    assert min(taker.equity) > 0


def test_risk_protective_stop_at_the_bid_then_the_kill_switch() -> None:
    # max loss 0.2 on a 0.5 @ 100.00 entry (cost 50.05): stop (50.05 - 0.2) / (0.5 * 0.998)
    # = 99.8998 -> 99.90 (rounded up), above the rules' stop (50 ticks: 99.50). It guards from
    # the entry's own tick. The loss, 50.05 - (49.945 - 0.09989) = 0.20489, passes the daily
    # limit of 0.2: no more buys today, refused once in the skipped orders, and counted once:
    # the counters count orders refused, not the ticks at which the rule was asked.
    risk = RiskEngine(RiskLimits(0.2, 0.2, 1, 0.0, True), TAKER)
    path = ticks(
        (100.00, Y, 100.01),  # 0: buy limit 100.00 x 0.5
        (99.91, N, 99.92),  # 1: BUY 0.5 @ 100.00 maker; bid 99.91 > 99.90: held
        (99.89, N, 99.90),  # 2: bid 99.89 <= 99.90: SELL 0.5 @ 99.89 taker, risk:max_loss
        (99.89, Y, 99.90),  # 3: halted: refused
        (99.89, Y, 99.90),  # 4: refused, not recorded again
    )
    result = run_ticks(path, scalper(stop_loss_ticks=50), FEES, FILTERS, 1_000.0, risk)
    assert result.fills == [
        fill(1, BUY, 100.00, 0.5, ENTRY, maker=True),
        fill(2, SELL, 99.89, 0.5, MAX_LOSS_TAG, maker=False),
    ]
    assert [(s.bar, s.reason) for s in result.skipped] == [(3, "kill_switch")]
    assert dict(risk.fired) == {"max_loss_per_trade": 1, "kill_switch_trips": 1, "kill_switch": 1}
    assert risk.day_realised == pytest.approx(-0.20489, abs=1e-12)


def test_cooldown_after_a_losing_exit() -> None:
    risk = RiskEngine(RiskLimits(float("inf"), 1e9, 1, 0.005, True), TAKER)  # 300 ms
    path = ticks(
        (100.00, Y, 100.01),  # 0: buy limit 100.00 x 0.5
        (99.95, N, 99.96),  # 1: BUY @ 100.00
        (99.90, N, 99.91),  # 2: stop 99.94: SELL @ 99.90 at t = 200, a loss: cooldown to 500
        (99.90, Y, 99.91),  # 3: refused (cooldown)
        (99.90, Y, 99.91),  # 4: refused, not recorded again
        (99.90, Y, 99.91),  # 5: t = 500: allowed, buy limit 99.90
        (99.85, N, 99.86),  # 6: BUY 0.5 @ 99.90
    )
    engine = TickEngine(scalper(), FEES, FILTERS, 1_000.0, risk)
    result = engine.run_ticks(path)
    assert [(f.bar, f.tag) for f in result.fills] == [(1, ENTRY), (2, STOP), (6, ENTRY)]
    assert [(s.bar, s.reason) for s in result.skipped] == [(3, "cooldown")]
    assert risk.fired["cooldown"] == 1  # one order refused, though asked at two ticks
    assert risk.cooldown_until_ms == path.index[2].value // 1_000_000 + 300


def test_one_tick_at_a_time_gives_the_hand_worked_fills() -> None:
    engine = TickEngine(scalper(), FEES, FILTERS, 1_000.0)
    fills = [f for tick in book_ticks(PATH) for f in engine.on_tick(tick)]
    assert fills == PATH_FILLS
    assert engine.account() == (pytest.approx(999.565205, abs=1e-9), 0.0)


def book_ticks(frame: pd.DataFrame) -> list[BookTick]:
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.tolist()
    rows = frame[["bid", "bid_size", "ask", "ask_size"]].itertuples(index=False)
    return [BookTick(t, *row) for t, row in zip(times, rows, strict=True)]


def sim_ticks(n: int, seed: int = 11) -> tuple[pd.DataFrame, MarketFilters]:
    exchange = SimExchange(seed=seed)
    start = int(pd.Timestamp("2024-03-01", tz="UTC").value // 1_000_000)
    return exchange.book_ticks("BTC/USDT", start, n), exchange.market_filters("BTC/USDT")


def same(a: TickResult, b: TickResult) -> bool:
    """Equal results; skipped market buys have a NaN amount (as in the candle broker): repr."""
    skipped_alike = repr(a.skipped) == repr(b.skipped)
    return a.fills == b.fills and skipped_alike and np.array_equal(a.equity, b.equity)


@pytest.mark.parametrize("entry", ["maker", "taker"])
@pytest.mark.parametrize("with_risk", [False, True])
def test_batch_equals_one_tick_at_a_time_on_sim_ticks(entry: str, with_risk: bool) -> None:
    frame, filters = sim_ticks(20_000)
    # BTC near 11,400 moves ~12 price ticks a tick: exits 40 and 60 ticks away all happen; the
    # risk engine's stop (0.102 quote on ~50) sits about 46 ticks under the entry
    rules = scalper(
        entry=entry,
        take_profit_ticks=40,
        stop_loss_ticks=60,
        max_hold_ms=3_000,
        cancel_after_ms=1_000,
    )
    limits = RiskLimits(0.102, 5.0, 1, 0.02, True)

    def engine() -> TickEngine:
        risk = RiskEngine(limits, 0.001) if with_risk else None
        return TickEngine(rules, Fees(0.001, 0.001, from_received=False), filters, 500.0, risk)

    batch = engine().run_ticks(frame)
    tags, reasons = {f.tag for f in batch.fills}, {s.reason for s in batch.skipped}
    assert len(batch.fills) >= 100  # a comparison that means something: every exit happens
    if with_risk:
        assert {TP, TIME, MAX_LOSS_TAG} <= tags and {"cooldown", "kill_switch"} <= reasons
    else:
        assert {TP, STOP, TIME} <= tags
    one_by_one = engine()
    streamed = [f for tick in book_ticks(frame) for f in one_by_one.on_tick(tick)]
    assert streamed == batch.fills and same(one_by_one.result(), batch)
    mixed = engine()  # a batch, then ticks one at a time: one state, one tick count
    mixed.run_ticks(frame.iloc[:7_000])
    for tick in book_ticks(frame.iloc[7_000:]):
        mixed.on_tick(tick)
    assert same(mixed.result(), batch)


@pytest.mark.parametrize("from_received", [False, True], ids=["fee_on_top", "fee_from_received"])
def test_naive_taker_scalping_loses_to_fees_and_spread(from_received: bool) -> None:
    """Taker entries, a 1-tick take-profit, Binance's 0.1% fee, on 200k sim ticks (5.5 h)."""
    frame, filters = sim_ticks(200_000)
    cash = 1_000.0
    naive = scalper(entry="taker", take_profit_ticks=1, max_hold_ms=30_000)
    engine = TickEngine(naive, Fees(0.001, 0.001, from_received=from_received), filters, cash)
    result = engine.run_ticks(frame)
    costs = cost_breakdown(result.fills, frame["bid"].to_numpy(), frame["ask"].to_numpy())
    final, held = float(result.equity[-1]), engine.account()[1]
    trips = sum(f.side is SELL for f in result.fills)
    print(
        f"\nnaive taker scalper, {len(frame):,} BTC/USDT sim ticks, {trips:,} round trips: "
        f"equity {cash:.2f} -> {final:.2f} ({final - cash:+.2f}); fees {costs['fees']:.2f}, "
        f"spread {costs['spread']:.2f}, mid-price PnL {costs['mid_pnl']:+.2f}"
    )
    assert final < cash
    mark = held * float(frame["bid"].iloc[-1])
    pnl = costs["mid_pnl"] - costs["spread"] - costs["fees"] + mark
    assert final - cash == pytest.approx(pnl, abs=1e-6)  # the breakdown is exact
    assert costs["fees"] + costs["spread"] > 0.9 * (cash - final)  # the costs are the loss


def test_to_grid_rounds_as_the_order_filters_do() -> None:
    values = np.random.default_rng(3).uniform(0.0001, 30_000, 2_000)
    values = np.concatenate([values, [0.3, 1.0, 2.675, 100.035, 0.1 + 0.2]])
    for step in (0.01, 0.001, 1e-5, 0.5, 1.0):
        for value in values:
            assert to_grid(value, step, False) == floor_to(float(value), step)
            assert to_grid(value, step, True) == ceil_to(float(value), step)


def test_config_composes_validates_and_instantiates() -> None:
    with composed("strategy=scalper", "data=sim_ticks") as cfg:
        validate(cfg)
        built = instantiate(cfg.strategy, _convert_="all")
    assert isinstance(built, Scalper)
    names = inspect.signature(Scalper).parameters
    assert {name: getattr(built, name) for name in names} == {
        "imbalance_threshold": 0.6,
        "take_profit_ticks": 3,
        "stop_loss_ticks": 6,
        "max_hold_ms": 30_000,
        "entry": "maker",
        "quote_amount": 50.0,
        "cancel_after_ms": 5_000,
    }


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("strategy.entry=limit", "strategy.entry"),
        ("strategy.imbalance_threshold=1.5", "strategy.imbalance_threshold"),
        ("strategy.take_profit_ticks=0", "strategy.take_profit_ticks"),
        ("strategy.cancel_after_ms=-1", "strategy.cancel_after_ms"),
        ("strategy.quote_amount=0", "strategy.quote_amount"),
    ],
)
def test_config_rejects_bad_values(override: str, key: str) -> None:
    with (
        composed("strategy=scalper", "data=sim_ticks", override) as cfg,
        pytest.raises(ConfigError, match=key),
    ):
        validate(cfg)
