"""DCA's rules (dca.py says what they do), in numba over one vector: the compiled engine
loop and the `Dca` face run these same functions.

A buy may fill in parts. Its tag says which buy it is, so it counts once, on its first
part (a safety buy's remainder dropped by the venue still counts), and `LAST_PRICE` is the
volume-weighted price of its parts so far. Every part adds to the cycle's amount, spend
and committed quote and replaces the take-profit at the new average. A sale that leaves
something held (a take-profit's part) takes its share of them; the cycle ends once, at
the first sale that leaves nothing.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain import rows as c
from thunes.execution.filters import FloatArray as Vec


class DcaRow(IntEnum):
    """DCA's vector: its kind (DCA), parameters (EVERY, DROP: NaN when not set), the tags'
    codes, the cycle's state, then from SAFETY_CODES the code of "dca:safety:n" for
    n = 1..MAX_SAFETY."""

    KIND = 0
    QUOTE = 1
    TP_PCT = 2
    EVERY = 3
    DROP = 4
    MULTIPLIER = 5
    MAX_SAFETY = 6
    BASE_CODE = 7
    TP_CODE = 8
    SAFETY_N = 9
    AMOUNT = 10
    SPENT = 11
    COMMITTED = 12
    LAST_PRICE = 13
    LAST_BUY_BAR = 14
    COMPLETED = 15
    STOPPED = 16
    PEAK_COMMITTED = 17
    DECIDED_AT = 18
    LAST_AMOUNT = 19
    SAFETY_CODES = 20


DCA = 2.0  # its KIND
MAX_INTENTS = 2


@njit(cache=True)
def new_cycle(st: Vec) -> None:
    st[DcaRow.SAFETY_N], st[DcaRow.AMOUNT], st[DcaRow.SPENT] = 0.0, 0.0, 0.0
    st[DcaRow.COMMITTED] = 0.0
    st[DcaRow.LAST_PRICE], st[DcaRow.LAST_BUY_BAR] = 0.0, 0.0


@njit(cache=True)
def _buy(i: int, quote: float, tag: float, st: Vec, out: Vec) -> int:
    st[DcaRow.DECIDED_AT] = i  # the clock of `every_bars` starts at the deciding close
    return c.put(out, 0, c.BUY, c.MARKET, np.nan, np.nan, quote, int(tag))


@njit(cache=True)
def on_bar(i: int, close: float, st: Vec, out: Vec) -> int:
    if st[DcaRow.AMOUNT] <= 0:
        return _buy(i, st[DcaRow.QUOTE], st[DcaRow.BASE_CODE], st, out)
    if st[DcaRow.SAFETY_N] >= st[DcaRow.MAX_SAFETY]:
        return 0
    drop = st[DcaRow.DROP]
    dropped = not np.isnan(drop) and close <= st[DcaRow.LAST_PRICE] * (1 - drop)
    waited = not np.isnan(st[DcaRow.EVERY]) and i - st[DcaRow.LAST_BUY_BAR] >= st[DcaRow.EVERY]
    if not (dropped or waited):
        return 0
    n = st[DcaRow.SAFETY_N] + 1
    quote = st[DcaRow.QUOTE] * st[DcaRow.MULTIPLIER] ** n  # a float power, as Python's float ** int
    return _buy(i, quote, st[DcaRow.SAFETY_CODES + int(n) - 1], st, out)


@njit(cache=True)
def on_fill(
    buy: bool, price: float, amount: float, fee: float, tag: int, position: float, st: Vec, out: Vec
) -> int:
    if not buy:
        if st[DcaRow.AMOUNT] <= 0:
            return 0  # a later part of the sale that ended the cycle
        if position > 0:  # a partial sell: the take-profit still sells whatever is left
            kept = 1 - amount / st[DcaRow.AMOUNT]
            st[DcaRow.AMOUNT] -= amount
            st[DcaRow.SPENT] *= kept
            st[DcaRow.COMMITTED] *= kept
            return 0
        if tag == st[DcaRow.TP_CODE]:
            st[DcaRow.COMPLETED] += 1
        else:
            st[DcaRow.STOPPED] += 1
        new_cycle(st)
        return c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[DcaRow.TP_CODE]))
    first = tag == st[DcaRow.BASE_CODE] and st[DcaRow.AMOUNT] <= 0
    for k in range(int(st[DcaRow.MAX_SAFETY])):
        if st[DcaRow.SAFETY_CODES + k] == tag:
            first = st[DcaRow.SAFETY_N] <= k
            st[DcaRow.SAFETY_N] = max(st[DcaRow.SAFETY_N], k + 1)
    if first:
        st[DcaRow.LAST_PRICE], st[DcaRow.LAST_AMOUNT] = price, amount
    elif amount > 0:  # the volume-weighted price of this buy's parts
        st[DcaRow.LAST_AMOUNT] += amount
        st[DcaRow.LAST_PRICE] += (price - st[DcaRow.LAST_PRICE]) * amount / st[DcaRow.LAST_AMOUNT]
    st[DcaRow.AMOUNT] += amount
    st[DcaRow.SPENT] += amount * price
    st[DcaRow.COMMITTED] += amount * price + fee
    st[DcaRow.PEAK_COMMITTED] = max(st[DcaRow.PEAK_COMMITTED], st[DcaRow.COMMITTED])
    st[DcaRow.LAST_BUY_BAR] = st[DcaRow.DECIDED_AT]
    if st[DcaRow.AMOUNT] <= 0:
        return 0  # nothing to sell yet: a part the venue's fee in base took whole
    target = st[DcaRow.SPENT] / st[DcaRow.AMOUNT] * (1 + st[DcaRow.TP_PCT])
    n = c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[DcaRow.TP_CODE]))
    return c.put(out, n, c.SELL, c.LIMIT, target, np.nan, np.nan, int(st[DcaRow.TP_CODE]))
