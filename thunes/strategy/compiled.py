"""The strategies whose rules are numba functions (signal runner, DCA, grid), seen alike:
a float64 vector each (slot 0 its kind), two entry points that write order intents as
order rows (thunes/domain/rows.py), and those rows as `OrderIntent`s for the per-event faces.

The compiled engine loop (thunes/engine/batch_loop.py) calls `on_bar` and `on_fill` for
every lane; each face (`SignalRunner`, `Dca`, `Grid`) calls them for its own vector. They
are inlined into the loop (as are the signal runner's `on_bar` and the gate): a call to
this three-way dispatch cost a sweep column a third of its time on bars with nothing to
do.
"""

from __future__ import annotations

import math

from numba import njit

from thunes.domain import rows as c
from thunes.domain.orders import CancelOrders, Command, OrderIntent, OrderType, Side
from thunes.domain.tags import TAGS
from thunes.execution.filters import FloatArray as Vec
from thunes.strategy import dca_rules, grid_rules, signal_rules

_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)  # by code; CANCEL: a command


@njit(cache=True, inline="always")
def on_bar(
    i: int,
    high: float,
    low: float,
    close: float,
    position: float,
    entry: bool,
    exit: bool,
    st: Vec,
    out: Vec,
) -> int:
    """At bar i's close (entry/exit: a signal strategy's decision); returns rows written."""
    kind = st[0]
    if kind == signal_rules.RUNNER:
        return signal_rules.on_bar(high, position, entry, exit, st, out)
    if kind == dca_rules.DCA:
        return dca_rules.on_bar(i, close, st, out)
    return grid_rules.on_bar(low, close, position, st, out)


@njit(cache=True, inline="always")
def quiet(j: int, high: float, position: float, entry: bool, exit: bool, st: Vec) -> bool:
    """Whether `on_bar` would write nothing and change nothing for the strategy in row j of
    `st` (only a signal strategy tells it cheaply), so that the loops skip the call."""
    return st[j, 0] == signal_rules.RUNNER and signal_rules.quiet(
        j, high, position, entry, exit, st
    )


@njit(cache=True, inline="always")
def idle(j: int, st: Vec) -> bool:
    """Whether the strategy in row j of `st`, its lane flat and with no order at work,
    would act on an entry decision only (a signal strategy; DCA and grid act on prices)."""
    return st[j, 0] == signal_rules.RUNNER and signal_rules.idle(j, st)


@njit(cache=True, inline="always")
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
    """After one of the strategy's fills, or one part of it (`remaining`: base units of its
    order still unfilled, 0 when done); returns rows written."""
    kind = st[0]
    if kind == signal_rules.RUNNER:
        return signal_rules.on_fill(buy, price, amount, position, st, out)
    if kind == dca_rules.DCA:
        return dca_rules.on_fill(buy, price, amount, fee, tag, position, st, out)
    return grid_rules.on_fill(buy, price, amount, fee, tag, remaining, position, st, out)


def as_intents(rows: Vec) -> list[Command]:
    """Order rows as the intents a strategy returns."""
    out: list[Command] = []
    for side, type_, price, amount, quote, tag, *_ in rows.tolist():
        name = TAGS.names[int(tag)]
        if type_ == c.CANCEL:
            out.append(CancelOrders(name))
            continue
        out.append(
            OrderIntent(
                Side.BUY if side == c.BUY else Side.SELL,
                _TYPES[int(type_)],
                None if math.isnan(amount) else amount,
                None if math.isnan(quote) else quote,
                None if math.isnan(price) else price,
                name,
            )
        )
    return out
