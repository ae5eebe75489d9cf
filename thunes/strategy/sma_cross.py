"""The baseline: long while the fast moving average is above the slow one."""

from __future__ import annotations

from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.indicators import EMA_SPAN_FACTOR, crossed_above, crossed_below, ema, sma


class SmaCross(Strategy):
    """Enter when the fast average crosses above the slow one; exit when it crosses below.

    `ma` picks a simple or an exponential average. Optional stop-loss, take-profit and
    trailing stop (fractions of the entry price) rest with the broker after each entry.
    """

    def __init__(
        self,
        fast: int,
        slow: int,
        ma: str = "sma",
        stop_loss: float | None = None,
        take_profit: float | None = None,
        trailing_stop: float | None = None,
    ) -> None:
        self.fast = fast
        self.slow = slow
        self.average = ema if ma == "ema" else sma
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.trailing_stop = trailing_stop

    @property
    def warmup(self) -> int:
        span = self.slow * (EMA_SPAN_FACTOR if self.average is ema else 1)
        return span + 1  # a cross compares the newest bar with the one before it

    def signals(self, candles: Columns) -> Signals:
        close = candles["close"]
        fast, slow = self.average(close, self.fast), self.average(close, self.slow)
        return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))
