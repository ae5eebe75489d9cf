"""How much an entry buys: in vectorbt's terms (size, SizeType name) for the vectorized
engine, and as `buy_amount` (before step rounding, in numba) for the event-driven broker,
which reads a sizer as its `code` (kind, value). The two agree by construction of
vectorbt's rules and by the replay parity test.

All-in follows the cash / (price * (1 + fee)) convention: the fee is paid on top of the
notional, and the amount is then rounded down to the step size.
"""

from __future__ import annotations

from dataclasses import dataclass

from numba import njit

FIXED_QUOTE, EQUITY_FRACTION, ALL_IN = range(3)  # a sizer's kind, as `buy_amount` reads it


@njit(cache=True)
def buy_amount(kind: int, value: float, cash: float, price: float, fee: float) -> float:
    """What an entry buys out of `cash` at `price`, the fee paid on top."""
    if kind == FIXED_QUOTE:  # `value` quote, or what the cash affords
        wanted = value / price
        return wanted if wanted * price * (1 + fee) <= cash else cash / (1 + fee) / price
    if kind == EQUITY_FRACTION:
        return value * cash / (1 + fee) / price
    return cash / (1 + fee) / price


@dataclass(frozen=True, slots=True)
class FixedQuote:
    """Spend `amount` of the quote currency per entry."""

    amount: float

    def vectorbt_size(self) -> tuple[float, str]:
        return self.amount, "Value"

    def code(self) -> tuple[int, float]:
        return FIXED_QUOTE, self.amount


@dataclass(frozen=True, slots=True)
class EquityFraction:
    """Spend `fraction` of current equity per entry, fee included.

    Long-only with one position per symbol, an entry happens only when flat, where equity
    is the cash: vectorbt's "percent of available cash" is then exactly this.
    """

    fraction: float

    def vectorbt_size(self) -> tuple[float, str]:
        return self.fraction, "Percent"

    def code(self) -> tuple[int, float]:
        return EQUITY_FRACTION, self.fraction


@dataclass(frozen=True, slots=True)
class AllIn:
    """Spend all available cash per entry."""

    def vectorbt_size(self) -> tuple[float, str]:
        return float("inf"), "Amount"

    def code(self) -> tuple[int, float]:
        return ALL_IN, 0.0


Sizer = FixedQuote | EquityFraction | AllIn
