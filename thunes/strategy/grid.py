"""A spot grid: buy limits on the levels below the price; each filled buy is answered by a
sell one level up and each filled sell by a buy one level down, so every swing across two
neighbouring levels books one level's spread, minus two maker fees.

An order may fill in parts: a level's lot adds up its buy's parts, and its sell, for the
whole lot, goes out when the buy is done; each part of the sell books its share of the
lot's profit, and the buy below goes out when the lot is sold.

The grid is laid at the first bar's close, from bounds that are prices or fractions of that
close. Outside its range a grid only piles up inventory (below) or idle cash (above), so an
optional stop below and take-profit above sell everything and end the grid for good.

A grid with relative bounds can trail the price instead (`recenter_after`), as exchange
grid bots do ("trailing up" on Binance, Bybit, 3Commas). Above its range a grid holds
nothing (its top sell has filled) and its buys wait below: after `recenter_after` closes in
a row there, holding nothing, its buys are withdrawn and it is laid again around that
close, with the same relative bounds, levels and spacing (its stop and take-profit move
with it). Below its range it keeps its lots and their sells, as a spot grid bot does: it
waits for the price to come back, for its own stop (which ends it) or for the risk
engine's. A sale by the risk engine (max-loss stop, kill switch) ends a grid that does not
trail; one that does is laid again around the close `recenter_after` closes later, as DCA
opens a new cycle. Buys sent while the risk engine's cooldown or kill switch holds are
refused, and a refused buy is not asked for again until the grid is laid again: keep
`recenter_after` longer than `risk.cooldown_minutes`.

The rules are numba functions (grid_rules.py) that the compiled engine loop runs too; this
class is their face and reads its figures from their vector.
"""

from __future__ import annotations

import numpy as np

from thunes.domain import rows as c
from thunes.domain.orders import Command, Fill, Side
from thunes.domain.tags import TAGS
from thunes.strategy import grid_rules as r
from thunes.strategy.base import Columns
from thunes.strategy.compiled import as_intents
from thunes.strategy.events import Account, Bar, CompiledRules, EventStrategy
from thunes.strategy.grid_rules import GridLevel, GridRow

PREFIX = "grid:"  # every grid order's tag starts with it: one cancel withdraws them all
STOP_TAG = "grid:stop"
TAKE_PROFIT_TAG = "grid:take_profit"
EXIT_TAG = "grid:exit"
SPACINGS = ("arithmetic", "geometric")


def _geometric(spacing: str) -> bool:
    if spacing not in SPACINGS:
        raise ValueError(f"spacing={spacing!r}: one of {', '.join(SPACINGS)}")
    return spacing == "geometric"


class Grid(EventStrategy):
    """Trades the range between two prices and keeps what a report needs about it."""

    def __init__(
        self,
        *,
        lower: float,
        upper: float,
        relative: bool,
        levels: int,
        spacing: str,
        quote_per_level: float,
        stop_below: float | None,
        take_profit_above: float | None,
        recenter_after: int | None,
    ) -> None:
        self.bounds = (lower, upper)
        self.relative = relative
        self.count = levels
        self.spacing = spacing
        self.quote_per_level = quote_per_level
        self.stop_below = stop_below
        self.take_profit_above = take_profit_above
        self.recenter_after = recenter_after
        st = self.state = np.zeros(r.HEAD + r.FIELDS * levels)
        st[: GridRow.LAID] = [
            r.GRID,
            lower,
            upper,
            relative,
            levels,
            _geometric(spacing),
            quote_per_level,
            np.nan if stop_below is None else stop_below,
            np.nan if take_profit_above is None else take_profit_above,
            *(TAGS.code(t) for t in (PREFIX, STOP_TAG, TAKE_PROFIT_TAG, EXIT_TAG)),
        ]
        st[GridRow.RECENTER_AFTER] = np.nan if recenter_after is None else recenter_after
        for level in range(levels):
            st[r.at(st, GridLevel.BUY_CODE, level)] = TAGS.code(f"{PREFIX}buy:{level}")
            st[r.at(st, GridLevel.SELL_CODE, level)] = TAGS.code(f"{PREFIX}sell:{level}")
        self.out = np.zeros((levels + 1, c.ORDER))

    # ---- what a report reads
    def _field(self, field: int) -> np.ndarray:
        first = r.at(self.state, field, 0)
        return self.state[first : first + self.count]

    @property
    def levels(self) -> list[float]:
        """The grid's prices, laid at the first close (or the last re-centre); empty until
        then."""
        return self._field(GridLevel.PRICE).tolist() if self.state[GridRow.LAID] else []

    @property
    def stopped(self) -> bool:
        return bool(self.state[GridRow.STOPPED])

    @property
    def recenters(self) -> int:
        """How many times the grid was laid again around the price."""
        return int(self.state[GridRow.RECENTERS])

    @property
    def grid_profit(self) -> float:
        """Realised by completed buy -> sell round trips, fees included."""
        return float(self.state[GridRow.PROFIT])

    @property
    def exit_pnl(self) -> float:
        """Realised by the stop or take-profit sale of the inventory."""
        return float(self.state[GridRow.EXIT_PNL])

    @property
    def fills_per_level(self) -> dict[int, int]:
        """Orders filled in full at each level (an order filled in parts counts once)."""
        return {i: int(n) for i, n in enumerate(self._field(GridLevel.FILLS).tolist()) if n}

    @property
    def stop_price(self) -> float | None:
        price = float(r.stop_price(self.state))
        return None if np.isnan(price) else price

    @property
    def take_profit_price(self) -> float | None:
        price = float(r.take_profit_price(self.state))
        return None if np.isnan(price) else price

    def unrealised_inventory(self, price: float) -> tuple[float, float]:
        """(amount, value at `price`) of the bought lots still waiting for their sell."""
        amount = float(r.py_sum(r.lots(self.state, GridLevel.LOT_AMOUNT)))
        return amount, amount * price

    # ---- events
    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        n = r.on_bar(bar.low, bar.close, account.position, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def compiled(self) -> CompiledRules:
        return CompiledRules(self.state, len(self.out))

    def report(self, last_price: float) -> dict[str, float]:
        amount, value = self.unrealised_inventory(last_price)
        per_level = {f"grid_fills_level_{i}": n for i, n in sorted(self.fills_per_level.items())}
        return {
            "grid_profit": self.grid_profit,
            "grid_exit_pnl": self.exit_pnl,
            "grid_inventory_amount": amount,
            "grid_inventory_value": value,
            "grid_recenters": self.recenters,
            **per_level,
        }

    def plot_levels(self) -> list[float]:
        return self.levels

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        buy, tag = fill.side is Side.BUY, TAGS.code(fill.tag)
        n = r.on_fill(
            buy,
            fill.price,
            fill.tradable,
            fill.fee,
            tag,
            fill.remaining,
            account.position,
            self.state,
            self.out,
        )
        return as_intents(self.out[:n]) if n else []
