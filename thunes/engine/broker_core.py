"""The simulated spot broker's rules, once, as numba functions over float64 arrays: the
compiled batch loops call them bar after bar, and `SimBroker` (sim_broker.py) calls the
same ones once per event. The conventions (fills, fees, intrabar path) are in sim_broker.py;
a lane meets candles (`on_bar`) or best bid/ask quotes (`on_quote`, the tick engine).

Arrays, shared by every symbol ("lane") trading out of one wallet:
- `acct`: the wallet's cash and the number of rows in the log;
- `lanes[j]`: symbol j's venue parameters, position, cost basis and clock;
- `ob[j, k]`: symbol j's orders in the order they were placed: the market orders queued
  for the next open (type MARKET) and the resting ones, as `SimBroker.resting` lists them;
- `lg`: what happened, one row per fill, skipped order, acceptance or cancellation;
- `rk`: the risk engine's vector (thunes/risk/rules.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from thunes.domain.rows import (
    AMOUNT,
    BUY,
    CANCEL,
    FILLED,
    FROM,
    ID,
    LIMIT,
    MARKET,
    MAX_LOSS_CODE,
    ORDER,
    PRICE,
    QUOTE,
    SELL,
    SIDE,
    STOP,
    TAG,
    TYPE,
)
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.prepare import (
    FEE_BASE,
    MAKER,
    MAX_FILL,
    SLIP,
    STEP,
    TAKER,
    TICK,
    VENUE_FIELDS,
    on_top,
    prepare,
    refusal,
)
from thunes.execution.rounding import sum_add, sum_end, to_grid
from thunes.risk import rules

Mask = npt.NDArray[np.bool_]
CASH, N_LOG = range(2)  # acct
# lanes: the venue's fields (execution/prepare.py), then the lane's state
# POS: the base that can be sold (on the step); DUST: what a fee taken in the base left
# under one step, held but never sold
POS, BOOK_AMOUNT, BOOK_COST, BAR, TIME, N_ORDERS, N_FILLS, N_PLACED, DUST = range(
    VENUE_FIELDS, VENUE_FIELDS + 9
)
LANE = VENUE_FIELDS + 9
KIND, LANE_OF, AT, L_SIDE, L_TYPE, L_PRICE, L_AMOUNT, FEE, L_TAG, IS_MAKER, REASON = range(11)
# when, the order's number, what is left of it, the fill's number, the base it added to
# (or took from) the position, and the base the venue kept as its fee
L_TIME, L_ID, L_REMAINING, L_TRADE, L_NET, L_FEE_BASE = range(11, 17)
LOG = 17
FILL, SKIP, ACCEPTED, CANCELED = range(4)  # KIND: a skip is also the strategy's rejection


@njit(cache=True)
def _log(
    kind: int,
    j: int,
    o: Vec,
    price: float,
    amount: float,
    fee: float,
    maker: bool,
    reason: int,
    acct: Vec,
    lanes: Vec,
    lg: Vec,
) -> None:
    """One row about order `o` (its side, type and tag), at lane j's current bar."""
    k = int(acct[N_LOG])
    if k >= len(lg):
        raise IndexError("the broker's log is full: grow it before the call")
    row = lg[k]
    row[KIND], row[LANE_OF], row[AT] = kind, j, lanes[j, BAR]
    row[L_SIDE], row[L_TYPE], row[L_TAG] = o[SIDE], o[TYPE], o[TAG]
    row[L_PRICE], row[L_AMOUNT], row[FEE] = price, amount, fee
    row[IS_MAKER], row[REASON], acct[N_LOG] = maker, reason, k + 1
    row[L_TIME], row[L_ID], row[L_REMAINING], row[L_TRADE] = lanes[j, TIME], o[ID], 0.0, 0.0


@njit(cache=True)
def reserved(j: int, lanes: Vec, ob: Vec) -> float:
    """Quote locked by lane j's resting buy limits, as an exchange locks it."""
    fee, total, compensation = 1 + on_top(lanes[j, MAKER], lanes[j]), 0.0, 0.0
    for k in range(int(lanes[j, N_ORDERS])):
        o = ob[j, k]
        if o[TYPE] != MARKET and o[SIDE] == BUY:
            locked = o[PRICE] * (0.0 if np.isnan(o[AMOUNT]) else o[AMOUNT]) * fee
            total, compensation = sum_add(total, compensation, locked)
    return sum_end(total, compensation)


@njit(cache=True)
def free_cash(acct: Vec, lanes: Vec, ob: Vec) -> float:
    """The wallet's cash not locked by any lane's resting buy limit."""
    locked, compensation = 0.0, 0.0
    for j in range(len(lanes)):
        locked, compensation = sum_add(locked, compensation, reserved(j, lanes, ob))
    return acct[CASH] - sum_end(locked, compensation)


@njit(cache=True)
def committed(j: int, lanes: Vec, ob: Vec) -> bool:
    """Holding, or about to: a position, a queued market buy or a resting buy limit.
    A position counts against max_open_positions from the moment its buy is sent."""
    if lanes[j, POS] > 0:
        return True
    n, k = int(lanes[j, N_ORDERS]), 0
    while k < n and ob[j, k, SIDE] != BUY:
        k += 1
    return k < n


@njit(cache=True)
def open_positions(lanes: Vec, ob: Vec) -> int:
    n = 0
    for j in range(len(lanes)):
        n += committed(j, lanes, ob)
    return n


@njit(cache=True)
def _append(j: int, o: Vec, lanes: Vec, ob: Vec) -> int:
    n = int(lanes[j, N_ORDERS])
    if n >= ob.shape[1]:
        raise IndexError("the broker's order table is full: grow it before the call")
    ob[j, n] = o
    lanes[j, N_ORDERS] = n + 1
    return n


@njit(cache=True)
def _place(j: int, o: Vec, lanes: Vec, ob: Vec) -> int:
    """`_append` a new order, numbered as its client order id will be."""
    lanes[j, N_PLACED] += 1
    o[ID] = lanes[j, N_PLACED]
    return _append(j, o, lanes, ob)


@njit(cache=True)
def _insert(j: int, k: int, o: Vec, lanes: Vec, ob: Vec) -> None:
    """Put order `o` back at place k (an order's unfilled rest keeps its turn)."""
    n = _append(j, o, lanes, ob)
    for m in range(n, k, -1):
        ob[j, m] = ob[j, m - 1]
    ob[j, k] = o


@njit(cache=True)
def _drop(j: int, k: int, lanes: Vec, ob: Vec) -> None:
    """Take order k out, keeping the others in their order."""
    n = int(lanes[j, N_ORDERS])
    for m in range(k, n - 1):
        ob[j, m] = ob[j, m + 1]
    lanes[j, N_ORDERS] = n - 1


@njit(cache=True)
def _remove(j: int, k: int, lanes: Vec, ob: Vec) -> Vec:
    """`_drop`, returning a copy of the order (one allocation: only where it is used)."""
    o = ob[j, k].copy()
    _drop(j, k, lanes, ob)
    return o


@njit(cache=True)
def _order(
    side: float, type_: int, price: float, amount: float, quote: float, tag: float, from_: float
) -> Vec:
    o = np.empty(ORDER)
    o[SIDE], o[TYPE], o[PRICE], o[AMOUNT], o[QUOTE] = side, type_, price, amount, quote
    o[TAG], o[FROM], o[ID], o[FILLED] = tag, from_, 0.0, 0.0
    return o


@njit(cache=True)
def _find(j: int, o: Vec, lanes: Vec, ob: Vec) -> int:
    """The first resting order equal to `o` field by field (as `order in resting` compares),
    or -1: an order taken out since `o` was copied is not there any more."""
    for k in range(int(lanes[j, N_ORDERS])):
        r = ob[j, k]
        same_amount = r[AMOUNT] == o[AMOUNT] or (np.isnan(r[AMOUNT]) and np.isnan(o[AMOUNT]))
        if (
            r[TYPE] != MARKET
            and r[SIDE] == o[SIDE]
            and r[TYPE] == o[TYPE]
            and r[PRICE] == o[PRICE]
            and same_amount
            and r[TAG] == o[TAG]
            and r[FROM] == o[FROM]
        ):
            return k
    return -1


@njit(cache=True)
def skip(
    j: int, o: Vec, price: float, amount: float, reason: int, acct: Vec, lanes: Vec, lg: Vec
) -> None:
    """Record an order that never left, or was refused at fill time."""
    _log(SKIP, j, o, price, amount, 0.0, False, reason, acct, lanes, lg)


@njit(cache=True)
def cancel(j: int, tags: Mask, buys: bool, acct: Vec, lanes: Vec, ob: Vec, lg: Vec) -> None:
    """Withdraw lane j's orders at work whose tag is in `tags` (or, `buys`, every buy):
    resting ones, and market ones still queued (the rest of an order filling in parts)."""
    k = 0
    while k < lanes[j, N_ORDERS]:
        o = ob[j, k]
        hit = o[SIDE] == BUY if buys else tags[int(o[TAG])]
        if not hit:
            k += 1
            continue
        o = _remove(j, k, lanes, ob)
        if o[TAG] != MAX_LOSS_CODE:  # the risk engine's own stop is not the strategy's
            _log(CANCELED, j, o, o[PRICE], np.nan, 0.0, False, 0, acct, lanes, lg)


@njit(cache=True)
def _selling_out(j: int, lanes: Vec, ob: Vec) -> bool:
    """The protective stop has triggered and its rest sells at the next open: no new stop
    under what is already being sold (partial fills only)."""
    for k in range(int(lanes[j, N_ORDERS])):
        if ob[j, k, TYPE] == MARKET and ob[j, k, TAG] == MAX_LOSS_CODE:
            return True
    return False


@njit(cache=True)
def protective(j: int, lanes: Vec, ob: Vec) -> int:
    """Where the risk engine's resting stop is in lane j's table, or -1."""
    for k in range(int(lanes[j, N_ORDERS])):
        if ob[j, k, TYPE] != MARKET and ob[j, k, TAG] == MAX_LOSS_CODE:
            return k
    return -1


@njit(cache=True)
def _risk(j: int, out: Vec, n: int, acct: Vec, lanes: Vec, ob: Vec, lg: Vec) -> None:
    """Carry out the risk engine's commands (rules.after_fill). Its stop guards from this
    bar on, and neither it nor its withdrawal is news to the strategy; its withdrawal
    leaves a triggered stop's rest to sell."""
    for r in range(n):
        o = out[r]
        if o[TYPE] == CANCEL and o[TAG] == rules.EVERY_BUY:
            cancel(j, np.zeros(0, np.bool_), True, acct, lanes, ob, lg)
        elif o[TYPE] == CANCEL:  # the protective stop
            k = protective(j, lanes, ob)
            if k >= 0:
                _drop(j, k, lanes, ob)
        elif o[TYPE] == MARKET or not _selling_out(j, lanes, ob):
            _place(
                j,
                _order(o[SIDE], int(o[TYPE]), o[PRICE], np.nan, np.nan, o[TAG], lanes[j, BAR]),
                lanes,
                ob,
            )


@njit(cache=True)
def _book(j: int, buy: bool, price: float, amount: float, fee: float, lanes: Vec) -> float:
    """Cost basis of the open position (fees in); returns a sell's realised PnL, fees of both
    legs included (0 for a buy)."""
    if buy:
        lanes[j, BOOK_AMOUNT] += amount
        lanes[j, BOOK_COST] += amount * price + fee
        return 0.0
    held = lanes[j, BOOK_AMOUNT]
    share = min(1.0, amount / held) if held > 0 else 1.0
    basis = lanes[j, BOOK_COST] * share
    lanes[j, BOOK_AMOUNT] = max(0.0, held - amount)
    lanes[j, BOOK_COST] -= basis
    if lanes[j, BOOK_AMOUNT] == 0.0:
        lanes[j, BOOK_COST] = 0.0
    return amount * price - fee - basis


@njit(cache=True)
def _execute(
    j: int,
    o: Vec,
    price: float,
    amount: float,
    fee_rate: float,
    maker: bool,
    remaining: float,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Book a fill of `amount` of order `o`; `remaining`: what is left of it after. The fee
    is paid on top in quote, or (FEE_BASE, the venue's way) taken from what the order
    receives: base on a buy, whose part under one step is dust, quote on a sell."""
    buy = o[SIDE] == BUY
    fee = amount * price * fee_rate  # its value in quote, whatever pays it
    withheld, kept, cost_fee = 0.0, amount, fee
    if buy and lanes[j, FEE_BASE]:
        withheld = amount * fee_rate
        kept = _sellable(j, amount - withheld, lanes)
        acct[CASH] -= amount * price
        cost_fee = (amount - kept) * price  # the basis of what can be sold: all that was paid
    elif buy:
        acct[CASH] -= amount * price + fee
    else:
        acct[CASH] += amount * price - fee
    if buy:
        lanes[j, POS] = np.round(lanes[j, POS] + kept, 12)  # no binary dust
    else:
        held = lanes[j, POS]
        lanes[j, POS] = np.round(held - amount, 12) if amount < held else 0.0
    row = int(acct[N_LOG])
    _log(FILL, j, o, price, amount, fee, maker, 0, acct, lanes, lg)
    lanes[j, N_FILLS] += 1
    lg[row, L_REMAINING], lg[row, L_TRADE] = remaining, lanes[j, N_FILLS]
    lg[row, L_NET], lg[row, L_FEE_BASE] = kept, withheld
    pnl = _book(j, buy, price, kept, cost_fee, lanes)
    if rk[rules.ON] == 0:
        return
    out = np.empty((rules.MAX_COMMANDS, ORDER))
    n = rules.after_fill(
        not buy,
        pnl,
        lanes[j, TIME],
        o[TAG] == MAX_LOSS_CODE,
        lanes[j, BOOK_AMOUNT],
        lanes[j, BOOK_COST],
        lanes[j, POS],
        lanes[j, TICK],
        rk,
        out,
    )
    _risk(j, out, n, acct, lanes, ob, lg)


@njit(cache=True)
def _rest(o: Vec, part: float, left: float, sized: bool) -> Vec:
    """What is left of order `o` once `part` of it filled: `left`, if it was `sized` (else
    still the whole position), as the same order."""
    rest = o.copy()
    if sized:
        rest[AMOUNT], rest[QUOTE] = left, np.nan
    rest[FILLED] += part
    return rest


@njit(cache=True)
def _sellable(j: int, received: float, lanes: Vec) -> float:
    """Book base `received` net of a fee the venue kept in base: the balance's part on the
    step can be sold, the rest is dust, which a later buy can lift back over a step (one
    balance, as on the venue). Returns what the buy added to what can be sold."""
    held = lanes[j, POS]
    balance = held + lanes[j, DUST] + received
    sellable = to_grid(balance, lanes[j, STEP], False)
    lanes[j, DUST] = balance - sellable
    return np.round(sellable - held, 12)


@njit(cache=True, inline="always")
def _part(amount: float, venue: Vec) -> float:
    """What of `amount` fills in this bar: all of it, or the venue's most per order."""
    cap = venue[MAX_FILL]
    if amount <= cap:
        return amount
    return min(amount, max(to_grid(cap, venue[STEP], False), venue[STEP]))  # a step at least


@njit(cache=True)
def submit(
    j: int,
    o: Vec,
    positions: int,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Accept, rest or skip order `o` (an `_order` row; NaN: not given) at lane j's current
    bar, after its close or a fill; `positions`: the lanes committed before it."""
    buy = o[SIDE] == BUY
    if buy:
        reason = rules.allows(lanes[j, TIME], positions, committed(j, lanes, ob), rk)
        if reason:
            rules.refused(reason, rk)
            price = np.nan if o[PRICE] == 0 else o[PRICE]
            amount = np.nan if o[AMOUNT] == 0 else o[AMOUNT]
            skip(j, o, price, amount, reason, acct, lanes, lg)
            return
    if o[TYPE] == MARKET:  # sized when it fills (prepare.market_amount)
        queued = o.copy()
        _place(j, queued, lanes, ob)
        _log(ACCEPTED, j, queued, np.nan, np.nan, 0.0, False, 0, acct, lanes, lg)
        return
    free = free_cash(acct, lanes, ob) if buy and o[TYPE] == LIMIT else 0.0
    reason, price, amount = prepare(o, np.nan, free, lanes[j, POS], lanes[j])
    if reason:
        skip(j, o, price, np.nan if amount == 0 else amount, reason, acct, lanes, lg)
        return
    order = _order(o[SIDE], int(o[TYPE]), price, amount, np.nan, o[TAG], lanes[j, BAR] + 1)
    _place(j, order, lanes, ob)
    _log(ACCEPTED, j, order, price, np.nan, 0.0, False, 0, acct, lanes, lg)


@njit(cache=True)
def would_refuse(j: int, o: Vec, positions: int, acct: Vec, rk: Vec, lanes: Vec, ob: Vec) -> int:
    """The reason `submit` would skip order `o` for now, or 0, asking without counting or
    logging anything (the checks `submit` makes, in its order): an engine whose strategy
    asks again at every quote while its signal holds records a run of refusals once."""
    buy = o[SIDE] == BUY
    reason = rules.allows(lanes[j, TIME], positions, committed(j, lanes, ob), rk) if buy else 0
    if reason or o[TYPE] == MARKET:
        return reason
    free = free_cash(acct, lanes, ob) if buy and o[TYPE] == LIMIT else 0.0
    return prepare(o, np.nan, free, lanes[j, POS], lanes[j])[0]


@njit(cache=True)
def _fill_market(
    j: int, o: Vec, open_: float, acct: Vec, rk: Vec, lanes: Vec, ob: Vec, lg: Vec
) -> None:
    """Fill a queued market order at this open; a rest beyond the bar's most waits for the
    next open, as the same order, sized now."""
    buy, held = o[SIDE] == BUY, lanes[j, POS]
    if not buy and held <= 0:
        return
    slipped = open_ * (1 + lanes[j, SLIP]) if buy else open_ * (1 - lanes[j, SLIP])
    price = to_grid(slipped, lanes[j, TICK], buy)  # the adverse way
    free = free_cash(acct, lanes, ob) if buy else 0.0
    why, price, amount = prepare(o, price, free, held, lanes[j])
    if why:
        skip(j, o, price, amount, why, acct, lanes, lg)
        return
    part = _part(amount, lanes[j])
    left = np.round(amount - part, 12)
    if part < amount:
        _append(j, _rest(o, part, left, buy or not np.isnan(o[AMOUNT])), lanes, ob)
    _execute(j, o, price, part, lanes[j, TAKER], False, left, acct, rk, lanes, ob, lg)


@njit(cache=True)
def _fill_resting(
    j: int, k: int, price: float, maker: bool, acct: Vec, rk: Vec, lanes: Vec, ob: Vec, lg: Vec
) -> None:
    """Fill resting order k at `price`. A limit's rest beyond the bar's most keeps resting
    in its place; a triggered stop's rest sells at the next open."""
    o = _remove(j, k, lanes, ob)
    held = lanes[j, POS]
    buy, limit = o[SIDE] == BUY, o[TYPE] == LIMIT
    amount = held if np.isnan(o[AMOUNT]) else o[AMOUNT]
    if not buy:
        amount = min(amount, held)
        if amount <= 0:
            return
    fee = lanes[j, MAKER] if maker else lanes[j, TAKER]
    free = free_cash(acct, lanes, ob) if buy and limit else 0.0
    why = refusal(buy, limit, price, amount, fee, free, o[FILLED] == 0, lanes[j])
    if why:
        skip(j, o, price, amount, why, acct, lanes, lg)
        return
    part = _part(amount, lanes[j])
    left = np.round(amount - part, 12)
    if part < amount:
        rest = _rest(o, part, left, not np.isnan(o[AMOUNT]))
        if limit:
            _insert(j, k, rest, lanes, ob)
        else:
            rest[TYPE] = MARKET
            _append(j, rest, lanes, ob)
    _execute(j, o, price, part, fee, maker, left, acct, rk, lanes, ob, lg)


@njit(cache=True)
def _met_going_down(o: Vec, bar: float, low: float, offer: float) -> bool:
    """A resting buy limit the sellers' lowest price (`offer`) trades through, or a stop
    the low reaches. On a bar both are its low; at a quote, the ask and the bid."""
    if o[TYPE] == MARKET or o[FROM] > bar:
        return False
    return (o[TYPE] == LIMIT and o[SIDE] == BUY and offer < o[PRICE]) or (
        o[TYPE] == STOP and low <= o[PRICE]
    )


@njit(cache=True)
def _met_going_up(o: Vec, bar: float, high: float) -> bool:
    """A resting sell limit the high trades through."""
    return o[TYPE] == LIMIT and o[SIDE] == SELL and o[FROM] <= bar and high > o[PRICE]


@njit(cache=True)
def _descend(
    j: int,
    open_: float,
    low: float,
    offer: float,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Buy limits (met by `offer`, see `_met_going_down`) and stops met on the way down,
    highest price first (stops on ties, then the order they were placed in).

    Each event carries the price the market is at when it happens: a stop fills there,
    which is its own price, the open when the bar gapped through it, or, for a
    protective stop born above the market by a buy on the way down, that buy's price.
    """
    n, bar = int(lanes[j, N_ORDERS]), lanes[j, BAR]
    m = 0
    for k in range(n):
        m += _met_going_down(ob[j, k], bar, low, offer)
    if m == 0:
        return  # most bars: no allocation
    size = 2 * n + 2
    keys, limits, alive = np.empty(size), np.empty(size, np.bool_), np.zeros(size, np.bool_)
    met = np.empty((size, ORDER))
    m = 0
    for k in range(n):
        o = ob[j, k]
        if _met_going_down(o, bar, low, offer):
            keys[m], limits[m], alive[m], met[m] = -min(o[PRICE], open_), o[TYPE] == LIMIT, True, o
            m += 1
    while True:
        e = -1
        for c in range(m):  # the heap's order: key, then limit after stop, then placed first
            if alive[c] and (
                e < 0 or keys[c] < keys[e] or (keys[c] == keys[e] and limits[e] and not limits[c])
            ):
                e = c
        if e < 0:
            return
        alive[e] = False
        k = _find(j, met[e], lanes, ob)
        if k < 0:
            continue
        level, filled = -keys[e], lanes[j, N_FILLS]
        if met[e, TYPE] == STOP:
            slipped = to_grid(level * (1 - lanes[j, SLIP]), lanes[j, TICK], False)
            _fill_resting(j, k, slipped, False, acct, rk, lanes, ob, lg)
        else:
            _fill_resting(j, k, met[e, PRICE], True, acct, rk, lanes, ob, lg)
        if lanes[j, N_FILLS] == filled:
            continue  # refused (e.g. dust): nothing changed, so no new stop to meet
        s = protective(j, lanes, ob)
        if s >= 0 and low <= ob[j, s, PRICE]:
            if m >= size:
                raise IndexError("more stops met in one bar than orders")
            keys[m], limits[m], alive[m], met[m] = (
                -min(ob[j, s, PRICE], level),
                False,
                True,
                ob[j, s],
            )
            m += 1


@njit(cache=True, inline="always")
def clock(j: int, bar: int, time_ms: float, lanes: Vec) -> None:
    """Lane j's current bar and time (its fills happen there; its orders leave then)."""
    lanes[j, BAR], lanes[j, TIME] = bar, time_ms


@njit(cache=True, inline="always")
def reaches(j: int, high: float, low: float, lanes: Vec, ob: Vec) -> bool:
    """Whether a bar spanning low..high may fill any of lane j's orders: on_bar's quick
    test, inlined into the compiled loops, which skip the call on most bars."""
    for k in range(int(lanes[j, N_ORDERS])):
        kind, price = ob[j, k, TYPE], ob[j, k, PRICE]  # no view of the row: no refcounting
        if (
            kind == MARKET
            or (kind == STOP and low <= price)
            or (kind == LIMIT and (low < price if ob[j, k, SIDE] == BUY else high > price))
        ):
            return True
    return False


@njit(cache=True)
def _fill_queued(
    j: int, buys_at: float, sells_at: float, acct: Vec, rk: Vec, lanes: Vec, ob: Vec, lg: Vec
) -> None:
    """Fill lane j's queued market orders, in the order they were placed: buys at
    `buys_at`, sells at `sells_at` (a bar's open for both; at a quote, the ask and the bid)."""
    n = int(lanes[j, N_ORDERS])
    q = 0
    for k in range(n):
        q += ob[j, k, TYPE] == MARKET
    if q:
        queued = np.empty((q, ORDER))
        q, k = 0, 0
        while k < lanes[j, N_ORDERS]:  # the queue empties; the kill-switch may queue a sell
            if ob[j, k, TYPE] == MARKET:
                queued[q] = ob[j, k]
                _drop(j, k, lanes, ob)
                q += 1
            else:
                k += 1
        for c in range(q):
            at = buys_at if queued[c, SIDE] == BUY else sells_at
            _fill_market(j, queued[c], at, acct, rk, lanes, ob, lg)


@njit(cache=True)
def _ascend(
    j: int, bar: int, high: float, acct: Vec, rk: Vec, lanes: Vec, ob: Vec, lg: Vec
) -> None:
    """Sell limits the buyers' highest price (a bar's high, a quote's bid) trades through,
    lowest price first."""
    n, s = int(lanes[j, N_ORDERS]), 0
    for k in range(n):
        s += _met_going_up(ob[j, k], bar, high)
    if s == 0:
        return
    sells = np.empty((s, ORDER))
    s = 0
    for k in range(n):
        o = ob[j, k]
        if _met_going_up(o, bar, high):
            c = s  # insertion sort by price: stable, as `sorted` is
            while c > 0 and sells[c - 1, PRICE] > o[PRICE]:
                sells[c] = sells[c - 1]
                c -= 1
            sells[c] = o
            s += 1
    for c in range(s):
        k = _find(j, sells[c], lanes, ob)
        if k >= 0:
            _fill_resting(j, k, sells[c, PRICE], True, acct, rk, lanes, ob, lg)


@njit(cache=True)
def on_bar(
    j: int,
    bar: int,
    time_ms: float,
    open_: float,
    high: float,
    low: float,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Fill what lane j's bar reaches, along open -> low -> high."""
    clock(j, bar, time_ms, lanes)
    if not reaches(j, high, low, lanes, ob):
        return  # most bars: nothing to fill
    _fill_queued(j, open_, open_, acct, rk, lanes, ob, lg)
    _descend(j, open_, low, low, acct, rk, lanes, ob, lg)
    _ascend(j, bar, high, acct, rk, lanes, ob, lg)


@njit(cache=True)
def on_quote(
    j: int,
    tick: int,
    time_ms: float,
    bid: float,
    ask: float,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Fill what lane j's best bid/ask reach at one instant (`tick`: its number, as a
    bar's): market buys at the ask and sells at the bid; a buy limit at its price when the
    ask is strictly below it, a sell limit when the bid is strictly above it (maker); a
    stop when the bid reaches it, at the bid (taker; a lane on quotes has no slippage).
    Stops and buy limits first, as on a bar's way down, the risk engine's stop guarding a
    buy from the quote that filled it; sell limits last."""
    clock(j, tick, time_ms, lanes)
    if not reaches(j, bid, bid, lanes, ob):  # the bid for buy limits too: a looser test
        return  # most quotes: nothing to fill
    _fill_queued(j, ask, bid, acct, rk, lanes, ob, lg)
    _descend(j, bid, bid, ask, acct, rk, lanes, ob, lg)
    _ascend(j, tick, bid, acct, rk, lanes, ob, lg)
