"""How much an entry buys. Each sizer says it in vectorbt's terms (size, SizeType name).

All-in follows the cash / (price * (1 + fee)) convention: the fee is paid on top of the
notional, and the amount is then rounded down to the step size.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FixedQuote:
    """Spend `amount` of the quote currency per entry."""

    amount: float

    def vectorbt_size(self) -> tuple[float, str]:
        return self.amount, "Value"


@dataclass(frozen=True, slots=True)
class EquityFraction:
    """Spend `fraction` of current equity per entry, fee included.

    Long-only with one position per symbol, an entry happens only when flat, where equity
    is the cash: vectorbt's "percent of available cash" is then exactly this.
    """

    fraction: float

    def vectorbt_size(self) -> tuple[float, str]:
        return self.fraction, "Percent"


@dataclass(frozen=True, slots=True)
class AllIn:
    """Spend all available cash per entry."""

    def vectorbt_size(self) -> tuple[float, str]:
        return float("inf"), "Amount"


Sizer = FixedQuote | EquityFraction | AllIn
