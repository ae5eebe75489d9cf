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


def _vectorbt_one_column(value: np.ndarray, init_cash: float, factor: float) -> list[float]:
    from vectorbt.returns import nb

    returns = nb.returns_1d_nb(value, init_cash)
    return [
        value[-1] / init_cash - 1,
        nb.annualized_return_1d_nb(returns, factor),
        nb.sharpe_ratio_1d_nb(returns, factor, 0.0, 1),
        nb.sortino_ratio_1d_nb(returns, factor, 0.0),
        nb.calmar_ratio_1d_nb(returns, factor),
        nb.max_drawdown_1d_nb(returns),
    ]


def test_ratios_are_bit_for_bit_vectorbts_functions_on_awkward_curves() -> None:
    """The fused passes take every sum in vectorbt's order: no tolerance, and the same
    NaN/inf where a denominator is zero (flat, never traded, ruined, missing values)."""
    rng = np.random.default_rng(7)
    n = 1500
    curves = []
    for kind in range(6):
        for _ in range(5):
            v = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
            if kind == 1:
                v[: n // 2] = 1000.0  # waited half the time
            if kind == 2:
                v[:] = 1000.0  # never traded: no return, no drawdown
            if kind == 3:
                v[rng.random(n) < 0.01] = np.nan
            if kind == 4:
                v[100:200] = 0.0  # ruined, then back: infinite returns
            if kind == 5:
                v = np.maximum.accumulate(v)  # never below its peak
            curves.append(v)
    figures = ratios(np.column_stack(curves), 1000.0, "1h")
    for j, curve in enumerate(curves):
        expected = _vectorbt_one_column(curve, 1000.0, 8760.0)
        got = [figures[name][j] for name in RATIOS]
        np.testing.assert_array_equal(got, expected, err_msg=f"curve {j}")
