"""Indicators computed window by window, so a value never depends on where history starts.

Each value is computed from its own window alone, the same arithmetic whether the window
is the tail of 44,000 bars (vectorized backtest) or the rolling window a live bot holds.
They are numba functions of one bar (`sma_at`, `weighted_at`, `cross`), looped over every
bar for a backtest's signals and called for the newest bar only when a replay decides:
one definition, so the two agree to the last bit. Sums add in numpy's pairwise order,
which is what these indicators were (`rows.mean(axis=1)`) before they were compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
from numba import njit, prange

FloatArray = npt.NDArray[np.float64]
EMA_SPAN_FACTOR = 4
"""An EMA is truncated to 4 x its period: what is left out weighs about e^-8 (0.03%)."""
_BLOCK = 128  # numpy's PW_BLOCKSIZE

_MEMO: dict[tuple[object, ...], tuple[FloatArray, FloatArray]] | None = None


@contextmanager
def shared_within() -> Iterator[None]:
    """Inside the block, an indicator computed on the same array with the same window is
    computed once: a grid of 10,000 SMA pairs holds a few hundred distinct averages."""
    global _MEMO
    _MEMO = {}
    try:
        yield
    finally:
        _MEMO = None


def _remembered(
    name: str, values: FloatArray, window: int, compute: Callable[[], FloatArray]
) -> FloatArray:
    if _MEMO is None:
        return compute()
    key = (name, values.__array_interface__["data"][0], values.shape, values.strides, window)
    if key not in _MEMO:  # the entry keeps `values` alive, so its address cannot be reused
        _MEMO[key] = (values, compute())
    return _MEMO[key][1]


@njit(cache=True)
def _block_sum(a: FloatArray, start: int, n: int) -> float:
    """numpy's sum of up to 128 values: in order under 8, else 8 running sums, then the rest."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += a[start + i]
        return total
    r = a[start : start + 8].copy()
    i = 8
    while i < n - n % 8:
        for k in range(8):
            r[k] += a[start + i + k]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += a[start + i]
        i += 1
    return total


@njit(cache=True)
def pairwise_sum(a: FloatArray, start: int, n: int) -> float:
    """a[start:start + n].sum() in numpy's order: blocks of up to 128 (`_block_sum`), and
    above that the sum of the two halves (the first a multiple of 8), each summed so.

    Walked with an explicit stack: numba's cache cannot link a recursive function."""
    if n <= _BLOCK:
        return _block_sum(a, start, n)
    starts, sizes = np.empty(64, np.int64), np.empty(64, np.int64)
    phase, left = np.zeros(64, np.int64), np.empty(64)
    starts[0], sizes[0], top, value = start, n, 1, 0.0
    while top:
        k = top - 1
        half = sizes[k] // 2
        half -= half % 8
        if sizes[k] <= _BLOCK or phase[k] == 2:
            value = _block_sum(a, starts[k], sizes[k]) if sizes[k] <= _BLOCK else left[k] + value
            top -= 1
            if top and phase[top - 1] == 1:
                left[top - 1] = value
            continue
        phase[k] += 1  # 1: sum the first half; 2: then the second
        first = phase[k] == 1
        starts[top] = starts[k] if first else starts[k] + half
        sizes[top], phase[top] = (half if first else sizes[k] - half), 0
        top += 1
    return value


@njit(cache=True)
def sma_at(values: FloatArray, end: int, window: int) -> float:
    """The simple average of the `window` values ending at `end`; NaN before there are."""
    if end + 1 < window:
        return np.nan
    return pairwise_sum(values, end + 1 - window, window) / window


@njit(cache=True)
def weighted_at(values: FloatArray, end: int, weights: FloatArray) -> float:
    """The weighted sum (oldest weight first) of the window ending at `end`; NaN before."""
    window = len(weights)
    if end + 1 < window:
        return np.nan
    return pairwise_sum(values[end + 1 - window : end + 1] * weights, 0, window)


@njit(cache=True)
def cross(fast_before: float, slow_before: float, fast: float, slow: float) -> bool:
    """`fast` closes above `slow` after being at or below it on the bar before."""
    return fast > slow and fast_before <= slow_before


@njit(cache=True, parallel=True)
def _sma(values: FloatArray, window: int) -> FloatArray:
    out = np.empty(len(values))
    for end in prange(len(values)):  # each bar's window alone: the bars split across cores
        out[end] = sma_at(values, end, window)
    return out


@njit(cache=True, parallel=True)
def _weighted(values: FloatArray, weights: FloatArray) -> FloatArray:
    out = np.empty(len(values))
    for end in prange(len(values)):
        out[end] = weighted_at(values, end, weights)
    return out


@njit(cache=True)
def _crossed(fast: FloatArray, slow: FloatArray) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(fast), np.bool_)
    for t in range(1, len(fast)):
        out[t] = cross(fast[t - 1], slow[t - 1], fast[t], slow[t])
    return out


def sma(values: FloatArray, window: int) -> FloatArray:
    """Simple moving average; NaN until `window` values exist."""
    return _remembered(
        "sma", values, window, lambda: _sma(np.ascontiguousarray(values, np.float64), window)
    )


def ema_weights(period: int) -> FloatArray:
    """An EMA (alpha = 2 / (period + 1)) over a finite window as weights, oldest first.

    The window's oldest value seeds the average, so the EMA of a window equals the usual
    recursive EMA started at that bar.
    """
    alpha = 2.0 / (period + 1)
    length = EMA_SPAN_FACTOR * period
    decay = (1 - alpha) ** np.arange(length - 1, -1, -1, dtype="float64")
    weights = alpha * decay
    weights[0] = decay[0]  # the seed keeps the weight the older history would have had
    return weights


def ema(values: FloatArray, period: int) -> FloatArray:
    """Exponential moving average over a finite window (`ema_weights`); NaN until full."""

    def compute() -> FloatArray:
        return _weighted(np.ascontiguousarray(values, np.float64), ema_weights(period))

    return _remembered("ema", values, period, compute)


def crossed_above(fast: FloatArray, slow: FloatArray) -> npt.NDArray[np.bool_]:
    """True where `fast` closes above `slow` after being at or below it on the previous bar."""
    return _crossed(np.asarray(fast, np.float64), np.asarray(slow, np.float64))


def crossed_below(fast: FloatArray, slow: FloatArray) -> npt.NDArray[np.bool_]:
    """True where `fast` closes below `slow` after being at or above it on the previous bar."""
    return crossed_above(slow, fast)
