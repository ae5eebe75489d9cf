"""The return-based ratios, straight from equity curves, one column per run.

They are vectorbt's formulas (`vectorbt.returns.nb`, behind `Portfolio.sharpe_ratio()`
and friends) fused into two passes over each run, with no array allocated: vectorbt's
one-column functions allocate and walk each run a dozen times between them (the drawdown
and the annual return twice), which made the ratios a quarter of a 10,000-combination
grid. Every sum and product is taken in vectorbt's (numba's) order, so the figures are
bit-for-bit vectorbt's (tested). A backtest's stats and a sweep's trials and grid all
read their figures here, so they cannot disagree. Years are 365 days, as vectorbt counts.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit, prange
from vectorbt.returns import nb

FloatArray = npt.NDArray[np.float64]
RATIOS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown")


def bars_per_year(timeframe: str | pd.Timedelta) -> float:
    """8,760 for 1h: the annualisation factor of a bar's return."""
    return float(pd.Timedelta(days=365) / pd.Timedelta(timeframe))


@njit(cache=True)
def _one_run(value: FloatArray, init_cash: float, factor: float, out: FloatArray) -> None:
    """RATIOS of one run (at least one bar) into `out`. Pass one: the sum, count and
    product of the returns, the sum of their squared shortfalls, and the drawdown of the
    compounded curve; pass two: the squared deviations from the mean (numba's nanvar is
    two-pass too)."""
    n = len(value)
    total, count, growth, shortfall = 0.0, 0, 1.0, 0.0
    peak, drawdown, nan_drawdown = np.nan, 0.0, False
    previous = init_cash
    for i in range(n):
        r = nb.get_return_nb(previous, value[i])
        previous = value[i]
        if not np.isnan(r):
            total += r
            count += 1
            growth *= r + 1
            shortfall += min(r, 0.0) ** 2  # vectorbt zeroes the gains
        curve = growth * 100.0  # vectorbt's cum_returns_1d_nb(start_value=100)
        if np.isnan(peak) or curve > peak:
            peak = curve
        below = curve / peak - 1
        if np.isnan(below):
            nan_drawdown = True
        elif i == 0 or below < drawdown:
            drawdown = below
    mean = np.divide(total, count)
    squares = 0.0
    previous = init_cash
    for i in range(n):
        r = nb.get_return_nb(previous, value[i])
        previous = value[i]
        if not np.isnan(r):
            squares += (r - mean) * (r - mean)
    mdd = np.nan if nan_drawdown else drawdown
    cagr = growth ** (factor / n) - 1
    out[0] = value[-1] / init_cash - 1
    out[1] = cagr
    out[2] = _sharpe(mean, squares, count, n, factor)
    downside = np.sqrt(np.divide(shortfall, count)) * np.sqrt(factor)
    out[3] = np.nan if n < 2 else (np.inf if downside == 0.0 else mean * factor / downside)
    out[4] = np.nan if mdd == 0.0 else cagr / np.abs(mdd)
    out[5] = mdd


@njit(cache=True)
def _sharpe(mean: float, squares: float, count: int, n: int, factor: float) -> float:
    """vectorbt's sharpe_ratio_1d_nb (ddof=1) from nanvar's pieces."""
    if n < 2 or count - 1 <= 0:
        return np.nan
    std = np.sqrt(np.divide(squares, count) * count / (count - 1))
    return np.inf if std == 0.0 else mean / std * np.sqrt(factor)


@njit(cache=True, parallel=True)
def _by_run(runs: FloatArray, init_cash: float, factor: float) -> FloatArray:
    """RATIOS (rows) of each run (a row of `runs`, contiguous)."""
    out = np.empty((6, runs.shape[0]))
    for j in prange(runs.shape[0]):
        _one_run(runs[j], init_cash, factor, out[:, j])
    return out


def ratios(
    value: FloatArray, init_cash: float, timeframe: str | pd.Timedelta
) -> dict[str, FloatArray]:
    """Each ratio of each column of `value` (n bars x k columns, or n bars): an array of k."""
    value = np.asarray(value, dtype=np.float64)
    runs = np.ascontiguousarray(value.reshape(len(value), -1).T)  # no copy for a batch's .T
    out = _by_run(runs, float(init_cash), bars_per_year(timeframe))
    return dict(zip(RATIOS, out, strict=True))


def bar_returns(value: FloatArray, init_cash: float) -> FloatArray:
    """One column's return at each bar, the first one against the starting cash."""
    column = np.asarray(value, dtype=np.float64).reshape(-1, 1)
    return nb.returns_nb(column, np.array([float(init_cash)]))[:, 0]
