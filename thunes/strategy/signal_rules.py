"""A signal strategy's order rules, in numba: its decisions through the gate, then its
optional stop-loss, take-profit and trailing stop as resting orders.

They write order intents as order rows (thunes/domain/rows.py) into `out` and return how
many, so that the compiled loops submit them directly and `SignalRunner` (the per-event
face) turns the very same rows into `OrderIntent`s.

An entry may fill in parts. The exits are priced from the entry's reference price: the
volume-weighted average price of the parts filled so far (the fill price itself when the
entry fills at once). Every part after the first withdraws the exits and places them again
at the new reference; they sell whatever is held when they fill (no amount), so one of
each covers the whole position. The trailing stop trails the highest of the reference and
the bars' highs since the first part: it never moves down.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain import rows as c
from thunes.domain.tags import (
    ENTRY_TAG,
    EXIT_TAG,
    STOP_LOSS_TAG,
    TAGS,
    TAKE_PROFIT_TAG,
    TRAILING_TAG,
)
from thunes.execution.filters import FloatArray as Vec
from thunes.strategy.gate import ENTER, EXIT, gate


class RunnerRow(IntEnum):
    """The runner's vector: its kind (RUNNER, as every compiled strategy's slot 0,
    thunes/strategy/compiled.py), its exits as fractions of the entry price (NaN: none),
    then its state: the entry's base bought and quote spent so far (its parts), for the
    reference price."""

    KIND = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING = 3
    HOLDING = 4
    PEAK = 5
    TRAIL_STOP = 6
    BOUGHT = 7
    SPENT = 8


RUNNER = 1.0  # its KIND
MAX_INTENTS = 5  # rows `out` must have room for
ENTRY_CODE, EXIT_CODE, STOP_LOSS_CODE, TAKE_PROFIT_CODE, TRAILING_CODE = (
    TAGS.code(t) for t in (ENTRY_TAG, EXIT_TAG, STOP_LOSS_TAG, TAKE_PROFIT_TAG, TRAILING_TAG)
)


def runner_vector(
    stop_loss: float | None, take_profit: float | None, trailing_stop: float | None
) -> Vec:
    rs = np.zeros(len(RunnerRow))
    rs[RunnerRow.KIND] = RUNNER
    rs[RunnerRow.STOP_LOSS : RunnerRow.HOLDING] = [
        np.nan if x is None else x for x in (stop_loss, take_profit, trailing_stop)
    ]
    return rs


@njit(cache=True)
def _put(out: Vec, n: int, side: float, type_: int, price: float, tag: int) -> int:
    return c.put(out, n, side, type_, price, np.nan, np.nan, tag)


@njit(cache=True, inline="always")
def quiet(j: int, high: float, position: float, entry: bool, exit: bool, rs: Vec) -> bool:
    """Whether `on_bar` would change nothing and write nothing for the vector in row j of
    `rs` (read in place: no view per bar): no decision the gate acts on, and no new peak
    that raises the trailing stop."""
    peak = rs[j, RunnerRow.PEAK]
    return entry == exit and (
        position <= 0
        or (
            high <= peak
            and not peak * (1 - rs[j, RunnerRow.TRAILING]) > rs[j, RunnerRow.TRAIL_STOP]
        )
    )


@njit(cache=True, inline="always")
def idle(j: int, rs: Vec) -> bool:
    """Whether, flat and with nothing at work, only an entry decision can change the
    vector in row j of `rs`: the gate does not think it holds (an exit acts only then)."""
    return rs[j, RunnerRow.HOLDING] == 0


@njit(cache=True, inline="always")
def on_bar(high: float, position: float, entry: bool, exit: bool, rs: Vec, out: Vec) -> int:
    """At a bar's close: raise the trailing stop, then act on the decision."""
    n = 0
    if position > 0:
        rs[RunnerRow.PEAK] = max(rs[RunnerRow.PEAK], high)
        trailing = rs[RunnerRow.TRAILING]
        if (
            not np.isnan(trailing)
            and rs[RunnerRow.PEAK] * (1 - trailing) > rs[RunnerRow.TRAIL_STOP]
        ):
            rs[RunnerRow.TRAIL_STOP] = rs[RunnerRow.PEAK] * (1 - trailing)
            n = _put(out, n, c.SELL, c.CANCEL, np.nan, TRAILING_CODE)
            n = _put(out, n, c.SELL, c.STOP, rs[RunnerRow.TRAIL_STOP], TRAILING_CODE)
    action, holding = gate(entry, exit, rs[RunnerRow.HOLDING] != 0)
    rs[RunnerRow.HOLDING] = holding
    if action == ENTER:
        rs[RunnerRow.BOUGHT] = 0.0  # a new entry: its first part sets the reference
        n = _put(out, n, c.BUY, c.MARKET, np.nan, ENTRY_CODE)
    elif action == EXIT:  # what is still to buy of the entry (partial fills) goes too
        n = _put(out, n, c.SELL, c.CANCEL, np.nan, ENTRY_CODE)
        n = _put(out, n, c.SELL, c.CANCEL, np.nan, EXIT_CODE)
        n = _put(out, n, c.SELL, c.MARKET, np.nan, EXIT_CODE)
    return n


@njit(cache=True)
def on_fill(buy: bool, price: float, amount: float, position: float, rs: Vec, out: Vec) -> int:
    """After a fill: each part of an entry (re)places the exits at the reference price; a
    sale that emptied the position (a stop, a target or the risk engine) withdraws what is
    left of them."""
    if not buy:
        if position <= 0:
            rs[RunnerRow.HOLDING] = False
            return _put(out, 0, c.SELL, c.CANCEL, np.nan, EXIT_CODE)
        return 0
    rs[RunnerRow.HOLDING] = True  # a part after an exit decision: held again, so the gate may exit
    n = 0
    if rs[RunnerRow.BOUGHT] == 0:  # the first part: the reference is its price, exactly
        reference = rs[RunnerRow.PEAK] = price
        rs[RunnerRow.TRAIL_STOP] = 0.0
        rs[RunnerRow.BOUGHT], rs[RunnerRow.SPENT] = amount, amount * price
    else:
        rs[RunnerRow.BOUGHT] += amount
        rs[RunnerRow.SPENT] += amount * price
        reference = rs[RunnerRow.SPENT] / rs[RunnerRow.BOUGHT]
        rs[RunnerRow.PEAK] = max(rs[RunnerRow.PEAK], reference)
        if not np.isnan(rs[RunnerRow.STOP_LOSS : RunnerRow.HOLDING]).all():
            n = _put(out, n, c.SELL, c.CANCEL, np.nan, EXIT_CODE)
    if not np.isnan(rs[RunnerRow.STOP_LOSS]):
        n = _put(out, n, c.SELL, c.STOP, reference * (1 - rs[RunnerRow.STOP_LOSS]), STOP_LOSS_CODE)
    if not np.isnan(rs[RunnerRow.TAKE_PROFIT]):
        target = reference * (1 + rs[RunnerRow.TAKE_PROFIT])
        n = _put(out, n, c.SELL, c.LIMIT, target, TAKE_PROFIT_CODE)
    if not np.isnan(rs[RunnerRow.TRAILING]):
        rs[RunnerRow.TRAIL_STOP] = rs[RunnerRow.PEAK] * (1 - rs[RunnerRow.TRAILING])
        n = _put(out, n, c.SELL, c.STOP, rs[RunnerRow.TRAIL_STOP], TRAILING_CODE)
    return n
