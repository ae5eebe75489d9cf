"""The ratios every report and sweep reads are vectorbt's, whatever the path to them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from thunes.reporting.metrics import RATIOS, ratios


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ratios_equal_the_portfolio_accessors_column_by_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=800, freq="1h")
    close = pd.Series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(index)))), index=index)
    size = pd.DataFrame(
        {c: np.where(rng.random(len(index)) < 0.05, rng.choice([1.0, -1.0], len(index)), np.nan)
         for c in range(4)},
        index=index,
    )  # fmt: skip
    pf = vbt.Portfolio.from_orders(
        close, size=size, fees=0.001, init_cash=1000.0, direction="longonly", freq="1h"
    )
    figures = ratios(pf.value().to_numpy(), 1000.0, "1h")
    expected = {
        "total_return": pf.total_return(),
        "cagr": pf.annualized_return(),
        "sharpe": pf.sharpe_ratio(),
        "sortino": pf.sortino_ratio(),
        "calmar": pf.calmar_ratio(),
        "max_drawdown": pf.max_drawdown(),
    }
    for name in RATIOS:
        np.testing.assert_allclose(figures[name], expected[name].to_numpy(), rtol=1e-12)
