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
from vectorbt.returns import nb

FloatArray = npt.NDArray[np.float64]
RATIOS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown")


def bars_per_year(timeframe: str | pd.Timedelta) -> float:
    """8,760 for 1h: the annualisation factor of a bar's return."""
    return float(pd.Timedelta(days=365) / pd.Timedelta(timeframe))


def ratios(
    value: FloatArray, init_cash: float, timeframe: str | pd.Timedelta
) -> dict[str, FloatArray]:
    """Each ratio of each column of `value` (n bars x k columns, or n bars): an array of k."""
    value = np.asarray(value, dtype=np.float64)
    columns = value.reshape(len(value), -1)
    returns = nb.returns_nb(columns, np.full(columns.shape[1], float(init_cash)))
    factor = bars_per_year(timeframe)
    return {
        "total_return": columns[-1] / init_cash - 1,
        "cagr": nb.annualized_return_nb(returns, factor),
        "sharpe": nb.sharpe_ratio_nb(returns, factor),
        "sortino": nb.sortino_ratio_nb(returns, factor),
        "calmar": nb.calmar_ratio_nb(returns, factor),
        "max_drawdown": nb.max_drawdown_nb(returns),
    }


def bar_returns(value: FloatArray, init_cash: float) -> FloatArray:
    """One column's return at each bar, the first one against the starting cash."""
    column = np.asarray(value, dtype=np.float64).reshape(-1, 1)
    return nb.returns_nb(column, np.array([float(init_cash)]))[:, 0]
