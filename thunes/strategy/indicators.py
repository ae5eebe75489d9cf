"""Indicators computed window by window, so a value never depends on where history starts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sma(values: FloatArray, window: int) -> FloatArray:
    """Simple moving average; NaN until `window` values exist.

    Each value is the plain mean of its own window (not a running sum), so the same bars
    give the same number whether they are the tail of 44,000 bars or a 51-bar live window.
    """
    out = np.full(values.shape, np.nan)
    if len(values) >= window:
        out[window - 1 :] = np.lib.stride_tricks.sliding_window_view(values, window).mean(axis=1)
    return out


def crossed_above(fast: FloatArray, slow: FloatArray) -> npt.NDArray[np.bool_]:
    """True where `fast` closes above `slow` after being at or below it on the previous bar."""
    above = fast > slow
    was_at_or_below = np.zeros_like(above)
    was_at_or_below[1:] = fast[:-1] <= slow[:-1]
    return above & was_at_or_below


def crossed_below(fast: FloatArray, slow: FloatArray) -> npt.NDArray[np.bool_]:
    """True where `fast` closes below `slow` after being at or above it on the previous bar."""
    return crossed_above(slow, fast)
