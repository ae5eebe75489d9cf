"""The narrow strategy interface that every engine runs.

A strategy states its rules once, in `signals`: for each bar, computed only from that bar
and the ones before it, whether to enter or exit at the bar's close. The vectorized
backtest calls it on the whole history at once; the event-driven engine calls it on the
rolling window a live bot would hold (`warmup` bars) and reads the last decision. Either
way the order is filled at the next bar's open, never inside the bar that decided it.

Candles arrive as columns of numpy arrays (open, high, low, close, volume): the event
engine hands over views of its rolling window without building a DataFrame per bar.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]
Columns = Mapping[str, npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class Signals:
    """Decisions taken at each bar's close; `entries[t]` fills at bar t+1's open."""

    entries: BoolArray
    exits: BoolArray


class Strategy(ABC):
    """Rules that map closed candles to entry and exit decisions.

    Optional exits, as fractions of the entry price (0.05 is 5%), rest with the broker
    once the entry fills: a stop-loss, a take-profit and a trailing stop.
    """

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    @property
    @abstractmethod
    def warmup(self) -> int:
        """How many closed bars the rules need to decide at the newest one."""

    @abstractmethod
    def signals(self, candles: Columns) -> Signals:
        """Decisions for every bar of `candles` (columns open, high, low, close, volume)."""

    def decide(self, candles: Columns) -> tuple[bool, bool]:
        """(entry, exit) at the newest bar of `candles`: the last of `signals`, which a
        strategy may compute alone, cheaper, since replay asks for it at every bar."""
        signals = self.signals(candles)
        return bool(signals.entries[-1]), bool(signals.exits[-1])
