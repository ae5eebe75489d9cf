"""The event interface every engine drives: a closed bar, then the fills it caused.

Stateful strategies (grid, DCA) implement it directly; a signal strategy runs through
`SignalRunner`. A strategy returns order intents; it never talks to a venue.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

from thunes.domain.orders import Command, Fill, OrderEvent
from thunes.execution.filters import FloatArray
from thunes.strategy.base import Columns, Signals


@dataclass(slots=True)
class Bar:
    """A closed candle; `index` is its position in the run, `time_ms` its open time.

    Not frozen: one is built per bar, and a frozen dataclass costs 5x more to build. Each
    strategy call gets a fresh one, so nothing it changes reaches the engine.
    """

    index: int
    time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """A strategy's numba rules as the compiled loop runs them: its state vector (which
    the loop changes in place), how many intents one call may write, and a signal
    strategy's decisions, computed once for the whole history."""

    state: FloatArray
    intents: int
    signals: Signals | None = None


class Account(Protocol):
    """What a strategy may read of the account: never more than a live bot knows."""

    @property
    def cash(self) -> float: ...

    @property
    def position(self) -> float: ...

    def equity(self, price: float) -> float: ...


class EventStrategy(ABC):
    @property
    def warmup(self) -> int:
        """Closed bars kept in the rolling window handed to `on_bar`."""
        return 1

    @abstractmethod
    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        """Decide at a bar's close, from the rolling window that ends with it."""

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        """React to one of this strategy's orders filling."""
        return []

    def on_order_event(self, event: OrderEvent, account: Account) -> list[Command]:
        """React to an order accepted, canceled or rejected (with the reason)."""
        return []

    def compiled(self) -> CompiledRules | None:
        """The rules for the compiled loop (thunes/engine/batch_loop.py), or None: only
        per event."""
        return None

    def report(self, last_price: float) -> dict[str, float]:
        """The strategy's own figures for the stats table (DCA cycles, grid profit...)."""
        return {}

    def plot_levels(self) -> list[float]:
        """Price levels worth drawing on the price chart (a grid's levels)."""
        return []
