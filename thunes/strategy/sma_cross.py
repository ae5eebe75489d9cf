"""The baseline: long while the fast SMA is above the slow one."""

from __future__ import annotations

from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.indicators import crossed_above, crossed_below, sma


class SmaCross(Strategy):
    """Enter when the fast SMA crosses above the slow SMA; exit when it crosses below."""

    def __init__(self, fast: int, slow: int) -> None:
        self.fast = fast
        self.slow = slow

    @property
    def warmup(self) -> int:
        return self.slow + 1  # a cross compares the newest bar with the one before it

    def signals(self, candles: Columns) -> Signals:
        close = candles["close"]
        fast, slow = sma(close, self.fast), sma(close, self.slow)
        return Signals(entries=crossed_above(fast, slow), exits=crossed_below(fast, slow))
