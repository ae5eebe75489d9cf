"""How much an entry buys: in vectorbt's terms (size, SizeType name) for the vectorized
engine, and as `buy_amount` (before step rounding) for the event-driven broker. The two
agree by construction of vectorbt's rules and by the replay parity test.

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

    def buy_amount(self, cash: float, price: float, fee: float) -> float:
        wanted = self.amount / price
        return wanted if wanted * price * (1 + fee) <= cash else cash / (1 + fee) / price


@dataclass(frozen=True, slots=True)
class EquityFraction:
    """Spend `fraction` of current equity per entry, fee included.

    Long-only with one position per symbol, an entry happens only when flat, where equity
    is the cash: vectorbt's "percent of available cash" is then exactly this.
    """

    fraction: float

    def vectorbt_size(self) -> tuple[float, str]:
        return self.fraction, "Percent"

    def buy_amount(self, cash: float, price: float, fee: float) -> float:
        return self.fraction * cash / (1 + fee) / price


@dataclass(frozen=True, slots=True)
class AllIn:
    """Spend all available cash per entry."""

    def vectorbt_size(self) -> tuple[float, str]:
        return float("inf"), "Amount"

    def buy_amount(self, cash: float, price: float, fee: float) -> float:
        return cash / (1 + fee) / price


Sizer = FixedQuote | EquityFraction | AllIn
