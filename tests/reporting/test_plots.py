"""Charts of long runs stay small without hiding a spike or a drawdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from thunes.reporting.plots import MAX_POINTS, PlotData, thinned


def test_a_million_ticks_keep_every_extreme_in_a_bounded_chart() -> None:
    bars = 1_000_003
    index = pd.date_range("2024-01-01", periods=bars, freq="100ms", tz="UTC")
    rng = np.random.default_rng(0)
    close = pd.Series(100 + rng.normal(0, 1, bars).cumsum(), index=index)
    close.iloc[777_777] += 500  # a one-tick spike
    equity = 1000 + (close - close.iloc[0])
    drawdown = equity / equity.cummax() - 1
    small = thinned(PlotData("x", close, equity, drawdown, pd.DataFrame()))
    assert len(small.equity) <= MAX_POINTS
    assert small.close.max() == close.max() and small.close.min() == close.min()
    assert small.drawdown.min() == drawdown.min()
    assert small.equity.index.is_monotonic_increasing
    assert small.equity.index[0] == index[0] and small.equity.index[-1] == index[-1]


def test_short_runs_are_drawn_whole() -> None:
    index = pd.date_range("2024-01-01", periods=500, freq="1h", tz="UTC")
    series = pd.Series(np.arange(500.0), index=index)
    data = PlotData("x", series, series, series * 0, pd.DataFrame())
    assert thinned(data) is data
