"""The same candles replayed bar by bar give the vectorized backtest's orders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.backtest.candles import wavy_candles, with_gap
from tests.engine.lanes import run_one
from thunes.backtest.engine import VectorbtBacktester
from thunes.data.candles import as_columns
from thunes.domain.market import Fees, MarketFilters
from thunes.engine.sim_broker import SimBroker
from thunes.exchange.sim import SimExchange
from thunes.portfolio.sizing import AllIn, EquityFraction, FixedQuote, Sizer
from thunes.strategy.signal_runner import SignalRunner
from thunes.strategy.sma_cross import SmaCross

BTC = MarketFilters(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)
FEES = Fees(0.001, 0.001, from_received=False)


def sim_candles(bars: int) -> pd.DataFrame:
    frame = SimExchange(seed=11, fees=FEES, slippage=0.0).candles(
        "BTC/USDT", "1h", 1_577_836_800_000
    )  # from 2020-01-01
    return frame.iloc[:bars]


def assert_same_orders(
    frame: pd.DataFrame, sizer: Sizer, filters: MarketFilters, strategy: SmaCross
) -> int:
    args = (FEES, 0.0005, filters, sizer, 1000.0)
    backtest = VectorbtBacktester(*args).run(frame, "1h", strategy.signals(as_columns(frame)))
    replay = run_one(SignalRunner(strategy), SimBroker(*args), frame)
    orders = backtest.portfolio.orders.values
    assert [f.bar for f in replay.fills] == orders["idx"].tolist()
    assert [f.side.value for f in replay.fills] == [
        "buy" if s == 0 else "sell" for s in orders["side"]
    ]
    np.testing.assert_allclose([f.amount for f in replay.fills], orders["size"], rtol=1e-12)
    np.testing.assert_allclose([f.price for f in replay.fills], orders["price"], rtol=1e-12)
    np.testing.assert_allclose([f.fee for f in replay.fills], orders["fees"], rtol=1e-9)
    np.testing.assert_allclose(replay.equity, backtest.portfolio.value().to_numpy(), rtol=1e-9)
    assert len(replay.skipped) == backtest.skipped_entries + backtest.skipped_exits
    return len(replay.fills)


@pytest.mark.parametrize(
    "sizer",
    [FixedQuote(100.0), AllIn(), EquityFraction(0.4)],
    ids=["fixed_quote", "all_in", "equity_fraction"],
)
def test_replay_equals_backtest_on_sim_data(sizer: Sizer) -> None:
    assert (
        assert_same_orders(
            sim_candles(6_000), sizer, BTC, SmaCross(10, 50, "sma", None, None, None)
        )
        > 50
    )


def test_replay_equals_backtest_on_data_with_gaps() -> None:
    gapped = with_gap(with_gap(sim_candles(3_000), 500, 33), 1_800, 7)
    assert (
        assert_same_orders(
            gapped, FixedQuote(100.0), BTC, SmaCross(10, 50, "sma", None, None, None)
        )
        > 20
    )


def test_replay_equals_backtest_when_orders_are_skipped() -> None:
    strict = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=260.0)
    frame = wavy_candles(bars=400)
    assert (
        assert_same_orders(
            frame, EquityFraction(0.27), strict, SmaCross(4, 12, "sma", None, None, None)
        )
        > 0
    )


def test_past_decisions_do_not_change_when_the_future_does() -> None:
    frame = sim_candles(2_000)
    cut = 1_200
    future = frame.copy()
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 1.5, len(frame) - cut)
    future.iloc[cut:, :4] = future.iloc[cut:, :4].to_numpy() * scale[:, None]
    strategy = SmaCross(10, 50, "sma", None, None, None)
    before = strategy.signals(as_columns(frame))
    after = strategy.signals(as_columns(future))
    assert np.array_equal(before.entries[:cut], after.entries[:cut])
    assert np.array_equal(before.exits[:cut], after.exits[:cut])
    args = (FEES, 0.0005, BTC, FixedQuote(100.0), 1000.0)
    replay_before = run_one(SignalRunner(strategy), SimBroker(*args), frame).fills
    replay_after = run_one(SignalRunner(strategy), SimBroker(*args), future).fills
    assert [f for f in replay_before if f.bar <= cut] == [f for f in replay_after if f.bar <= cut]
    assert not np.array_equal(before.entries, after.entries)  # the future did change
