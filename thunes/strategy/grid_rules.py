"""The grid's rules (grid.py says what they do), in numba over one vector: the compiled
engine loop and the `Grid` face run these same functions."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain import rows as c
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import sum_add, sum_end


class GridRow(IntEnum):
    """The grid's vector: its kind (GRID), parameters (STOP_BELOW, TP_ABOVE: NaN when not
    set), the tags' codes, the state, the re-centring's parameter (NaN: off) and state,
    then from HEAD, COUNT values of each `GridLevel` field (see `at`). OUTSIDE: closes in
    a row above the range with nothing held, or since the risk engine's sale when RESUME
    says the grid is to be laid again."""

    KIND = 0
    LOWER = 1
    UPPER = 2
    RELATIVE = 3
    COUNT = 4
    GEOMETRIC = 5
    QUOTE = 6
    STOP_BELOW = 7
    TP_ABOVE = 8
    PREFIX_CODE = 9
    STOP_CODE = 10
    TP_CODE = 11
    EXIT_CODE = 12
    LAID = 13
    STOPPED = 14
    PROFIT = 15
    EXIT_PNL = 16
    SEQ = 17
    RECENTER_AFTER = 18
    OUTSIDE = 19
    RECENTERS = 20
    RESUME = 21


class GridLevel(IntEnum):
    """A level's fields: its price, its buy's and its sell's tag codes, the lot its sell
    waits to sell (amount, cost with fee, when it was bought: 0 for none), how many of
    its orders filled."""

    PRICE = 0
    BUY_CODE = 1
    SELL_CODE = 2
    LOT_AMOUNT = 3
    LOT_COST = 4
    LOT_SEQ = 5
    FILLS = 6


GRID = 3.0  # its KIND
HEAD = len(GridRow)
FIELDS = len(GridLevel)


@njit(cache=True)
def at(st: Vec, field: int, level: int) -> int:
    """Where a per-level field of `level` is in the vector."""
    return HEAD + field * int(st[GridRow.COUNT]) + level


@njit(cache=True)
def lay(lower: float, upper: float, count: int, geometric: bool, out: Vec) -> None:
    """`count` prices from lower to upper, both included: equal steps or equal ratios."""
    for i in range(count):
        if geometric:
            out[i] = lower * (upper / lower) ** (i / (count - 1))
        else:
            out[i] = lower + (upper - lower) * i / (count - 1)


@njit(cache=True)
def stop_price(st: Vec) -> float:
    """Below the lowest level by stop_below; NaN without one or before the grid is laid."""
    lowest = st[at(st, GridLevel.PRICE, 0)]
    return lowest * (1 - st[GridRow.STOP_BELOW]) if st[GridRow.LAID] else np.nan


@njit(cache=True)
def take_profit_price(st: Vec) -> float:
    top = at(st, GridLevel.PRICE, int(st[GridRow.COUNT]) - 1)
    return st[top] * (1 + st[GridRow.TP_ABOVE]) if st[GridRow.LAID] else np.nan


@njit(cache=True)
def lots(st: Vec, field: int) -> Vec:
    """A field of the lots waiting for their sell, in the order they were bought."""
    count = int(st[GridRow.COUNT])
    seqs = st[at(st, GridLevel.LOT_SEQ, 0) : at(st, GridLevel.LOT_SEQ, 0) + count]
    order = np.argsort(seqs, kind="mergesort")
    values = np.empty(count)
    n = 0
    for k in order:
        if seqs[k] > 0:
            values[n] = st[at(st, field, k)]
            n += 1
    return values[:n]


@njit(cache=True)
def py_sum(values: Vec) -> float:
    """sum(values), as Python's built-in sums floats (`sum_add`)."""
    total, compensation = 0.0, 0.0
    for x in values:
        total, compensation = sum_add(total, compensation, x)
    return sum_end(total, compensation)


@njit(cache=True)
def _buy(level: int, st: Vec, out: Vec, n: int) -> int:
    price, tag = st[at(st, GridLevel.PRICE, level)], int(st[at(st, GridLevel.BUY_CODE, level)])
    return c.put(out, n, c.BUY, c.LIMIT, price, np.nan, st[GridRow.QUOTE], tag)


@njit(cache=True)
def _lay(close: float, st: Vec, out: Vec, n: int) -> int:
    """Lay the levels at the close and write their orders from row n: a buy on each level
    below the close that has a level above it, and the stop."""
    lower, upper, count = st[GridRow.LOWER], st[GridRow.UPPER], int(st[GridRow.COUNT])
    if st[GridRow.RELATIVE]:
        lower, upper = close * (1 + lower), close * (1 + upper)
    first = at(st, GridLevel.PRICE, 0)
    lay(lower, upper, count, st[GridRow.GEOMETRIC] != 0, st[first : first + count])
    st[GridRow.LAID] = 1
    for level in range(count - 1):
        if st[first + level] < close:
            n = _buy(level, st, out, n)
    stop = stop_price(st)
    if not np.isnan(stop):
        n = c.put(out, n, c.SELL, c.STOP, stop, np.nan, np.nan, int(st[GridRow.STOP_CODE]))
    return n


@njit(cache=True)
def _end(position: float, sell_tag: int, st: Vec, out: Vec) -> int:
    """Stop for good: withdraw every grid order, and sell what is held if sell_tag >= 0;
    the inventory's cost goes to the exit."""
    st[GridRow.STOPPED] = 1
    st[GridRow.EXIT_PNL] -= py_sum(lots(st, GridLevel.LOT_COST))
    for level in range(int(st[GridRow.COUNT])):
        st[at(st, GridLevel.LOT_SEQ, level)] = 0
    n = c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[GridRow.PREFIX_CODE]))
    if sell_tag >= 0 and position > 0:
        n = c.put(out, n, c.SELL, c.MARKET, np.nan, np.nan, np.nan, sell_tag)
    return n


@njit(cache=True)
def _risk_sold(position: float, st: Vec, out: Vec) -> int:
    """The risk engine sold the position: the grid ends as at its own stop, but one that
    re-centres is laid again around the close recenter_after closes later."""
    n = _end(position, -1, st, out)
    st[GridRow.RESUME], st[GridRow.OUTSIDE] = not np.isnan(st[GridRow.RECENTER_AFTER]), 0
    return n


@njit(cache=True)
def _recenter(close: float, st: Vec, out: Vec) -> int:
    """Lay the grid again around the close after recenter_after closes in a row above its
    range holding nothing (or since the risk engine sold it): its buys move up."""
    if np.isnan(st[GridRow.RECENTER_AFTER]):  # off
        return 0
    count, seqs = int(st[GridRow.COUNT]), at(st, GridLevel.LOT_SEQ, 0)
    above = close > st[at(st, GridLevel.PRICE, count - 1)] and not st[seqs : seqs + count].any()
    idle = st[GridRow.STOPPED] != 0 or above
    st[GridRow.OUTSIDE] = st[GridRow.OUTSIDE] + 1 if idle else 0
    if st[GridRow.OUTSIDE] < st[GridRow.RECENTER_AFTER]:
        return 0
    st[GridRow.STOPPED], st[GridRow.RESUME], st[GridRow.OUTSIDE] = 0, 0, 0
    st[GridRow.RECENTERS] += 1
    n = c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[GridRow.PREFIX_CODE]))
    return _lay(close, st, out, n)


@njit(cache=True)
def on_bar(low: float, close: float, position: float, st: Vec, out: Vec) -> int:
    if st[GridRow.STOPPED] and not st[GridRow.RESUME]:
        return 0
    if not st[GridRow.LAID]:
        return _lay(close, st, out, 0)
    if not st[GridRow.STOPPED]:  # else waiting to be laid again
        stop, target = stop_price(st), take_profit_price(st)
        if not np.isnan(stop) and low <= stop:  # reached with no stop fill: flat, or a tick off
            return _end(position, int(st[GridRow.EXIT_CODE]), st, out)
        if not np.isnan(target) and close > target:
            return _end(position, int(st[GridRow.TP_CODE]), st, out)
    return _recenter(close, st, out)


@njit(cache=True)
def _level(tag: int, field: int, st: Vec) -> int:
    """The level whose buy (or sell) tag this is, or -1."""
    for level in range(int(st[GridRow.COUNT])):
        if st[at(st, field, level)] == tag:
            return level
    return -1


@njit(cache=True)
def _bought(
    level: int, price: float, amount: float, fee: float, remaining: float, st: Vec, out: Vec
) -> int:
    """A part of level's buy: the lot above adds it up; once the buy is done, the lot's
    sell goes out for all of it (a sell per part would leave parts under the venue's
    minimum, and a grid tag cannot be withdrawn alone: "grid:sell:1" starts "grid:sell:10")."""
    lot = level + 1
    cost = amount * price + fee
    if st[at(st, GridLevel.LOT_SEQ, lot)] == 0:  # its first part
        st[GridRow.SEQ] += 1
        st[at(st, GridLevel.LOT_SEQ, lot)] = st[GridRow.SEQ]
        st[at(st, GridLevel.LOT_AMOUNT, lot)], st[at(st, GridLevel.LOT_COST, lot)] = amount, cost
    else:
        st[at(st, GridLevel.LOT_AMOUNT, lot)] += amount
        st[at(st, GridLevel.LOT_COST, lot)] += cost
    if remaining > 0:
        return 0
    st[at(st, GridLevel.FILLS, level)] += 1
    sell_at, sell_tag = st[at(st, GridLevel.PRICE, lot)], int(st[at(st, GridLevel.SELL_CODE, lot)])
    amount = st[at(st, GridLevel.LOT_AMOUNT, lot)]
    return c.put(out, 0, c.SELL, c.LIMIT, sell_at, amount, np.nan, sell_tag)


@njit(cache=True)
def _sold(
    level: int, price: float, amount: float, fee: float, remaining: float, st: Vec, out: Vec
) -> int:
    """A part of level's sell books its share of the lot's cost; once the lot is sold, the
    buy below goes out."""
    held, cost = st[at(st, GridLevel.LOT_AMOUNT, level)], st[at(st, GridLevel.LOT_COST, level)]
    basis = cost * amount / held if held > 0 else cost
    st[GridRow.PROFIT] += amount * price - fee - basis
    if remaining > 0:
        st[at(st, GridLevel.LOT_AMOUNT, level)], st[at(st, GridLevel.LOT_COST, level)] = (
            held - amount,
            cost - basis,
        )
        return 0
    st[at(st, GridLevel.FILLS, level)] += 1
    st[at(st, GridLevel.LOT_SEQ, level)] = 0
    return _buy(level - 1, st, out, 0)


@njit(cache=True)
def on_fill(
    buy: bool,
    price: float,
    amount: float,
    fee: float,
    tag: int,
    remaining: float,
    position: float,
    st: Vec,
    out: Vec,
) -> int:
    """After a fill, or a part of one (`remaining`: what its order has still to fill). A
    level's fill count counts its orders filled in full, not their parts."""
    if tag == c.MAX_LOSS_CODE or tag == c.KILL_CODE:
        # the risk engine sold the position (max-loss stop, kill-switch): the grid ends
        # like at its own stop (or pauses, when it re-centres), and the sale, every part of
        # it, goes to the exit
        n = 0 if st[GridRow.STOPPED] else _risk_sold(position, st, out)
        st[GridRow.EXIT_PNL] += amount * price - fee
        return n
    bought, sold = _level(tag, GridLevel.BUY_CODE, st), _level(tag, GridLevel.SELL_CODE, st)
    own = tag == st[GridRow.STOP_CODE] or tag == st[GridRow.TP_CODE] or tag == st[GridRow.EXIT_CODE]
    if bought < 0 and sold < 0 and not own:
        return 0  # not a grid order's
    n = 0
    if tag == st[GridRow.STOP_CODE] and not st[GridRow.STOPPED]:
        # the end withdraws every grid order, the rest of this stop too: what is still
        # held after a part of it goes at the next open
        n = _end(position, int(st[GridRow.EXIT_CODE]) if remaining > 0 else -1, st, out)
    if st[GridRow.STOPPED]:  # the exit, or a grid order met later in the stop's own bar
        cash = amount * price
        st[GridRow.EXIT_PNL] += (-cash if buy else cash) - fee
        if buy:  # bought after the end: out again at the next open
            n = c.put(out, n, c.SELL, c.MARKET, np.nan, np.nan, np.nan, int(st[GridRow.EXIT_CODE]))
        return n
    if buy:
        return _bought(bought, price, amount, fee, remaining, st, out)
    return _sold(sold, price, amount, fee, remaining, st, out)
