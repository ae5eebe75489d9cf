"""Orders as both engines record them: fills, and orders that never left (and why)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Fill:
    """An executed order; `bar` is the position of the candle whose open it filled at."""

    bar: int
    side: Side
    price: float
    amount: float
    fee: float


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    """An order the exchange would reject, so it never left; kept so no order vanishes."""

    bar: int
    side: Side
    price: float
    amount: float
    reason: str
