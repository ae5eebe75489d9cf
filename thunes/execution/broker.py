"""The seam every broker plugs into: what the event engine asks of one, whether it fills
orders itself (the simulated broker; the paper broker on a live feed) or sends them to a
venue (the exchange broker). Only the feed, the clock and the broker change between
replay, paper and live; strategies, risk and order preparation stay the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from thunes.domain.orders import Command, Fill, OrderEvent, OrderType, Side, SkippedOrder


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order at work, as the operator's tools show it, whichever broker holds it."""

    side: Side
    type: OrderType
    price: float  # a stop's trigger; NaN: a market order
    amount: float | None  # base left to fill; None: the whole position, or sized in quote
    tag: str
    order_id: str  # the client order id
    status: str  # "new", "partially_filled"; a venue's also "sending", "unknown", "canceling"


class Broker(Protocol):
    """One symbol's orders on an account that several symbols may share.

    A broker prepares every order with `thunes.execution.prepare` and lets the risk engine
    (`thunes.risk.rules`) refuse it and react to its fills; what happened is appended to
    `fills`, `skipped` and `events`, which the engine drains for the strategy.
    """

    fills: list[Fill]
    skipped: list[SkippedOrder]
    events: list[OrderEvent]  # what happened to orders, besides fills, not yet delivered

    @property
    def cash(self) -> float:
        """The account's free and locked quote, shared by every symbol's broker."""
        ...

    @property
    def position(self) -> float:
        """The base held for this symbol."""
        ...

    @property
    def holdings(self) -> float:
        """The base held for this symbol: the position, and dust a fee left under a step."""
        ...

    @property
    def committed(self) -> bool:
        """Holding, or about to (a buy at work): what max_open_positions counts."""
        ...

    def equity(self, price: float) -> float: ...

    def open_orders(self) -> list[OpenOrder]:
        """The orders at work (sent, or queued on the simulated book, and not done), oldest
        first: what the status page, the API, the metrics and the terminal view list."""
        ...

    def at(self, time_ms: int, last_price: float) -> None:
        """The market time at which the next orders leave (the feed's, never the host's), and
        the last price (a close) the risk rules' fat-finger guard measures them from."""
        ...

    def submit(self, command: Command, open_positions: int) -> None:
        """Send an order, or carry out a cancel; `open_positions`: the symbols committed."""
        ...

    def flatten(self) -> None:
        """What a tripped kill-switch does, on command: every buy withdrawn and the position
        sold at market, as the risk engine's own orders."""
        ...

    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        """A bar of market: the fills it brings (a simulated book fills what it reaches; a
        venue's broker reports what the venue filled)."""
        ...
