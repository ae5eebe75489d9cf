"""Do the risk limits fit the strategy? Checked before anything runs.

The max-loss stop (risk.max_loss_per_trade) caps every position's loss. A strategy whose own
plan needs a bigger loss than that is cut short by it, silently: a DCA cycle is sold before
its deepest safety buy, or just under it (so it never averages down, or its last buy never
gets to work), a grid before the price reaches its lowest level, a strategy's own stop
never fires. Each check below works out that loss from the config alone (relative to the
entry price, fees and slippage in) and, when it reaches the limit, says so in one line
naming the keys to change. `risk.strict=true` refuses the run.

Not judged: DCA on a clock alone (its safety buys do not depend on the price) and the
scalper (its stop is in ticks, whose weight depends on a price the config does not hold).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from omegaconf import DictConfig

from thunes.execution.filters import FloatArray as Vec
from thunes.strategy.grid_rules import lay


def _entry_quote(cfg: DictConfig) -> tuple[float, str]:
    """What one entry of a sized strategy spends at the starting cash, and the key that
    sets it."""
    kind, cash = str(cfg.sizing._target_).rsplit(".", 1)[1], float(cfg.cash)
    if kind == "FixedQuote":
        return min(float(cfg.sizing.amount), cash), "sizing.amount"
    if kind == "EquityFraction":
        return float(cfg.sizing.fraction) * cash, "sizing.fraction"
    return cash, "cash"


def _costs(cfg: DictConfig) -> float:
    """A market order's cost, as a share of its value: the taker fee and the slippage."""
    return float(cfg.exchange.fees.taker) + float(cfg.exchange.slippage)


def _dca(cfg: DictConfig, limit: float) -> str | None:
    """The stop must leave a cycle room for its whole plan: every safety buy, and then one
    more drop_pct under the deepest, where a next buy would come, for the last one to work."""
    s = cfg.strategy
    if s.drop_pct is None or s.max_safety_orders == 0:
        return None
    drop, depth, cost = float(s.drop_pct), int(s.max_safety_orders), _costs(cfg)
    quotes = float(s.quote_amount) * float(s.volume_multiplier) ** np.arange(depth + 1)
    prices = (1 - drop) ** np.arange(depth + 2)  # each safety buy drop_pct under the last
    for k in range(1, depth + 2):  # at buy k's price, holding the buys before it
        held = quotes[:k]
        value = float(np.sum(held * prices[k] / prices[:k]))
        loss = float(np.sum(held)) * (1 + cost) - value * (1 - cost)
        if loss < limit:
            continue
        where = (
            f"before safety buy {k} of {depth}"
            if k <= depth
            else f"less than strategy.drop_pct={drop:g} under its deepest safety buy"
        )
        return (
            f"strategy=dca: the max-loss stop (risk.max_loss_per_trade={limit:g}) sells a "
            f"cycle {where} (a loss of {loss:.2f} there; {float(np.sum(quotes)):.2f} "
            "committed at full depth); change strategy.quote_amount, "
            "strategy.volume_multiplier, strategy.max_safety_orders, strategy.drop_pct or "
            "risk.max_loss_per_trade"
        )
    return None


def _grid_levels(s: DictConfig) -> tuple[Vec, Vec]:
    """The levels (relative to the first close when `relative`) and those that get a buy."""
    count = int(s.levels)
    lower, upper = (1 + s.lower, 1 + s.upper) if s.relative else (s.lower, s.upper)
    levels = np.empty(count)
    lay(float(lower), float(upper), count, s.spacing == "geometric", levels)
    below = levels[:-1] < 1 if s.relative else np.ones(count - 1, np.bool_)  # worst: all
    return levels, levels[:-1][below]


def _grid(cfg: DictConfig, limit: float) -> str | None:
    s = cfg.strategy
    levels, buys = _grid_levels(s)
    if not len(buys):
        return None
    quote, fee = float(s.quote_per_level), float(cfg.exchange.fees.maker)
    exit_cost = _costs(cfg)

    def loss(price: float) -> float:
        return quote * len(buys) * (1 + fee) - float(np.sum(quote / buys * price)) * (1 - exit_cost)

    keys = "strategy.quote_per_level, strategy.lower, strategy.levels or risk.max_loss_per_trade"
    inventory = loss(float(levels[0]))
    if inventory >= limit:
        return (
            f"strategy=grid: the max-loss stop (risk.max_loss_per_trade={limit:g}) sells the "
            f"grid inside its range: its full inventory ({len(buys)} levels of "
            f"{quote:g}) loses {inventory:.2f} at its lowest level; change {keys}"
        )
    if s.stop_below is None:
        return None
    at_stop = loss(float(levels[0]) * (1 - s.stop_below))
    if at_stop >= limit:
        return (
            f"strategy=grid: its stop (strategy.stop_below={s.stop_below:g}) loses "
            f"{at_stop:.2f}, wider than the max-loss stop (risk.max_loss_per_trade="
            f"{limit:g}), which fires first; change strategy.stop_below or {keys}"
        )
    return None


def _sma_cross(cfg: DictConfig, limit: float) -> str | None:
    (quote, sizing), cost = _entry_quote(cfg), _costs(cfg)
    for key in ("stop_loss", "trailing_stop"):
        fraction = cfg.strategy[key]
        if fraction is None:
            continue
        loss = quote * (1 + cost) - quote * (1 - fraction) * (1 - cost)
        if loss >= limit:
            return (
                f"strategy.{key}={fraction:g} loses {loss:.2f} on an entry of {quote:g}, wider "
                f"than the max-loss stop (risk.max_loss_per_trade={limit:g}), which fires "
                f"first; change strategy.{key}, {sizing} or risk.max_loss_per_trade"
            )
    return None


_CHECKS: dict[str, Callable[[DictConfig, float], str | None]] = {
    "Dca": _dca,
    "Grid": _grid,
    "SmaCross": _sma_cross,
}


def misfit(cfg: DictConfig) -> str | None:
    """One line saying how the risk limits cut the strategy's own plan short, or None."""
    limit = float(cfg.risk.max_loss_per_trade)
    check = _CHECKS.get(str(cfg.strategy._target_).rsplit(".", 1)[1])
    if check is None or not np.isfinite(limit):
        return None
    return check(cfg, limit)
