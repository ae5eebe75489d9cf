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

import numpy as np
from numba import njit

from thunes.domain import rows as c
from thunes.execution.filters import FloatArray as Vec

KIND = 2.0
# parameters (EVERY, DROP: NaN when not set), the tags' codes, then the cycle's state
QUOTE, TP_PCT, EVERY, DROP, MULTIPLIER, MAX_SAFETY, BASE_CODE, TP_CODE = range(1, 9)
SAFETY_N, AMOUNT, SPENT, COMMITTED, LAST_PRICE, LAST_BUY_BAR = range(9, 15)
COMPLETED, STOPPED, PEAK_COMMITTED, DECIDED_AT, LAST_AMOUNT = range(15, 20)
SAFETY_CODES = 20  # then the code of "dca:safety:n" for n = 1..MAX_SAFETY
MAX_INTENTS = 2


@njit(cache=True)
def new_cycle(st: Vec) -> None:
    st[SAFETY_N], st[AMOUNT], st[SPENT], st[COMMITTED] = 0.0, 0.0, 0.0, 0.0
    st[LAST_PRICE], st[LAST_BUY_BAR] = 0.0, 0.0


@njit(cache=True)
def _buy(i: int, quote: float, tag: float, st: Vec, out: Vec) -> int:
    st[DECIDED_AT] = i  # the clock of `every_bars` starts at the deciding close
    return c.put(out, 0, c.BUY, c.MARKET, np.nan, np.nan, quote, int(tag))


@njit(cache=True)
def on_bar(i: int, close: float, st: Vec, out: Vec) -> int:
    if st[AMOUNT] <= 0:
        return _buy(i, st[QUOTE], st[BASE_CODE], st, out)
    if st[SAFETY_N] >= st[MAX_SAFETY]:
        return 0
    dropped = not np.isnan(st[DROP]) and close <= st[LAST_PRICE] * (1 - st[DROP])
    waited = not np.isnan(st[EVERY]) and i - st[LAST_BUY_BAR] >= st[EVERY]
    if not (dropped or waited):
        return 0
    n = st[SAFETY_N] + 1
    quote = st[QUOTE] * st[MULTIPLIER] ** n  # a float power, as Python's float ** int
    return _buy(i, quote, st[SAFETY_CODES + int(n) - 1], st, out)


@njit(cache=True)
def on_fill(
    buy: bool, price: float, amount: float, fee: float, tag: int, position: float, st: Vec, out: Vec
) -> int:
    if not buy:
        if st[AMOUNT] <= 0:
            return 0  # a later part of the sale that ended the cycle
        if position > 0:  # a partial sell: the take-profit still sells whatever is left
            kept = 1 - amount / st[AMOUNT]
            st[AMOUNT] -= amount
            st[SPENT] *= kept
            st[COMMITTED] *= kept
            return 0
        if tag == st[TP_CODE]:
            st[COMPLETED] += 1
        else:
            st[STOPPED] += 1
        new_cycle(st)
        return c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[TP_CODE]))
    first = tag == st[BASE_CODE] and st[AMOUNT] <= 0
    for k in range(int(st[MAX_SAFETY])):
        if st[SAFETY_CODES + k] == tag:
            first = st[SAFETY_N] <= k
            st[SAFETY_N] = max(st[SAFETY_N], k + 1)
    if first:
        st[LAST_PRICE], st[LAST_AMOUNT] = price, amount
    elif amount > 0:  # the volume-weighted price of this buy's parts
        st[LAST_AMOUNT] += amount
        st[LAST_PRICE] += (price - st[LAST_PRICE]) * amount / st[LAST_AMOUNT]
    st[AMOUNT] += amount
    st[SPENT] += amount * price
    st[COMMITTED] += amount * price + fee
    st[PEAK_COMMITTED] = max(st[PEAK_COMMITTED], st[COMMITTED])
    st[LAST_BUY_BAR] = st[DECIDED_AT]
    if st[AMOUNT] <= 0:
        return 0  # nothing to sell yet: a part the venue's fee in base took whole
    target = st[SPENT] / st[AMOUNT] * (1 + st[TP_PCT])
    n = c.put(out, 0, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, int(st[TP_CODE]))
    return c.put(out, n, c.SELL, c.LIMIT, target, np.nan, np.nan, int(st[TP_CODE]))
