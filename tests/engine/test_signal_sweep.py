"""The sweep's batch evaluator gives, column by column, what `choice.backtest` gives."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.backtest.test_strategy_parity import DEFAULT_RISK, NO_RISK, sim_candles
from thunes.backtest import choice
from thunes.components import Components
from thunes.data.candles import GapReport, as_columns
from thunes.data.sources import CandleSet
from thunes.domain.market import Market, MarketFilters
from thunes.engine.signal_sweep import signal_equity_batch
from thunes.exchange.sim import SimExchange
from thunes.execution.filters import ExchangeFilters
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.limits import RiskLimits
from thunes.strategy.sma_cross import SmaCross

BTC = Market(
    "BTC/USDT", MarketFilters(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)
)
EXCHANGE = SimExchange(
    seed=11, fees={"maker": 0.001, "taker": 0.001, "from_received": False}, slippage=0.0005
)
PAIRS = [(5, 20), (10, 50), (20, 80), (3, 9)]
FRAME = sim_candles(2_000)


def product_equity(strategy: SmaCross, limits: RiskLimits) -> tuple[np.ndarray, int]:
    nothing: Any = None
    parts = Components(
        exchange=EXCHANGE,
        markets=[BTC],
        data=nothing,
        strategies=[strategy],
        filters=ExchangeFilters(),
        sizer=FixedQuote(100.0),
        risk=limits,
        notifier=nothing,
        tracker=nothing,
        drift=nothing,
        cash=1_000.0,
    )
    candles = CandleSet(FRAME, "1h", GapReport(0, 0, 0, None), "keep", "test", "sim")
    result = choice.backtest(parts, [candles])
    return result.portfolio.value().to_numpy(), len(result.fills)


# entries refused (long cool-down, kill-switch): the gate then holds with nothing held
TIGHT_RISK = RiskLimits(1.0, 3.0, 1, 600.0, True)


@pytest.mark.parametrize(
    "limits", [DEFAULT_RISK, NO_RISK, TIGHT_RISK], ids=["default_risk", "no_risk", "tight_risk"]
)
@pytest.mark.parametrize("exits", [{}, {"stop_loss": 0.03, "trailing_stop": 0.05}])
def test_each_column_is_the_backtest_of_that_column(
    limits: RiskLimits, exits: dict[str, float]
) -> None:
    columns = as_columns(FRAME)
    rules = {"stop_loss": None, "take_profit": None, "trailing_stop": None, **exits}
    strategies = [SmaCross(fast, slow, "sma", **rules) for fast, slow in PAIRS]
    signals = [s.signals(columns) for s in strategies]
    batch = signal_equity_batch(
        pd.DatetimeIndex(FRAME.index).as_unit("ms").asi8,
        columns["open"],
        columns["high"],
        columns["low"],
        columns["close"],
        np.column_stack([s.entries for s in signals]),
        np.column_stack([s.exits for s in signals]),
        fees=EXCHANGE.fees,
        slippage=EXCHANGE.slippage,
        filters=BTC.filters,
        sizer=FixedQuote(100.0),
        cash=1_000.0,
        risk=limits,
        **exits,
    )
    assert batch.equity.shape == (len(FRAME), len(PAIRS)) and batch.fills.shape == (len(PAIRS),)
    for col, strategy in enumerate(strategies):
        expected, fills = product_equity(strategy, limits)
        np.testing.assert_allclose(batch.equity[:, col], expected, rtol=1e-9)
        assert batch.fills[col] == fills
        assert not math.isclose(expected[-1], 1_000.0)  # the column traded
