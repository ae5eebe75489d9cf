"""The return-based ratios, straight from equity curves, one column per run.

These are vectorbt's own compiled functions (`vectorbt.returns.nb`), the very ones behind
`Portfolio.sharpe_ratio()` and friends, called without the accessor layer: through the
accessors, one portfolio's six ratios cost about 23 ms of config copying; here a batch of
columns costs about as much as one. A backtest's stats and a sweep's trials and grid all
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


@njit(cache=True, parallel=True)
def _by_run(runs: FloatArray, init_cash: float, factor: float) -> FloatArray:
    """RATIOS (rows) of each run (a row of `runs`, contiguous: 2 x faster than columns of
    a 180 MB batch), by vectorbt's one-column functions."""
    out = np.empty((6, runs.shape[0]))
    for j in prange(runs.shape[0]):
        returns = nb.returns_1d_nb(runs[j], init_cash)
        out[0, j] = runs[j, -1] / init_cash - 1
        out[1, j] = nb.annualized_return_1d_nb(returns, factor)
        out[2, j] = nb.sharpe_ratio_1d_nb(returns, factor, 0.0, 1)
        out[3, j] = nb.sortino_ratio_1d_nb(returns, factor, 0.0)
        out[4, j] = nb.calmar_ratio_1d_nb(returns, factor)
        out[5, j] = nb.max_drawdown_1d_nb(returns)
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
