"""DCA on hand-written price paths: every expected fill is worked out in the comments.

Broker conventions used below (thunes/engine/sim_broker.py): a market buy decided at bar
t's close fills at bar t+1's open, amount = quote / price rounded DOWN to the step
(0.0001), taker fee 0.1% on the notional; a sell limit rounds its price UP to the tick
(0.01) and fills only when a bar's high is strictly above it, maker fee 0.1%; orders
placed in answer to a fill rest from the next bar.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.config.compose import composed
from tests.engine.lanes import run_one
from thunes.config.validate import validate
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.replay import ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.errors import ConfigError
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.dca import TAKE_PROFIT_TAG, Dca

FEES = Fees(0.001, 0.001, from_received=False)
FILTERS = MarketFilters(tick_size=0.01, step_size=0.0001, min_qty=0.0001, min_notional=5.0)
BUY, SELL = Side.BUY, Side.SELL


def candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Hourly UTC candles from literal (open, high, low, close) rows."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    return frame.astype(float).assign(volume=1.0)


def broker(risk: RiskEngine | None = None) -> SimBroker:
    return SimBroker(FEES, 0.0, FILTERS, FixedQuote(100.0), 10_000.0, risk)


def summary(result: ReplayResult) -> list[tuple[int, Side, float, float, str]]:
    return [(f.bar, f.side, f.price, round(f.amount, 10), f.tag) for f in result.fills]


def fee(fill: Fill) -> float:
    return fill.price * fill.amount * 0.001


# fmt: off
DROPS = candles([
    #  open   high   low    close
    (100.0, 101.0, 99.0, 100.0),  # 0  flat: base buy of 50 decided at this close
    (97.0,  97.5,  96.0,  96.5),  # 1  base fills at the open, 97.00
    (96.5,  97.0,  93.0,  93.5),  # 2  93.5 > 92.15: no safety yet
    (93.5,  94.0,  91.0,  92.0),  # 3  92.0 <= 92.15: safety 1 (75) decided
    (91.0,  92.0,  90.0,  90.5),  # 4  safety 1 fills at 91.00
    (90.5,  91.0,  86.0,  86.2),  # 5  86.2 <= 86.45: safety 2 (112.5) decided
    (86.0,  86.5,  80.0,  81.0),  # 6  safety 2 fills at 86.00; 81 <= 81.7 but the cap is 2
    (81.0,  82.0,  78.0,  79.0),  # 7  still capped: no buy
    (79.0,  85.0,  79.0,  84.0),  # 8
    (84.0,  91.5,  83.0,  90.0),  # 9  high == take-profit 91.50: NOT traded through
    (90.0,  92.0,  89.0,  91.0),  # 10 high 92 > 91.50: take-profit fills; new base decided
    (91.0,  92.0,  90.5,  91.5),  # 11 second cycle's base fills at 91.00
    (91.5,  92.5,  91.0,  92.0),  # 12 last bar: no decision
])
# fmt: on


def drops_dca() -> Dca:
    """The DCA worked by hand over DROPS: 50 quote, a safety order on a 5% drop, x1.5, at
    most two, take-profit 2% above the average entry."""
    return Dca(
        quote_amount=50.0,
        every_bars=None,
        drop_pct=0.05,
        volume_multiplier=1.5,
        max_safety_orders=2,
        take_profit_pct=0.02,
    )


def test_safety_orders_cap_take_profit_and_restart_by_hand() -> None:
    """quote 50, drop 5%, multiplier 1.5, at most 2 safety orders, take-profit 2%.

    Bar 1, base: 50 / 97 = 0.515463.. -> 0.5154 at 97.00 (notional 49.9938, fee 0.0499938).
      Take-profit 97 * 1.02 = 98.94, from bar 2. Safety when a close <= 97 * 0.95 = 92.15.
    Bar 3 closes at 92.0: safety 1 for 50 * 1.5 = 75.
    Bar 4, safety 1: 75 / 91 = 0.824175.. -> 0.8241 at 91.00 (notional 74.9931, fee
      0.0749931). Average (49.9938 + 74.9931) / (0.5154 + 0.8241) = 124.9869 / 1.3395
      = 93.3086..; take-profit 93.3086 * 1.02 = 95.1748 -> 95.18 (highs stay below).
      Next safety when a close <= 91 * 0.95 = 86.45.
    Bar 5 closes at 86.2: safety 2 for 75 * 1.5 = 112.5.
    Bar 6, safety 2: 112.5 / 86 = 1.308139.. -> 1.3081 at 86.00 (notional 112.4966, fee
      0.1124966). Position 2.6476, notional 237.4835, average 237.4835 / 2.6476
      = 89.69765..; take-profit 89.69765 * 1.02 = 91.49160 -> 91.50.
      Bars 6 and 7 close below 86 * 0.95 = 81.7, but two safety orders is the cap.
    Bar 9's high is 91.50 exactly: no fill. Bar 10's high 92 > 91.50: sell 2.6476 at 91.50
      (maker fee 2.6476 * 91.5 * 0.001 = 0.2422554). Cycle 1 completed.
    Bar 10's close opens cycle 2. Bar 11, base: 50 / 91 = 0.549450.. -> 0.5494 at 91.00;
      its take-profit is 91 * 1.02 = 92.82 (bar 12's high 92.5 stays below).
    Peak committed = cycle 1's notional plus fees = 237.4835 * 1.001 = 237.7209835.
    """
    dca = drops_dca()
    sim = broker()
    result = run_one(dca, sim, DROPS)

    assert summary(result) == [
        (1, BUY, 97.00, 0.5154, "dca:base"),
        (4, BUY, 91.00, 0.8241, "dca:safety:1"),
        (6, BUY, 86.00, 1.3081, "dca:safety:2"),
        (10, SELL, 91.50, 2.6476, "dca:take_profit"),
        (11, BUY, 91.00, 0.5494, "dca:base"),
    ]
    assert [f.maker for f in result.fills] == [False, False, False, True, False]
    assert [f.fee for f in result.fills] == pytest.approx([fee(f) for f in result.fills])
    assert result.fills[3].fee == pytest.approx(0.2422554)
    assert result.skipped == []
    assert dca.cycles_completed == 1
    assert dca.cycles_stopped == 0
    assert dca.average_entry == pytest.approx(91.0)
    assert dca.peak_committed_quote == pytest.approx(237.7209835)
    assert [(o.tag, o.price, o.amount) for o in sim.resting] == [(TAKE_PROFIT_TAG, 92.82, None)]


def test_average_entry_mid_cycle_and_take_profit_not_filled_at_equal_high() -> None:
    """The same path cut after bar 9, whose high equals the take-profit: still holding.

    Average entry 237.4835 / 2.6476 = 89.69765.. (fees out), take-profit resting at 91.50.
    """
    dca = drops_dca()
    sim = broker()
    result = run_one(dca, sim, DROPS.iloc[:10])

    assert [f.tag for f in result.fills] == ["dca:base", "dca:safety:1", "dca:safety:2"]
    assert sim.position == pytest.approx(2.6476)
    assert dca.average_entry == pytest.approx(237.4835 / 2.6476)
    assert dca.cycles_completed == 0
    assert [(o.tag, o.price) for o in sim.resting] == [(TAKE_PROFIT_TAG, 91.50)]


def test_every_bars_buys_on_a_clock_up_to_the_cap() -> None:
    """quote 20, a buy every 3 bars, multiplier 2, at most 2 safety orders, no drop rule.

    Buys are decided at the closes of bars 0, 3 and 6 (bar 9 would be a third safety: capped)
    and fill at the next opens:
      bar 1: 20 / 30 = 0.66666.. -> 0.6666 at 30.00   (base)
      bar 4: 40 / 29 = 1.37931.. -> 1.3793 at 29.00   (safety 1, 20 * 2)
      bar 7: 80 / 28 = 2.85714.. -> 2.8571 at 28.00   (safety 2, 40 * 2)
    Notional 19.998 + 39.9997 + 79.9988 = 139.9965 over 4.903: average 28.5532..;
    committed 139.9965 * 1.001 = 140.1364965. The 50% take-profit is never reached.
    """
    # fmt: off
    frame = candles([
        (30.0, 30.5, 29.5, 30.0),  # 0  base decided
        (30.0, 30.5, 29.5, 30.0),  # 1  base fills
        (30.0, 30.5, 29.5, 30.0),  # 2
        (30.0, 30.5, 29.0, 29.0),  # 3  3 bars after bar 0: safety 1 decided
        (29.0, 29.5, 28.5, 29.0),  # 4  safety 1 fills
        (29.0, 29.5, 28.5, 29.0),  # 5
        (29.0, 29.5, 28.0, 28.0),  # 6  3 bars after bar 3: safety 2 decided
        (28.0, 28.5, 27.5, 28.0),  # 7  safety 2 fills
        (28.0, 28.5, 27.5, 28.0),  # 8
        (28.0, 28.5, 27.5, 28.0),  # 9  3 bars after bar 6, but capped
        (28.0, 28.5, 27.5, 28.0),  # 10
        (28.0, 28.5, 27.5, 28.0),  # 11
    ])
    # fmt: on
    dca = Dca(
        quote_amount=20.0,
        every_bars=3,
        drop_pct=None,
        volume_multiplier=2.0,
        max_safety_orders=2,
        take_profit_pct=0.5,
    )
    result = run_one(dca, broker(), frame)

    assert summary(result) == [
        (1, BUY, 30.00, 0.6666, "dca:base"),
        (4, BUY, 29.00, 1.3793, "dca:safety:1"),
        (7, BUY, 28.00, 2.8571, "dca:safety:2"),
    ]
    assert dca.average_entry == pytest.approx(139.9965 / 4.903)
    assert dca.peak_committed_quote == pytest.approx(140.1364965)
    assert dca.cycles_completed == 0


def test_a_risk_stop_ends_the_cycle_as_stopped_and_a_new_one_starts() -> None:
    """The risk engine's max-loss stop (5 quote) closes the position, not the take-profit.

    Bar 1, base: 50 / 97 -> 0.5154 at 97.00, cost with fee 49.9938 + 0.0499938 = 50.0437938.
      Stop (50.0437938 - 5) / (0.5154 * 0.999) = 87.4832.. -> 87.49 (rounded up to the tick:
      the protective side, so the loss stays within 5).
      Take-profit 98.94. A safety needs a close <= 97 * 0.8 = 77.6: never.
    Bar 3's low 86 reaches the stop: sell 0.5154 at 87.49, tagged risk:max_loss. The cycle
      is stopped (not completed), the take-profit withdrawn, a new base decided at bar 3's
      close; bar 4, base: 50 / 88 = 0.568181.. -> 0.5681 at 88.00, take-profit 89.76.
    Peak committed stays cycle 1's 50.0437938 (cycle 2: 49.9928 * 1.001 = 50.0427928).
    """
    # fmt: off
    frame = candles([
        (100.0, 101.0, 99.0, 100.0),  # 0  base decided
        (97.0,  98.0,  95.0,  96.0),   # 1  base fills at 97.00
        (96.0,  96.5,  90.0,  91.0),   # 2
        (91.0,  91.5,  86.0,  88.0),   # 3  low 86 <= 87.49: the risk stop fills
        (88.0,  89.0,  87.5,  88.5),   # 4  new base fills at 88.00
        (88.5,  89.0,  88.0,  88.7),   # 5
    ])
    # fmt: on
    limits = RiskLimits(
        max_loss_per_trade=5.0,
        max_daily_loss=100.0,
        max_open_positions=1,
        cooldown_minutes=0.0,
        kill_switch=False,
    )

    def run(bars: int) -> tuple[Dca, SimBroker, ReplayResult]:
        dca = Dca(
            quote_amount=50.0,
            every_bars=None,
            drop_pct=0.2,
            volume_multiplier=1.0,
            max_safety_orders=3,
            take_profit_pct=0.02,
        )
        sim = broker(RiskEngine(limits, taker_fee=0.001))
        return dca, sim, run_one(dca, sim, frame.iloc[:bars])

    dca, sim, result = run(len(frame))
    assert summary(result) == [
        (1, BUY, 97.00, 0.5154, "dca:base"),
        (3, SELL, 87.49, 0.5154, MAX_LOSS_TAG),
        (4, BUY, 88.00, 0.5681, "dca:base"),
    ]
    assert dca.cycles_stopped == 1
    assert dca.cycles_completed == 0
    assert dca.average_entry == pytest.approx(88.0)
    assert dca.peak_committed_quote == pytest.approx(50.0437938)
    assert [(o.tag, o.price) for o in sim.resting if o.tag == TAKE_PROFIT_TAG] == [
        (TAKE_PROFIT_TAG, 89.76)
    ]

    dca, sim, _ = run(4)  # stop just after the stop-out: the old take-profit is gone
    assert dca.average_entry is None
    assert [o for o in sim.resting if o.tag == TAKE_PROFIT_TAG] == []


def test_dca_needs_a_rule_for_safety_buys() -> None:
    with pytest.raises(ValueError, match="every_bars, drop_pct"):
        Dca(
            quote_amount=50.0,
            take_profit_pct=0.01,
            every_bars=None,
            drop_pct=None,
            volume_multiplier=1.0,
            max_safety_orders=0,
        )


def test_strategy_dca_composes_validates_and_instantiates() -> None:
    with composed("strategy=dca") as cfg:
        validate(cfg)
        dca = instantiate(cfg.strategy, _convert_="all")
    assert isinstance(dca, Dca)
    assert (dca.quote_amount, dca.every_bars, dca.drop_pct) == (10.0, None, 0.02)
    assert (dca.volume_multiplier, dca.max_safety_orders, dca.take_profit_pct) == (1.5, 3, 0.015)
    with composed("strategy=dca", "strategy.every_bars=4", "strategy.drop_pct=null") as cfg:
        validate(cfg)
        assert instantiate(cfg.strategy).every_bars == 4


BAD_DCA = [
    ("strategy.take_profit_pct=0", "strategy.take_profit_pct=0.0 is not allowed"),
    ("strategy.take_profit_pct=1", "strategy.take_profit_pct=1.0 is not allowed"),
    ("strategy.quote_amount=0", "strategy.quote_amount=0.0 is not allowed: must be > 0"),
    ("strategy.every_bars=0", "strategy.every_bars=0 is not allowed"),
    ("strategy.drop_pct=1.5", "strategy.drop_pct=1.5 is not allowed"),
    ("strategy.drop_pct=null", "strategy.drop_pct=None is not allowed: set drop_pct"),
    ("strategy.volume_multiplier=0.5", "strategy.volume_multiplier=0.5 is not allowed"),
    ("strategy.max_safety_orders=-1", "strategy.max_safety_orders=-1 is not allowed"),
]


@pytest.mark.parametrize(("override", "expected"), BAD_DCA, ids=[o for o, _ in BAD_DCA])
def test_bad_dca_values_fail_with_one_line_naming_the_key(override: str, expected: str) -> None:
    with composed("strategy=dca", override) as cfg, pytest.raises(ConfigError) as error:
        validate(cfg)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)
