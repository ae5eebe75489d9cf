"""What the store keeps, as values: orders as the venue last reported them, positions as
the engine booked them, and the statuses an order has before the venue has answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from thunes.domain.orders import OrderStatus

SENDING = "sending"  # written before the network call; the venue has not answered yet
UNKNOWN = "unknown"  # the answer never came (timeout, 5xx, -1007): the order may exist
UNRESOLVED = frozenset({SENDING, UNKNOWN})
OPEN = frozenset({OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value})
TERMINAL = frozenset(
    s.value
    for s in (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)
)
STATUSES = UNRESOLVED | OPEN | TERMINAL

OURS, ADOPTED = "ours", "adopted"  # placed by this store's runs, or found on the venue


def rank(status: str) -> int:
    """How far along an order is: a late or replayed event never moves it back."""
    if status in TERMINAL:
        return 3
    return 2 if status == OrderStatus.PARTIALLY_FILLED else int(status == OrderStatus.NEW)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    client_id: str
    symbol: str
    side: str
    type: str
    price: float | None
    amount: float | None
    quote: float | None
    tag: str
    status: str
    exchange_id: str
    filled: float  # as the venue last reported it
    reason: str
    origin: str
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class Position:
    """One symbol's holding as the engine booked it: `amount` can be sold, `dust` is the
    part under one lot step a fee left behind, `cost` the basis, fees in."""

    amount: float = 0.0
    dust: float = 0.0
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class Booking:
    """What the engine made of a fill, written in the fill's transaction: the position
    after it, the PnL it realised, and the risk state after it (RiskEngine.state())."""

    position: Position
    pnl: float = 0.0
    risk: Mapping[str, float] = field(default_factory=dict)
