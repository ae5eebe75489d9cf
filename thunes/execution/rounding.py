"""Python's number handling, inside numba: `thunes.execution.filters`' rounding of one
number (`floor_to`, `ceil_to`) and the built-in sum() over floats, so that the engines'
compiled code gives the very values the Python code it replaced gave; and the venue's
minimums, one test for the bar and the tick engines."""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-9  # as thunes.execution.filters: absorbs binary noise (0.3 / 0.1 = 2.9999999999999996)
_REL_TOL = 1e-9  # vectorbt's tolerance when it compares a size with the minimum


@njit(cache=True)
def to_grid(value: float, step: float, up: bool) -> float:
    """ceil_to (up) or floor_to for one number; a step of 0 leaves it unchanged."""
    if step <= 0:
        return value
    decimals = max(0, int(-np.floor(np.log10(step))) + 1)
    units = np.ceil(value / step - _EPS) if up else np.floor(value / step + _EPS)
    return float(np.round(units * step, decimals))


@njit(cache=True, inline="always")
def sum_add(total: float, compensation: float, x: float) -> tuple[float, float]:
    """One step of Python's sum() over floats, which (since 3.12) compensates rounding by
    Neumaier's method: a compiled sum must do the same to give the same last bit."""
    t = total + x
    if abs(total) >= abs(x):
        compensation += (total - t) + x
    else:
        compensation += (x - t) + total
    return t, compensation


@njit(cache=True, inline="always")
def sum_end(total: float, compensation: float) -> float:
    """The result of the sum that `sum_add` built."""
    return total + compensation if compensation != 0 and np.isfinite(compensation) else total


@njit(cache=True, inline="always")
def below_minimum(amount: float, price: float, min_qty: float, min_notional: float) -> bool:
    """The venue would refuse it: nothing, or under min quantity or min notional (beyond
    vectorbt's relative tolerance, so that every engine skips the same orders)."""
    minimum = max(min_qty, min_notional / price)
    return amount <= 0 or (amount < minimum and minimum - amount > _REL_TOL * minimum)
