"""A spot grid: buy limits on the levels below the price; each filled buy is answered by a
sell one level up and each filled sell by a buy one level down, so every swing across two
neighbouring levels books one level's spread, minus two maker fees.

The grid is laid at the first bar's close, from bounds that are prices or fractions of that
close. Outside its range a grid only piles up inventory (below) or idle cash (above), so an
optional stop below and take-profit above sell everything and end the grid for good.
"""

from __future__ import annotations

from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.strategy.base import Columns
from thunes.strategy.events import Account, Bar, EventStrategy

PREFIX = "grid:"  # every grid order's tag starts with it: one cancel withdraws them all
STOP_TAG = "grid:stop"
TAKE_PROFIT_TAG = "grid:take_profit"
EXIT_TAG = "grid:exit"


def grid_levels(lower: float, upper: float, count: int, spacing: str) -> list[float]:
    """`count` prices from lower to upper, both included: equal steps or equal ratios."""
    if spacing == "arithmetic":
        return [lower + (upper - lower) * i / (count - 1) for i in range(count)]
    if spacing == "geometric":
        return [lower * (upper / lower) ** (i / (count - 1)) for i in range(count)]
    raise ValueError(f"spacing={spacing!r}: one of arithmetic, geometric")


class Grid(EventStrategy):
    """Trades the range between two prices and keeps what a report needs about it."""

    def __init__(
        self,
        lower: float,
        upper: float,
        relative: bool = False,
        levels: int = 11,
        spacing: str = "arithmetic",
        quote_per_level: float = 20.0,
        stop_below: float | None = None,
        take_profit_above: float | None = None,
    ) -> None:
        self.bounds = (lower, upper)
        self.relative = relative
        self.count = levels
        self.spacing = spacing
        self.quote_per_level = quote_per_level
        self.stop_below = stop_below
        self.take_profit_above = take_profit_above
        self.levels: list[float] = []  # laid at the first close; empty until then
        self.grid_profit = 0.0  # realised by completed buy -> sell round trips, fees included
        self.exit_pnl = 0.0  # realised by the stop or take-profit sale of the inventory
        self.fills_per_level: dict[int, int] = {}
        self.stopped = False
        self._lots: dict[int, tuple[float, float]] = {}  # sell level -> (amount, cost + fee)

    # ---- what a report reads
    @property
    def stop_price(self) -> float | None:
        if self.stop_below is None or not self.levels:
            return None
        return self.levels[0] * (1 - self.stop_below)

    @property
    def take_profit_price(self) -> float | None:
        if self.take_profit_above is None or not self.levels:
            return None
        return self.levels[-1] * (1 + self.take_profit_above)

    def unrealised_inventory(self, price: float) -> tuple[float, float]:
        """(amount, value at `price`) of the bought lots still waiting for their sell."""
        amount = sum(held for held, _ in self._lots.values())
        return amount, amount * price

    # ---- events
    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[OrderIntent]:
        if self.stopped:
            return []
        if not self.levels:
            return self._start(bar.close)
        stop, target = self.stop_price, self.take_profit_price
        if stop is not None and bar.low <= stop:  # reached with no stop fill: flat, or a tick off
            return self._end(account, EXIT_TAG)
        if target is not None and bar.close > target:
            return self._end(account, TAKE_PROFIT_TAG)
        return []

    def report(self, last_price: float) -> dict[str, float]:
        amount, value = self.unrealised_inventory(last_price)
        per_level = {f"grid_fills_level_{i}": n for i, n in sorted(self.fills_per_level.items())}
        return {
            "grid_profit": self.grid_profit,
            "grid_exit_pnl": self.exit_pnl,
            "grid_inventory_amount": amount,
            "grid_inventory_value": value,
            **per_level,
        }

    def plot_levels(self) -> list[float]:
        return list(self.levels)

    def on_fill(self, fill: Fill, account: Account) -> list[OrderIntent]:
        if fill.tag.startswith("risk:") and not self.stopped:
            # the risk engine sold the position (max-loss stop, kill-switch): the grid ends
            # like at its own stop, and the sale goes to the exit
            intents = self._end(account)
            self.exit_pnl += fill.amount * fill.price - fill.fee
            return intents
        if not fill.tag.startswith(PREFIX):
            return []
        intents = self._end(account) if fill.tag == STOP_TAG else []
        if self.stopped:  # the exit, or a grid order met later in the stop's own bar
            cash = fill.amount * fill.price
            self.exit_pnl += (cash if fill.side is Side.SELL else -cash) - fill.fee
            if fill.side is Side.BUY:  # bought after the end: out again at the next open
                intents.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=EXIT_TAG))
            return intents
        level = int(fill.tag.rsplit(":", 1)[1])
        self.fills_per_level[level] = self.fills_per_level.get(level, 0) + 1
        if fill.side is Side.BUY:
            self._lots[level + 1] = (fill.amount, fill.amount * fill.price + fill.fee)
            return [
                OrderIntent(
                    Side.SELL,
                    OrderType.LIMIT,
                    amount=fill.amount,
                    price=self.levels[level + 1],
                    tag=f"{PREFIX}sell:{level + 1}",
                )
            ]
        amount, cost = self._lots.pop(level)
        self.grid_profit += fill.amount * fill.price - fill.fee - cost * fill.amount / amount
        return [self._buy(level - 1)]

    # ---- orders
    def _start(self, close: float) -> list[OrderIntent]:
        """Lay the levels; a buy on each one below the close that has a level above it."""
        lower, upper = self.bounds
        if self.relative:
            lower, upper = close * (1 + lower), close * (1 + upper)
        self.levels = grid_levels(lower, upper, self.count, self.spacing)
        intents = [self._buy(i) for i, price in enumerate(self.levels[:-1]) if price < close]
        if self.stop_price is not None:
            intents.append(
                OrderIntent(Side.SELL, OrderType.STOP, price=self.stop_price, tag=STOP_TAG)
            )
        return intents

    def _buy(self, level: int) -> OrderIntent:
        return OrderIntent(
            Side.BUY,
            OrderType.LIMIT,
            quote=self.quote_per_level,
            price=self.levels[level],
            tag=f"{PREFIX}buy:{level}",
        )

    def _end(self, account: Account, sell_tag: str | None = None) -> list[OrderIntent]:
        """Stop for good: withdraw every grid order, and sell what is held if `sell_tag`;
        the inventory's cost goes to the exit."""
        self.stopped = True
        self.exit_pnl -= sum(cost for _, cost in self._lots.values())
        self._lots.clear()
        intents = [OrderIntent.cancel(PREFIX)]
        if sell_tag is not None and account.position > 0:
            intents.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=sell_tag))
        return intents
