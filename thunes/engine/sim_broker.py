"""A simulated spot broker with the vectorized backtest's fill conventions.

Market orders queue until the next bar's open, fill at the open moved against us by the
slippage and rounded to the tick the adverse way, pay the taker fee on top, buy amounts
round down to the step, and an order under min notional or min quantity is skipped and
recorded. See thunes/backtest/engine.py for why each rule is what it is.
"""

from __future__ import annotations

import math

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.execution.filters import ceil_to, floor_to
from thunes.portfolio.sizing import Sizer

_REL_TOL = 1e-9  # vectorbt's tolerance when it compares sizes with the minimum


def _round_price(value: float, tick: float, up: bool) -> float:
    return float(ceil_to(value, tick) if up else floor_to(value, tick))


class SimBroker:
    def __init__(
        self, fees: Fees, slippage: float, filters: MarketFilters, sizer: Sizer, cash: float
    ) -> None:
        self.fee = fees.taker
        self.slippage = slippage
        self.filters = filters
        self.sizer = sizer
        self.cash = cash
        self.position = 0.0
        self.pending: Side | None = None
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []

    def submit(self, side: Side) -> None:
        """A market order, to fill at the next bar's open."""
        self.pending = side

    def _too_small(self, amount: float, price: float) -> bool:
        minimum = max(self.filters.min_qty, self.filters.min_notional / price)
        return amount < minimum and not math.isclose(amount, minimum, rel_tol=_REL_TOL)

    def on_open(self, bar: int, open_price: float) -> Fill | None:
        """Fill the queued order, if any, at this bar's open."""
        side, self.pending = self.pending, None
        if side is Side.BUY:
            return self._buy(bar, open_price)
        if side is Side.SELL and self.position > 0:
            return self._sell(bar, open_price)
        return None

    def _buy(self, bar: int, open_price: float) -> Fill | None:
        price = _round_price(open_price * (1 + self.slippage), self.filters.tick_size, up=True)
        amount = self.sizer.buy_amount(self.cash, price, self.fee)
        step = self.filters.step_size
        if step > 0:
            amount = amount // step * step  # vectorbt's rounding, so both engines agree
        if amount <= 0 or self._too_small(amount, price):
            self.skipped.append(SkippedOrder(bar, Side.BUY, price, amount, "below minimum"))
            return None
        fee = amount * price * self.fee
        self.cash -= amount * price + fee
        self.position += amount
        return self._record(Fill(bar, Side.BUY, price, amount, fee))

    def _sell(self, bar: int, open_price: float) -> Fill | None:
        price = _round_price(open_price * (1 - self.slippage), self.filters.tick_size, up=False)
        amount = self.position
        if self._too_small(amount, price):
            self.skipped.append(SkippedOrder(bar, Side.SELL, price, amount, "dust"))
            return None
        fee = amount * price * self.fee
        self.cash += amount * price - fee
        self.position = 0.0
        return self._record(Fill(bar, Side.SELL, price, amount, fee))

    def _record(self, fill: Fill) -> Fill:
        self.fills.append(fill)
        return fill
