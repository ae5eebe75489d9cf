"""`thunes.execution.filters`' rounding of one number, inside numba: the engines' compiled
code rounds prices and amounts with it, to the same values as `floor_to` and `ceil_to`."""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-9  # as thunes.execution.filters: absorbs binary noise (0.3 / 0.1 = 2.9999999999999996)


@njit(cache=True)
def to_grid(value: float, step: float, up: bool) -> float:
    """ceil_to (up) or floor_to for one number; a step of 0 leaves it unchanged."""
    if step <= 0:
        return value
    decimals = max(0, int(-np.floor(np.log10(step))) + 1)
    units = np.ceil(value / step - _EPS) if up else np.floor(value / step + _EPS)
    return float(np.round(units * step, decimals))
