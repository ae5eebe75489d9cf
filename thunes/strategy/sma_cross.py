"""The baseline: long while the fast moving average is above the slow one."""

from __future__ import annotations

import numpy as np
from numba import njit

from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.indicators import (
    EMA_SPAN_FACTOR,
    FloatArray,
    cross,
    crossed_above,
    crossed_below,
    ema_weights,
    sma,
    sma_at,
    weighted_at,
)
from thunes.strategy.indicators import ema as ema_of

_SIMPLE = np.zeros(0)  # no weights: a simple average


@njit(cache=True)
def _average_at(values: FloatArray, end: int, window: int, weights: FloatArray) -> float:
    return sma_at(values, end, window) if len(weights) == 0 else weighted_at(values, end, weights)


@njit(cache=True)
def _last_crosses(
    close: FloatArray, fast: int, slow: int, fast_weights: FloatArray, slow_weights: FloatArray
) -> tuple[bool, bool]:
    """The newest bar's (entry, exit): the last of `signals`, from the indicators' values
    at the last two bars only."""
    end = len(close) - 1
    if end < 1:
        return False, False
    fast_before = _average_at(close, end - 1, fast, fast_weights)
    slow_before = _average_at(close, end - 1, slow, slow_weights)
    fast_now = _average_at(close, end, fast, fast_weights)
    slow_now = _average_at(close, end, slow, slow_weights)
    entry = cross(fast_before, slow_before, fast_now, slow_now)
    return entry, cross(slow_before, fast_before, slow_now, fast_now)


class SmaCross(Strategy):
    """Enter when the fast average crosses above the slow one; exit when it crosses below.

    `ma` picks a simple or an exponential average. Optional stop-loss, take-profit and
    trailing stop (fractions of the entry price) rest with the broker after each entry.
    """

    def __init__(
        self,
        fast: int,
        slow: int,
        ma: str,
        stop_loss: float | None,
        take_profit: float | None,
        trailing_stop: float | None,
    ) -> None:
        self.fast = fast
        self.slow = slow
        self.exponential = ma == "ema"
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.trailing_stop = trailing_stop
        self._weights = (
            (ema_weights(fast), ema_weights(slow)) if self.exponential else (_SIMPLE, _SIMPLE)
        )

    @property
    def warmup(self) -> int:
        span = self.slow * (EMA_SPAN_FACTOR if self.exponential else 1)
        return span + 1  # a cross compares the newest bar with the one before it

    def signals(self, candles: Columns) -> Signals:
        close = candles["close"]
        average = ema_of if self.exponential else sma
        fast, slow = average(close, self.fast), average(close, self.slow)
        return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))

    def decide(self, candles: Columns) -> tuple[bool, bool]:
        close = np.ascontiguousarray(candles["close"], dtype=np.float64)
        return _last_crosses(close, self.fast, self.slow, *self._weights)
