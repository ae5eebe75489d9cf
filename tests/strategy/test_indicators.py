"""The compiled indicators: numpy's values to the last bit, and a replay's decision at the
newest bar equal to the last of the backtest's signals over the same window."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from tests.backtest.test_strategy_parity import sim_candles
from thunes.data.candles import as_columns
from thunes.strategy.indicators import ema, ema_weights, sma
from thunes.strategy.sma_cross import SmaCross


@pytest.mark.parametrize("window", [1, 3, 7, 8, 9, 50, 127, 128, 129, 200, 257])
def test_averages_equal_numpys_bit_for_bit(window: int) -> None:
    rng = np.random.default_rng(window)
    values = rng.lognormal(8, 1, 600)
    rows = sliding_window_view(values, window)
    np.testing.assert_array_equal(sma(values, window)[window - 1 :], rows.mean(axis=1))
    weights = ema_weights(max(1, window // 4))
    rows = sliding_window_view(values, len(weights))
    expected = (rows * weights).sum(axis=1)
    np.testing.assert_array_equal(ema(values, max(1, window // 4))[len(weights) - 1 :], expected)


@pytest.mark.parametrize("ma", ["sma", "ema"])
def test_the_newest_decision_is_the_last_signal_of_the_window(ma: str) -> None:
    strategy = SmaCross(5, 12, ma, None, None, None)
    columns = as_columns(sim_candles(1_500))
    decided = 0
    for end in range(1, 1_500):
        window = {k: v[max(0, end + 1 - strategy.warmup) : end + 1] for k, v in columns.items()}
        signals = strategy.signals(window)
        last = (bool(signals.entries[-1]), bool(signals.exits[-1]))
        assert strategy.decide(window) == last
        decided += any(last)
    assert decided > 50
