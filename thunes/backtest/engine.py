"""The vectorized backtest: one vectorbt simulation over a strategy's signals.

Conventions, written down because they move results:
- A decision on bar t's close fills at bar t+1's open. A decision on the last bar is dropped.
- Market orders fill at the open moved against us by `slippage`, then rounded to the tick
  in the adverse direction (buys up, sells down): a price the venue could really print.
- Fees are the taker rate on each fill's notional, paid in the quote currency on top.
- Amounts round down to the step size (through vectorbt's `size // step`, which can land
  one step low when the amount is exactly on the grid, e.g. 1.0 // 0.001 = 999 steps; with
  real prices that is vanishingly rare, and the event engine rounds exactly). An order
  under min notional or min quantity is skipped, as the venue would reject it, and counted.
  That applies to exits too: a position worth less than min notional cannot be sold
  (dust), exactly as on Binance.
- Long-only, one position: an entry acts only when flat and an exit only when holding;
  a bar that says both does nothing (`thunes/strategy/gate.py`, shared with replay).
- The index is made tz-naive (still UTC) for vectorbt: a tz-aware index is 17x slower.

Signals become orders here and run through `Portfolio.from_orders`, whose kernel numba
caches on disk; `from_signals`' kernel is recompiled in every process (3.7 s measured).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import vectorbt as vbt
from vectorbt.portfolio.enums import SizeType

from thunes.backtest.result import BacktestResult
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.execution.filters import FloatArray, ceil_to, floor_to
from thunes.portfolio.sizing import Sizer
from thunes.strategy.base import BoolArray, Signals
from thunes.strategy.gate import alternating


def _next_bar(decisions: BoolArray) -> BoolArray:
    shifted = np.zeros_like(decisions)
    shifted[1:] = decisions[:-1]
    return shifted


class VectorbtBacktester:
    """Simulates a long-only spot account with realistic fills on vectorbt."""

    def __init__(
        self, fees: Fees, slippage: float, filters: MarketFilters, sizer: Sizer, cash: float
    ) -> None:
        self.fees = fees
        self.slippage = slippage
        self.filters = filters
        self.sizer = sizer
        self.cash = cash

    def fill_prices(self, opens: FloatArray, entries: BoolArray, exits: BoolArray) -> FloatArray:
        """The price each market order fills at: slipped, then on the tick grid."""
        tick = self.filters.tick_size
        buys = ceil_to(opens * (1 + self.slippage), tick)
        sells = floor_to(opens * (1 - self.slippage), tick)
        return np.where(entries, buys, np.where(exits, sells, opens))

    def run(self, candles: pd.DataFrame, timeframe: str, signals: Signals) -> BacktestResult:
        index = pd.DatetimeIndex(candles.index).tz_localize(None)
        close = pd.Series(candles["close"].to_numpy(dtype="float64"), index=index, name="close")
        entries, exits = alternating(_next_bar(signals.entries), _next_bar(signals.exits))
        price = self.fill_prices(candles["open"].to_numpy(dtype="float64"), entries, exits)
        min_size = np.maximum(self.filters.min_qty, self.filters.min_notional / price)
        entry_size, entry_size_type = self.sizer.vectorbt_size()
        size = np.where(entries, entry_size, np.where(exits, -np.inf, np.nan))
        size_type = np.where(entries, getattr(SizeType, entry_size_type), SizeType.Amount)
        # Buys round down to the step. Sells close the whole position, already on the step
        # grid: vectorbt's `size // step` would turn 9.337 into 9.336 and strand dust.
        step = self.filters.step_size
        granularity = np.where(exits, np.nan, step) if step > 0 else None
        portfolio = vbt.Portfolio.from_orders(
            close,
            size=size,
            size_type=size_type,
            price=price,
            size_granularity=granularity,
            min_size=min_size,
            fees=self.fees.taker,
            init_cash=self.cash,
            direction="longonly",
            freq=pd.Timedelta(timeframe),
        )
        filled = np.zeros(len(index), dtype=bool)
        filled[portfolio.orders.values["idx"]] = True
        holding_before = np.zeros(len(index), dtype=bool)
        holding_before[1:] = portfolio.assets().to_numpy()[:-1] > 0
        skipped = [
            SkippedOrder(int(bar), Side.BUY, float(price[bar]), float("nan"), "below minimum")
            for bar in np.flatnonzero(entries & ~filled)
        ] + [
            SkippedOrder(int(bar), Side.SELL, float(price[bar]), float("nan"), "dust")
            for bar in np.flatnonzero(exits & holding_before & ~filled)
        ]
        records = portfolio.orders.values
        fills = [
            Fill(
                int(r["idx"]),
                Side.BUY if r["side"] == 0 else Side.SELL,
                float(r["price"]),
                float(r["size"]),
                float(r["fees"]),
                "entry" if r["side"] == 0 else "exit",
            )
            for r in records
        ]
        return BacktestResult(portfolio, fills, sorted(skipped, key=lambda order: order.bar))
