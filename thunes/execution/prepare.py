"""Order preparation, once: an intent and the venue's rules in, an order the venue will
accept out, or the reason it may not leave. The simulated broker (compiled loops and
per-event faces alike) calls it, and so will every live broker: no other code rounds a
price, sizes an amount or checks a minimum.

`venue` is a float64 row whose first fields are the market's (VENUE_FIELDS below); a
simulated broker's lane row starts with them, so it is passed as is.

Conventions, per order type:
- market buy: `amount`, else `quote` / price, else the sizer's amount; never more than the
  free cash affords (with the taker fee on top, when the fee is not taken from the base
  received); floored to the step. `price` is where it
  fills (the simulator: the slipped open; a live broker: its reference quote, since with
  Binance's `quoteOrderQty` the venue sizes the order at the fill, as the simulator does);
- market sell: `amount` (or the whole position), at most what is held;
- limit and stop: the price rounded to the tick the safe way (a buy never above its
  limit, a sell never below), the amount from `amount` or `quote` / price, floored to the
  step; NaN when neither is given (a sell of the whole position when it fills);
- a buy limit must fit the free cash (with the maker fee on top, when it is paid on top),
  as the venue locks it.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain.reasons import BELOW_MINIMUM, DUST, NO_CASH, UNDER_TICK
from thunes.domain.rows import BUY, LIMIT, MARKET, OrderRow
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import below_minimum, to_grid
from thunes.portfolio.sizing import buy_amount


class VenueRow(IntEnum):
    """A venue row: fees, slippage, the market's filters, the sizer (kind, value), the most
    one order may fill in one bar (inf: no limit; the simulator's partial fills), and
    whether the fee is taken from what an order receives (1, Binance's way) or paid on top
    in quote (0)."""

    MAKER = 0
    TAKER = 1
    SLIP = 2
    TICK = 3
    STEP = 4
    MIN_QTY = 5
    MIN_NOTIONAL = 6
    SIZER = 7
    SIZE = 8
    MAX_FILL = 9
    FEE_FROM_RECEIVED = 10


VENUE_FIELDS = len(VenueRow)


@njit(cache=True, inline="always")
def on_top(rate: float, v: Vec) -> float:
    """The fee rate a buy pays on top of its notional: none when the venue takes it from
    the base the buy receives."""
    return 0.0 if v[VenueRow.FEE_FROM_RECEIVED] else rate


@njit(cache=True)
def refusal(
    buy: bool,
    limit: bool,
    price: float,
    amount: float,
    fee: float,
    free: float,
    fresh: bool,
    v: Vec,
) -> int:
    """0, or why the venue would reject this amount at this price: under its minimums (a
    sell's rest is dust), or a buy limit beyond the free cash. Not `fresh`: the rest of an
    order that has filled in part, whose minimums the venue checked when it came in."""
    if fresh and below_minimum(amount, price, v[VenueRow.MIN_QTY], v[VenueRow.MIN_NOTIONAL]):
        return BELOW_MINIMUM if buy else DUST
    if amount <= 0:  # the rest of a buy the cash no longer affords
        return NO_CASH if buy else DUST
    if buy and limit and amount * price * (1 + on_top(fee, v)) > free:
        return NO_CASH
    return 0


@njit(cache=True)
def market_amount(o: Vec, price: float, free: float, held: float, v: Vec) -> float:
    """What a market order trades when it fills at `price` (see the module's conventions)."""
    if o[OrderRow.SIDE] != BUY:
        return held if np.isnan(o[OrderRow.AMOUNT]) else min(o[OrderRow.AMOUNT], held)
    taker = on_top(v[VenueRow.TAKER], v)
    if not np.isnan(o[OrderRow.AMOUNT]):
        wanted = o[OrderRow.AMOUNT]
    elif not np.isnan(o[OrderRow.QUOTE]):
        wanted = o[OrderRow.QUOTE] / price
    else:
        wanted = buy_amount(int(v[VenueRow.SIZER]), v[VenueRow.SIZE], free, price, taker)
    affordable = free / (1 + taker) / price
    return to_grid(min(wanted, affordable), v[VenueRow.STEP], False)


@njit(cache=True)
def resting(o: Vec, free: float, v: Vec) -> tuple[int, float, float]:
    """(reason, price, amount) of a limit or stop as it goes to rest: reason 0 when it may."""
    buy = o[OrderRow.SIDE] == BUY
    given = o[OrderRow.PRICE]
    price = to_grid(0.0 if np.isnan(given) else given, v[VenueRow.TICK], not buy)
    if price <= 0:
        return UNDER_TICK, price, o[OrderRow.AMOUNT]
    amount = np.nan
    if not (np.isnan(o[OrderRow.AMOUNT]) and np.isnan(o[OrderRow.QUOTE])):
        wanted = o[OrderRow.AMOUNT]
        if np.isnan(wanted):
            wanted = o[OrderRow.QUOTE] / price
        amount = to_grid(wanted, v[VenueRow.STEP], False)
        if o[OrderRow.TYPE] == LIMIT:
            why = refusal(buy, True, price, amount, v[VenueRow.MAKER], free, True, v)
            return why, price, amount
    return 0, price, amount


@njit(cache=True)
def prepare(o: Vec, price: float, free: float, held: float, v: Vec) -> tuple[int, float, float]:
    """(reason, price, amount) of order row `o` as it leaves: a market order at `price`
    (its fill or reference price), a limit or stop at its own. Reason 0: it may leave."""
    if o[OrderRow.TYPE] != MARKET:
        return resting(o, free, v)
    amount = market_amount(o, price, free, held, v)
    buy, fresh = o[OrderRow.SIDE] == BUY, o[OrderRow.FILLED] == 0
    return refusal(buy, False, price, amount, v[VenueRow.TAKER], free, fresh, v), price, amount
