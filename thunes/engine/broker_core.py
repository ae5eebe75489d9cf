"""The simulated spot broker's rules, once, as numba functions over float64 arrays: the
compiled batch loops call them bar after bar, and `SimBroker` (sim_broker.py) calls the
same ones once per event. The conventions (fills, fees, intrabar path) are in sim_broker.py;
a lane meets candles (`on_bar`) or best bid/ask quotes (`on_quote`, the tick engine).

A `Book` is the tuple of arrays shared by every symbol ("lane") trading out of one wallet, each
laid out by an `IntEnum` of its own:
- `acct` (`AcctRow`): the wallet's cash and the number of rows in the log;
- `lanes[j]`: symbol j's venue parameters (`VenueRow`), then its position, cost basis and
  clock (`LaneRow`);
- `orders[j, k]` (`OrderRow`): symbol j's orders in the order they were placed: the market
  orders queued for the next open (type MARKET) and the resting ones, as
  `SimBroker.resting` lists them;
- `log` (`LogRow`): what happened, one row per fill, skipped order, acceptance or
  cancellation;
- `scratch` (`ScratchRow`, `scratch`): rows the fill path works in (an order taken out of
  the table, the risk engine's commands, the orders one bar meets), made once per run
  and sized by the order table: a fill allocates no array.
`rk`, passed beside it, is the risk engine's vector (thunes/risk/rules.py: `RiskRow`).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt
from numba import njit

from thunes.domain.rows import (
    BUY,
    CANCEL,
    LIMIT,
    MARKET,
    MAX_LOSS_CODE,
    ORDER,
    SELL,
    STOP,
    OrderRow,
)
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.prepare import (
    VENUE_FIELDS,
    VenueRow,
    on_top,
    prepare,
    refusal,
)
from thunes.execution.rounding import sum_add, sum_end, to_grid
from thunes.risk import rules
from thunes.risk.rules import RiskRow

Mask = npt.NDArray[np.bool_]

# The fill path is compiled without numba's runtime (NRT): its functions take the run's arrays
# and allocate none (`scratch` holds what they work in), so they need no reference counting.
# With it, a call increfs every array it is passed (each of a `Book`'s) and decrefs them at its
# return, and numba's refcount pruning keeps both in any function that may raise (a full order
# table or log): that was ~77% of a fill-heavy sweep's compiled time. (Without it, a function
# may return no array it was not passed: rows of the scratch are written, not returned.)
core = njit(cache=True, _nrt=False)  # type: ignore[call-overload]  # stubs lack _nrt
_NO_TAGS = np.zeros(0, np.bool_)  # `cancel` by `every`, not by tags (a constant: no allocation)


class AcctRow(IntEnum):
    """The wallet's account."""

    CASH = 0
    N_LOG = 1  # rows in use in the log


class LaneRow(IntEnum):
    """A lane's state, after its venue's fields (`VenueRow`). POS: the base that can be
    sold (on the step); DUST: what a fee taken in the base left under one step, held but
    never sold; BAR, TIME: its clock; N_PLACED: orders numbered so far; FLOOR, CEILING:
    the band a bar meets none of its orders within (`band`, `reaches`)."""

    POS = VENUE_FIELDS
    BOOK_AMOUNT = VENUE_FIELDS + 1
    BOOK_COST = VENUE_FIELDS + 2
    BAR = VENUE_FIELDS + 3
    TIME = VENUE_FIELDS + 4
    N_ORDERS = VENUE_FIELDS + 5
    N_FILLS = VENUE_FIELDS + 6
    N_PLACED = VENUE_FIELDS + 7
    DUST = VENUE_FIELDS + 8
    FLOOR = VENUE_FIELDS + 9
    CEILING = VENUE_FIELDS + 10


LANE_WIDTH = VENUE_FIELDS + len(LaneRow)


class LogRow(IntEnum):
    """A log row, about one order: what happened (KIND: FILL, SKIP...), in which lane, at
    which bar and time; the order's side, type, tag and number (ID); the price, amount, fee
    (its value in quote) and maker flag of a fill, or a skip's reason; what is left of the
    order, the fill's number (TRADE), the base it added to (or took from) the position
    (NET), and the base the venue kept as its fee (WITHHELD)."""

    KIND = 0
    LANE = 1
    BAR = 2
    SIDE = 3
    TYPE = 4
    PRICE = 5
    AMOUNT = 6
    FEE = 7
    TAG = 8
    IS_MAKER = 9
    REASON = 10
    TIME = 11
    ID = 12
    REMAINING = 13
    TRADE = 14
    NET = 15
    WITHHELD = 16


LOG_WIDTH = len(LogRow)
FILL, SKIP, ACCEPTED, CANCELED = range(4)  # KIND: a skip is also the strategy's rejection


# The arrays every lane of one wallet shares, as one argument (acct, lanes, orders, log,
# scratch; see the module's docstring), unpacked where they are used. A plain tuple: numba
# types it from Python as fast as five arrays, where a NamedTuple costs the per-event face
# ~1 us a call.
Book = tuple[Vec, Vec, Vec, Vec, Vec]


class ScratchRow(IntEnum):
    """The scratch's rows, each an order row (`OrderRow`) unless said: TAKEN, the order
    being filled, out of the table; REST, what is left of it; COMMANDS, the first of the
    risk engine's (rules.MAX_COMMANDS rows); MET, the first of the orders one bar or quote
    meets, in the order they fill (queued ones, then the way down, then up: one at a time),
    then as many rows of their sort keys (`MetRow`)."""

    TAKEN = 0
    REST = 1
    COMMANDS = 2
    MET = 2 + rules.MAX_COMMANDS


class MetRow(IntEnum):
    """A met order's sort key, in its row of the scratch's second half."""

    KEY = 0  # minus the price it fills at: the highest first
    LIMIT = 1  # a limit, after a stop at the same price
    ALIVE = 2  # not yet filled (or found gone)


@njit(cache=True, inline="always")
def _met_rows(slots: int) -> int:
    """Orders one bar may meet: every order of the table, and a protective stop after each
    fill on the way down."""
    return 2 * slots + 2


@njit(cache=True)  # allocates: numba's runtime
def scratch(slots: int) -> Vec:
    """The scratch for an order table of `slots` orders a lane."""
    return np.zeros((ScratchRow.MET + 2 * _met_rows(slots), ORDER))


@njit(cache=True)  # allocates: numba's runtime
def grown(log: Vec) -> Vec:
    """The log again in one twice as long, its new rows empty: for a run whose next step
    could overflow it (rarely), which goes on from where it stopped."""
    return np.concatenate((log, np.zeros_like(log)))


@njit(cache=True, inline="always")
def _met_base(sc: Vec, slots: int) -> int:
    """Where the met orders' sort keys start; checks the scratch fits the table."""
    rows = _met_rows(slots)
    if len(sc) < ScratchRow.MET + 2 * rows:
        raise IndexError("the broker's scratch is smaller than its order table: make it anew")
    return ScratchRow.MET + rows


@njit(cache=True, inline="always")
def _copy(to: Vec, row: Vec) -> None:
    """Order `row` written onto `to`, field by field (an array assignment may copy through a
    temporary: an allocation)."""
    for f in range(ORDER):
        to[f] = row[f]


@core
def _log(
    kind: int,
    j: int,
    o: Vec,
    price: float,
    amount: float,
    fee: float,
    maker: bool,
    reason: int,
    b: Book,
) -> None:
    """One row about order `o` (its side, type and tag), at lane j's current bar."""
    acct, lanes, _, log, _ = b
    k = int(acct[AcctRow.N_LOG])
    if k >= len(log):
        raise IndexError("the broker's log is full: grow it before the call")
    row = log[k]
    row[LogRow.KIND], row[LogRow.LANE], row[LogRow.BAR] = kind, j, lanes[j, LaneRow.BAR]
    row[LogRow.SIDE], row[LogRow.TYPE] = o[OrderRow.SIDE], o[OrderRow.TYPE]
    row[LogRow.TAG], row[LogRow.ID] = o[OrderRow.TAG], o[OrderRow.ID]
    row[LogRow.PRICE], row[LogRow.AMOUNT], row[LogRow.FEE] = price, amount, fee
    row[LogRow.IS_MAKER], row[LogRow.REASON], acct[AcctRow.N_LOG] = maker, reason, k + 1
    row[LogRow.TIME], row[LogRow.REMAINING], row[LogRow.TRADE] = lanes[j, LaneRow.TIME], 0.0, 0.0


@core
def reserved(j: int, b: Book) -> float:
    """Quote locked by lane j's resting buy limits, as an exchange locks it."""
    _, lanes, orders, _, _ = b
    fee, total, compensation = 1 + on_top(lanes[j, VenueRow.MAKER], lanes[j]), 0.0, 0.0
    for k in range(int(lanes[j, LaneRow.N_ORDERS])):  # no view of a row: no refcounting
        if orders[j, k, OrderRow.TYPE] != MARKET and orders[j, k, OrderRow.SIDE] == BUY:
            amount = orders[j, k, OrderRow.AMOUNT]
            locked = orders[j, k, OrderRow.PRICE] * (0.0 if np.isnan(amount) else amount) * fee
            total, compensation = sum_add(total, compensation, locked)
    return sum_end(total, compensation)


@core
def free_cash(b: Book) -> float:
    """The wallet's cash not locked by any lane's resting buy limit."""
    acct, lanes, _, _, _ = b
    locked, compensation = 0.0, 0.0
    for j in range(len(lanes)):
        locked, compensation = sum_add(locked, compensation, reserved(j, b))
    return acct[AcctRow.CASH] - sum_end(locked, compensation)


@core
def committed(j: int, b: Book) -> bool:
    """Holding, or about to: a position, a queued market buy or a resting buy limit.
    A position counts against max_open_positions from the moment its buy is sent."""
    _, lanes, orders, _, _ = b
    if lanes[j, LaneRow.POS] > 0:
        return True
    n, k = int(lanes[j, LaneRow.N_ORDERS]), 0
    while k < n and orders[j, k, OrderRow.SIDE] != BUY:
        k += 1
    return k < n


@core
def open_positions(b: Book) -> int:
    _, lanes, _, _, _ = b
    n = 0
    for j in range(len(lanes)):
        n += committed(j, b)
    return n


@core
def working(j: int, b: Book) -> int:
    """Lane j's orders at work, the risk engine's protective stop aside."""
    _, lanes, _, _, _ = b
    n = int(lanes[j, LaneRow.N_ORDERS])
    return n - 1 if n and protective(j, b) >= 0 else n


@core
def risk_refusal(j: int, o: Vec, positions: int, rk: Vec, b: Book) -> int:
    """The risk rules' reason to keep a strategy's order `o` on lane j from leaving now, or 0
    (rules.allows, on what this book holds)."""
    if rk[RiskRow.ON] == 0:
        return 0
    _, lanes, _, _, _ = b
    buy = o[OrderRow.SIDE] == BUY
    price = o[OrderRow.PRICE] if o[OrderRow.TYPE] == LIMIT else np.nan
    holding = committed(j, b) if buy else True
    return rules.allows(
        j, buy, price, lanes[j, LaneRow.TIME], positions, holding, working(j, b), rk
    )


@core
def beyond_notional(j: int, notional: float, rk: Vec, b: Book) -> int:
    """The risk rules' reason to refuse a buy of `notional` quote on lane j, or 0: the quote
    committed (the cost of what is held, the resting buys) to it and to every lane."""
    if rk[RiskRow.ON] == 0 or not rules.caps_notional(rk):
        return 0
    _, lanes, _, _, _ = b
    symbol, total = 0.0, 0.0
    for k in range(len(lanes)):
        held = lanes[k, LaneRow.BOOK_COST] + reserved(k, b)
        total += held
        if k == j:
            symbol = held
    return rules.within_notional(notional, symbol, total, rk)


@core
def _slot(j: int, b: Book) -> int:
    """The next free place in lane j's order table, taken."""
    _, lanes, orders, _, _ = b
    n = int(lanes[j, LaneRow.N_ORDERS])
    if n >= orders.shape[1]:
        raise IndexError("the broker's order table is full: grow it before the call")
    lanes[j, LaneRow.N_ORDERS] = n + 1
    return n


@core
def _append(j: int, o: Vec, b: Book) -> int:
    _, lanes, orders, _, _ = b
    n = _slot(j, b)
    _copy(orders[j, n], o)
    band(j, lanes, orders)
    return n


@core
def _number(j: int, k: int, b: Book) -> int:
    """Number lane j's order k, just placed, as its client order id will be."""
    _, lanes, orders, _, _ = b
    lanes[j, LaneRow.N_PLACED] += 1
    orders[j, k, OrderRow.ID] = lanes[j, LaneRow.N_PLACED]
    return k


@core
def _place(j: int, o: Vec, b: Book) -> int:
    """`_append` a copy of order `o` (left as it is), numbered in the table."""
    return _number(j, _append(j, o, b), b)


@core
def _insert(j: int, k: int, o: Vec, b: Book) -> None:
    """Put order `o` back at place k (an order's unfilled rest keeps its turn)."""
    _, _, orders, _, _ = b
    n = _append(j, o, b)
    for m in range(n, k, -1):
        _copy(orders[j, m], orders[j, m - 1])
    _copy(orders[j, k], o)


@core
def _drop(j: int, k: int, b: Book) -> None:
    """Take order k out, keeping the others in their order."""
    _, lanes, orders, _, _ = b
    n = int(lanes[j, LaneRow.N_ORDERS])
    for m in range(k, n - 1):
        _copy(orders[j, m], orders[j, m + 1])
    lanes[j, LaneRow.N_ORDERS] = n - 1
    band(j, lanes, orders)


@core
def _take(j: int, k: int, b: Book) -> None:
    """`_drop`, the order kept in the scratch's TAKEN row."""
    _, _, orders, _, sc = b
    _copy(sc[ScratchRow.TAKEN], orders[j, k])
    _drop(j, k, b)


@core
def _new(
    j: int,
    side: float,
    type_: int,
    price: float,
    amount: float,
    tag: float,
    from_: float,
    b: Book,
) -> int:
    """Place a new order (no quote), written straight into lane j's table (no row is
    allocated: a sweep places one per fill) and numbered; returns its place."""
    _, lanes, orders, _, _ = b
    k = _slot(j, b)
    o = orders[j, k]
    o[OrderRow.SIDE], o[OrderRow.TYPE], o[OrderRow.PRICE] = side, type_, price
    o[OrderRow.AMOUNT], o[OrderRow.QUOTE], o[OrderRow.TAG] = amount, np.nan, tag
    o[OrderRow.FROM], o[OrderRow.ID], o[OrderRow.FILLED] = from_, 0.0, 0.0
    band(j, lanes, orders)
    return _number(j, k, b)


@core
def _find(j: int, o: Vec, b: Book) -> int:
    """The first resting order equal to `o` field by field (as `order in resting` compares),
    or -1: an order taken out since `o` was copied is not there any more."""
    _, lanes, orders, _, _ = b
    for k in range(int(lanes[j, LaneRow.N_ORDERS])):  # no view of a row: no refcounting
        amount = orders[j, k, OrderRow.AMOUNT]
        same_amount = amount == o[OrderRow.AMOUNT] or (
            np.isnan(amount) and np.isnan(o[OrderRow.AMOUNT])
        )
        if (
            orders[j, k, OrderRow.TYPE] != MARKET
            and orders[j, k, OrderRow.SIDE] == o[OrderRow.SIDE]
            and orders[j, k, OrderRow.TYPE] == o[OrderRow.TYPE]
            and orders[j, k, OrderRow.PRICE] == o[OrderRow.PRICE]
            and same_amount
            and orders[j, k, OrderRow.TAG] == o[OrderRow.TAG]
            and orders[j, k, OrderRow.FROM] == o[OrderRow.FROM]
        ):
            return k
    return -1


@core
def skip(j: int, o: Vec, price: float, amount: float, reason: int, b: Book) -> None:
    """Record an order that never left, or was refused at fill time."""
    _log(SKIP, j, o, price, amount, 0.0, False, reason, b)


@core
def cancel(j: int, tags: Mask, every: int, b: Book) -> None:
    """Withdraw lane j's orders at work whose tag is in `tags` (or, `every` being
    rules.EVERY_BUY or rules.EVERY_ORDER, every buy or every order; 0: by tags): resting
    ones, and market ones still queued (the rest of an order filling in parts)."""
    _, lanes, orders, _, _ = b
    k = 0
    while k < lanes[j, LaneRow.N_ORDERS]:
        tag = orders[j, k, OrderRow.TAG]  # no view of a row but a withdrawn one's
        if every == 0:
            hit = tags[int(tag)]
        else:
            hit = every == rules.EVERY_ORDER or orders[j, k, OrderRow.SIDE] == BUY
        if not hit:
            k += 1
            continue
        if tag != MAX_LOSS_CODE:  # the risk engine's own stop is not the strategy's
            _log(CANCELED, j, orders[j, k], orders[j, k, OrderRow.PRICE], np.nan, 0.0, False, 0, b)
        _drop(j, k, b)  # logged from its place first: no copy


@core
def _selling_out(j: int, b: Book) -> bool:
    """The protective stop has triggered and its rest sells at the next open: no new stop
    under what is already being sold (partial fills only)."""
    _, lanes, orders, _, _ = b
    for k in range(int(lanes[j, LaneRow.N_ORDERS])):
        if orders[j, k, OrderRow.TYPE] == MARKET and orders[j, k, OrderRow.TAG] == MAX_LOSS_CODE:
            return True
    return False


@core
def protective(j: int, b: Book) -> int:
    """Where the risk engine's resting stop is in lane j's table, or -1."""
    _, lanes, orders, _, _ = b
    for k in range(int(lanes[j, LaneRow.N_ORDERS])):
        if orders[j, k, OrderRow.TYPE] != MARKET and orders[j, k, OrderRow.TAG] == MAX_LOSS_CODE:
            return k
    return -1


@core
def _risk(j: int, out: Vec, n: int, b: Book) -> None:
    """Carry out the risk engine's commands (rules.after_fill, rules.obey). Its stop guards
    from this bar on, and neither it nor its withdrawal is news to the strategy; its
    withdrawal leaves a triggered stop's rest to sell."""
    _, lanes, _, _, _ = b
    for r in range(n):
        o = out[r]
        every = int(o[OrderRow.TAG]) if o[OrderRow.TAG] < 0 else 0
        if o[OrderRow.TYPE] == CANCEL and every:
            cancel(j, _NO_TAGS, every, b)
        elif o[OrderRow.TYPE] == CANCEL:  # the protective stop
            k = protective(j, b)
            if k >= 0:
                _drop(j, k, b)
        elif o[OrderRow.TYPE] == MARKET or not _selling_out(j, b):
            _new(
                j,
                o[OrderRow.SIDE],
                int(o[OrderRow.TYPE]),
                o[OrderRow.PRICE],
                np.nan,
                o[OrderRow.TAG],
                lanes[j, LaneRow.BAR],
                b,
            )


@core
def flatten(j: int, b: Book) -> None:
    """Lane j flattened as a tripped kill-switch does (rules.flatten), on command."""
    _, lanes, _, _, sc = b
    out = sc[ScratchRow.COMMANDS : ScratchRow.COMMANDS + rules.MAX_COMMANDS]
    _risk(j, out, rules.flatten(lanes[j, LaneRow.POS], out, 0), b)


@core
def obey(j: int, rk: Vec, b: Book) -> None:
    """What lane j owes a tripped kill-switch (rules.owes), carried out: every engine asks
    after it marks the lane's price (a mark can trip it, and a trip binds every lane)."""
    _, lanes, _, _, sc = b
    out = sc[ScratchRow.COMMANDS : ScratchRow.COMMANDS + rules.MAX_COMMANDS]
    _risk(j, out, rules.obey(j, lanes[j, LaneRow.POS], rk, out, 0), b)


@core
def _book(j: int, buy: bool, price: float, amount: float, fee: float, b: Book) -> float:
    """Cost basis of the open position (fees in); returns a sell's realised PnL, fees of both
    legs included (0 for a buy)."""
    _, lanes, _, _, _ = b
    if buy:
        lanes[j, LaneRow.BOOK_AMOUNT] += amount
        lanes[j, LaneRow.BOOK_COST] += amount * price + fee
        return 0.0
    held = lanes[j, LaneRow.BOOK_AMOUNT]
    share = min(1.0, amount / held) if held > 0 else 1.0
    basis = lanes[j, LaneRow.BOOK_COST] * share
    lanes[j, LaneRow.BOOK_AMOUNT] = max(0.0, held - amount)
    lanes[j, LaneRow.BOOK_COST] -= basis
    if lanes[j, LaneRow.BOOK_AMOUNT] == 0.0:
        lanes[j, LaneRow.BOOK_COST] = 0.0
    return amount * price - fee - basis


@core
def _execute(
    j: int,
    o: Vec,
    price: float,
    amount: float,
    fee_rate: float,
    maker: bool,
    remaining: float,
    rk: Vec,
    b: Book,
) -> None:
    """Book a fill of `amount` of order `o`; `remaining`: what is left of it after. The fee
    is paid on top in quote, or (FEE_FROM_RECEIVED, the venue's way) taken from what the
    order receives: base on a buy, whose part under one step is dust, quote on a sell."""
    acct, lanes, _, log, sc = b
    buy = o[OrderRow.SIDE] == BUY
    fee = amount * price * fee_rate  # its value in quote, whatever pays it
    withheld, kept, cost_fee = 0.0, amount, fee
    if buy and lanes[j, VenueRow.FEE_FROM_RECEIVED]:
        withheld = amount * fee_rate
        kept = _sellable(j, amount - withheld, b)
        acct[AcctRow.CASH] -= amount * price
        cost_fee = (amount - kept) * price  # the basis of what can be sold: all that was paid
    elif buy:
        acct[AcctRow.CASH] -= amount * price + fee
    else:
        acct[AcctRow.CASH] += amount * price - fee
    if buy:
        lanes[j, LaneRow.POS] = np.round(lanes[j, LaneRow.POS] + kept, 12)  # no binary dust
    else:
        held = lanes[j, LaneRow.POS]
        lanes[j, LaneRow.POS] = np.round(held - amount, 12) if amount < held else 0.0
    row = int(acct[AcctRow.N_LOG])
    _log(FILL, j, o, price, amount, fee, maker, 0, b)
    lanes[j, LaneRow.N_FILLS] += 1
    log[row, LogRow.REMAINING], log[row, LogRow.TRADE] = remaining, lanes[j, LaneRow.N_FILLS]
    log[row, LogRow.NET], log[row, LogRow.WITHHELD] = kept, withheld
    pnl = _book(j, buy, price, kept, cost_fee, b)
    if rk[RiskRow.ON] == 0:
        return
    out = sc[ScratchRow.COMMANDS : ScratchRow.COMMANDS + rules.MAX_COMMANDS]
    n = rules.after_fill(
        j,
        not buy,
        pnl,
        price,
        lanes[j, LaneRow.TIME],
        o[OrderRow.TAG] == MAX_LOSS_CODE,
        lanes[j, LaneRow.BOOK_AMOUNT],
        lanes[j, LaneRow.BOOK_COST],
        lanes[j, LaneRow.POS],
        lanes[j, VenueRow.TICK],
        rk,
        out,
    )
    _risk(j, out, n, b)


@core
def _rest(o: Vec, part: float, left: float, sized: bool, rest: Vec) -> None:
    """What is left of order `o` once `part` of it filled, written in `rest`: `left`, if it
    was `sized` (else still the whole position), as the same order."""
    _copy(rest, o)
    if sized:
        rest[OrderRow.AMOUNT], rest[OrderRow.QUOTE] = left, np.nan
    rest[OrderRow.FILLED] += part


@core
def _sellable(j: int, received: float, b: Book) -> float:
    """Book base `received` net of a fee the venue kept in base: the balance's part on the
    step can be sold, the rest is dust, which a later buy can lift back over a step (one
    balance, as on the venue). Returns what the buy added to what can be sold."""
    _, lanes, _, _, _ = b
    held = lanes[j, LaneRow.POS]
    balance = held + lanes[j, LaneRow.DUST] + received
    sellable = to_grid(balance, lanes[j, VenueRow.STEP], False)
    lanes[j, LaneRow.DUST] = balance - sellable
    return np.round(sellable - held, 12)


@njit(cache=True, inline="always")
def _part(amount: float, venue: Vec) -> float:
    """What of `amount` fills in this bar: all of it, or the venue's most per order."""
    cap = venue[VenueRow.MAX_FILL]
    if amount <= cap:
        return amount
    step = venue[VenueRow.STEP]
    return min(amount, max(to_grid(cap, step, False), step))  # a step at least


@core
def submit(j: int, o: Vec, positions: int, rk: Vec, b: Book) -> None:
    """Accept, rest or skip order `o` (an `_order` row; NaN: not given) at lane j's current
    bar, after its close or a fill; `positions`: the lanes committed before it."""
    _, lanes, orders, _, _ = b
    buy = o[OrderRow.SIDE] == BUY
    reason = risk_refusal(j, o, positions, rk, b)
    if reason:
        rules.refused(reason, rk)
        price = np.nan if o[OrderRow.PRICE] == 0 else o[OrderRow.PRICE]
        amount = np.nan if o[OrderRow.AMOUNT] == 0 else o[OrderRow.AMOUNT]
        skip(j, o, price, amount, reason, b)
        return
    if o[OrderRow.TYPE] == MARKET:  # sized when it fills (prepare.market_amount)
        k = _place(j, o, b)
        rules.sent(lanes[j, LaneRow.TIME], rk)
        _log(ACCEPTED, j, orders[j, k], np.nan, np.nan, 0.0, False, 0, b)
        return
    free = free_cash(b) if buy and o[OrderRow.TYPE] == LIMIT else 0.0
    reason, price, amount = prepare(o, np.nan, free, lanes[j, LaneRow.POS], lanes[j])
    if not reason and buy:
        reason = beyond_notional(j, price * amount, rk, b)
        rules.refused(reason, rk)
    if reason:
        skip(j, o, price, np.nan if amount == 0 else amount, reason, b)
        return
    k = _new(
        j,
        o[OrderRow.SIDE],
        int(o[OrderRow.TYPE]),
        price,
        amount,
        o[OrderRow.TAG],
        lanes[j, LaneRow.BAR] + 1,
        b,
    )
    rules.sent(lanes[j, LaneRow.TIME], rk)
    _log(ACCEPTED, j, orders[j, k], price, np.nan, 0.0, False, 0, b)


@core
def would_refuse(j: int, o: Vec, positions: int, rk: Vec, b: Book) -> int:
    """The reason `submit` would skip order `o` for now, or 0, asking without counting or
    logging anything (the checks `submit` makes, in its order): an engine whose strategy
    asks again at every quote while its signal holds records a run of refusals once."""
    _, lanes, _, _, _ = b
    buy = o[OrderRow.SIDE] == BUY
    reason = risk_refusal(j, o, positions, rk, b)
    if reason or o[OrderRow.TYPE] == MARKET:
        return reason
    free = free_cash(b) if buy and o[OrderRow.TYPE] == LIMIT else 0.0
    reason, price, amount = prepare(o, np.nan, free, lanes[j, LaneRow.POS], lanes[j])
    return beyond_notional(j, price * amount, rk, b) if not reason and buy else reason


@core
def _fill_market(j: int, o: Vec, open_: float, rk: Vec, b: Book) -> None:
    """Fill a queued market order at this open; a rest beyond the bar's most waits for the
    next open, as the same order, sized now."""
    _, lanes, _, _, sc = b
    buy, held = o[OrderRow.SIDE] == BUY, lanes[j, LaneRow.POS]
    if not buy and held <= 0:
        return
    slipped = (
        open_ * (1 + lanes[j, VenueRow.SLIP]) if buy else open_ * (1 - lanes[j, VenueRow.SLIP])
    )
    price = to_grid(slipped, lanes[j, VenueRow.TICK], buy)  # the adverse way
    free = free_cash(b) if buy else 0.0
    why, price, amount = prepare(o, price, free, held, lanes[j])
    if not why and buy:
        why = beyond_notional(j, price * amount, rk, b)
        rules.refused(why, rk)
    if why:
        skip(j, o, price, amount, why, b)
        return
    part = _part(amount, lanes[j])
    left = np.round(amount - part, 12)
    if part < amount:
        rest = sc[ScratchRow.REST]
        _rest(o, part, left, buy or not np.isnan(o[OrderRow.AMOUNT]), rest)
        _append(j, rest, b)
    _execute(j, o, price, part, lanes[j, VenueRow.TAKER], False, left, rk, b)


@core
def _fill_resting(j: int, k: int, price: float, maker: bool, rk: Vec, b: Book) -> None:
    """Fill resting order k at `price`. A limit's rest beyond the bar's most keeps resting
    in its place; a triggered stop's rest sells at the next open."""
    _, lanes, _, _, sc = b
    _take(j, k, b)
    o = sc[ScratchRow.TAKEN]
    held = lanes[j, LaneRow.POS]
    buy, limit = o[OrderRow.SIDE] == BUY, o[OrderRow.TYPE] == LIMIT
    amount = held if np.isnan(o[OrderRow.AMOUNT]) else o[OrderRow.AMOUNT]
    if not buy:
        amount = min(amount, held)
        if amount <= 0:
            return
    fee = lanes[j, VenueRow.MAKER] if maker else lanes[j, VenueRow.TAKER]
    free = free_cash(b) if buy and limit else 0.0
    why = refusal(buy, limit, price, amount, fee, free, o[OrderRow.FILLED] == 0, lanes[j])
    if why:
        skip(j, o, price, amount, why, b)
        return
    part = _part(amount, lanes[j])
    left = np.round(amount - part, 12)
    if part < amount:
        rest = sc[ScratchRow.REST]
        _rest(o, part, left, not np.isnan(o[OrderRow.AMOUNT]), rest)
        if limit:
            _insert(j, k, rest, b)
        else:
            rest[OrderRow.TYPE] = MARKET
            _append(j, rest, b)
    _execute(j, o, price, part, fee, maker, left, rk, b)


@njit(cache=True, inline="always")
def stop_reached(low: float, stop: float) -> bool:
    """The stop rule: a stop (a sell) triggers once the price it watches (a bar's low, a
    quote's bid) is at or under it. The exchange broker watches the max-loss level with it
    where no stop can rest (ExchangeBroker.at)."""
    return low <= stop


@njit(cache=True, inline="always")
def band(j: int, lanes: Vec, orders: Vec) -> None:
    """Lane j's FLOOR and CEILING, written each time its order table changes (`_append`,
    `_new`, `_drop`), so that testing a bar against them (`reaches`) is the per-order test
    of every order: a queued market order fills at any open (no band); a stop at its price
    (`stop_reached`: a low at or under the floor); a buy limit under its price (the floor
    is the float just below it, as `low < price` is `low <= that`); a sell limit over its
    price (a high over the ceiling). A NaN price meets nothing, as in the per-order test."""
    floor, ceiling = -np.inf, np.inf
    for k in range(int(lanes[j, LaneRow.N_ORDERS])):
        kind, price = orders[j, k, OrderRow.TYPE], orders[j, k, OrderRow.PRICE]
        if kind == MARKET:
            floor = np.inf
        elif kind == STOP or (kind == LIMIT and orders[j, k, OrderRow.SIDE] == BUY):
            at = price if kind == STOP else np.nextafter(price, -np.inf)
            if at > floor:
                floor = at
        elif kind == LIMIT and price < ceiling:
            ceiling = price
    lanes[j, LaneRow.FLOOR], lanes[j, LaneRow.CEILING] = floor, ceiling


@njit(cache=True, inline="always")
def _met_going_down(orders: Vec, j: int, k: int, bar: float, low: float, offer: float) -> bool:
    """Lane j's order k, a resting buy limit the sellers' lowest price (`offer`) trades
    through, or a stop the low reaches. On a bar both are its low; at a quote, the ask and
    the bid. (It reads the table, not a view of the row: no refcounting.)"""
    kind, price = orders[j, k, OrderRow.TYPE], orders[j, k, OrderRow.PRICE]
    if kind == MARKET or orders[j, k, OrderRow.FROM] > bar:
        return False
    return (kind == LIMIT and orders[j, k, OrderRow.SIDE] == BUY and offer < price) or (
        kind == STOP and stop_reached(low, price)
    )


@njit(cache=True, inline="always")
def _met_going_up(orders: Vec, j: int, k: int, bar: float, high: float) -> bool:
    """Lane j's order k, a resting sell limit the high trades through."""
    return (
        orders[j, k, OrderRow.TYPE] == LIMIT
        and orders[j, k, OrderRow.SIDE] == SELL
        and orders[j, k, OrderRow.FROM] <= bar
        and high > orders[j, k, OrderRow.PRICE]
    )


@core
def _descend(j: int, open_: float, low: float, offer: float, rk: Vec, b: Book) -> None:
    """Buy limits (met by `offer`, see `_met_going_down`) and stops met on the way down,
    highest price first (stops on ties, then the order they were placed in).

    Each event carries the price the market is at when it happens: a stop fills there,
    which is its own price, the open when the bar gapped through it, or, for a
    protective stop born above the market by a buy on the way down, that buy's price.
    """
    _, lanes, orders, _, sc = b
    n, bar = int(lanes[j, LaneRow.N_ORDERS]), lanes[j, LaneRow.BAR]
    m = 0
    for k in range(n):
        m += _met_going_down(orders, j, k, bar, low, offer)
    if m == 0:
        return  # most bars
    slots = orders.shape[1]
    keys, size = _met_base(sc, slots), _met_rows(slots)  # met orders at ScratchRow.MET + e
    m = 0
    for k in range(n):
        if _met_going_down(orders, j, k, bar, low, offer):
            _copy(sc[ScratchRow.MET + m], orders[j, k])
            sc[keys + m, MetRow.KEY] = -min(orders[j, k, OrderRow.PRICE], open_)
            sc[keys + m, MetRow.LIMIT] = orders[j, k, OrderRow.TYPE] == LIMIT
            sc[keys + m, MetRow.ALIVE] = True
            m += 1
    while True:
        e = -1
        for c in range(m):  # the heap's order: key, then limit after stop, then placed first
            key = sc[keys + c, MetRow.KEY]
            if sc[keys + c, MetRow.ALIVE] and (
                e < 0
                or key < sc[keys + e, MetRow.KEY]
                or (
                    key == sc[keys + e, MetRow.KEY]
                    and sc[keys + e, MetRow.LIMIT]
                    and not sc[keys + c, MetRow.LIMIT]
                )
            ):
                e = c
        if e < 0:
            return
        sc[keys + e, MetRow.ALIVE] = False
        met = sc[ScratchRow.MET + e]
        k = _find(j, met, b)
        if k < 0:
            continue
        level, filled = -sc[keys + e, MetRow.KEY], lanes[j, LaneRow.N_FILLS]
        if met[OrderRow.TYPE] == STOP:
            slipped = to_grid(level * (1 - lanes[j, VenueRow.SLIP]), lanes[j, VenueRow.TICK], False)
            _fill_resting(j, k, slipped, False, rk, b)
        else:
            _fill_resting(j, k, met[OrderRow.PRICE], True, rk, b)
        if lanes[j, LaneRow.N_FILLS] == filled:
            continue  # refused (e.g. dust): nothing changed, so no new stop to meet
        s = protective(j, b)
        if s >= 0 and stop_reached(low, orders[j, s, OrderRow.PRICE]):
            if m >= size:
                raise IndexError("more stops met in one bar than orders")
            _copy(sc[ScratchRow.MET + m], orders[j, s])
            sc[keys + m, MetRow.KEY] = -min(orders[j, s, OrderRow.PRICE], level)
            sc[keys + m, MetRow.LIMIT] = False
            sc[keys + m, MetRow.ALIVE] = True
            m += 1


@njit(cache=True, inline="always")
def clock(j: int, bar: int, time_ms: float, lanes: Vec) -> None:
    """Lane j's current bar and time (its fills happen there; its orders leave then)."""
    lanes[j, LaneRow.BAR], lanes[j, LaneRow.TIME] = bar, time_ms


@njit(cache=True, inline="always")
def reaches(j: int, high: float, low: float, lanes: Vec) -> bool:
    """Whether a bar spanning low..high may fill any of lane j's orders: on_bar's quick
    test, inlined into the compiled loops, which skip the call on most bars. A bar whose
    low stays above the lane's FLOOR and whose high stays at or under its CEILING meets
    none (`band`); SimBroker skips its call into on_bar on the same test. (It takes the
    lane array, not the `Book`: a tuple unpacked at every bar costs the loops reference
    counting.)"""
    return lanes[j, LaneRow.N_ORDERS] > 0 and (
        stop_reached(low, lanes[j, LaneRow.FLOOR]) or high > lanes[j, LaneRow.CEILING]
    )


@core
def _fill_queued(j: int, buys_at: float, sells_at: float, rk: Vec, b: Book) -> None:
    """Fill lane j's queued market orders, in the order they were placed: buys at
    `buys_at`, sells at `sells_at` (a bar's open for both; at a quote, the ask and the bid)."""
    _, lanes, orders, _, sc = b
    _met_base(sc, orders.shape[1])  # the queue in the scratch's met rows
    q, k = 0, 0
    # the queue empties; the kill-switch may queue a sell
    while k < lanes[j, LaneRow.N_ORDERS]:
        if orders[j, k, OrderRow.TYPE] == MARKET:
            _copy(sc[ScratchRow.MET + q], orders[j, k])
            _drop(j, k, b)
            q += 1
        else:
            k += 1
    for c in range(q):
        o = sc[ScratchRow.MET + c]
        _fill_market(j, o, buys_at if o[OrderRow.SIDE] == BUY else sells_at, rk, b)


@core
def _ascend(j: int, bar: int, high: float, rk: Vec, b: Book) -> None:
    """Sell limits the buyers' highest price (a bar's high, a quote's bid) trades through,
    lowest price first."""
    _, lanes, orders, _, sc = b
    n, s = int(lanes[j, LaneRow.N_ORDERS]), 0
    for k in range(n):
        s += _met_going_up(orders, j, k, bar, high)
    if s == 0:
        return
    _met_base(sc, orders.shape[1])  # the sells in the scratch's met rows
    s = 0
    for k in range(n):
        if _met_going_up(orders, j, k, bar, high):
            price = orders[j, k, OrderRow.PRICE]
            c = ScratchRow.MET + s  # insertion sort by price: stable, as `sorted` is
            while c > ScratchRow.MET and sc[c - 1, OrderRow.PRICE] > price:
                _copy(sc[c], sc[c - 1])
                c -= 1
            _copy(sc[c], orders[j, k])
            s += 1
    for c in range(ScratchRow.MET, ScratchRow.MET + s):
        sell = sc[c]
        k = _find(j, sell, b)
        if k >= 0:
            _fill_resting(j, k, sell[OrderRow.PRICE], True, rk, b)


@core
def on_bar(
    j: int, bar: int, time_ms: float, open_: float, high: float, low: float, rk: Vec, b: Book
) -> int:
    """Fill what lane j's bar reaches, along open -> low -> high; returns the log's rows in
    use (0 after a drained log: nothing happened, the per-event face's most bars)."""
    acct, lanes, _, _, _ = b
    clock(j, bar, time_ms, lanes)
    if reaches(j, high, low, lanes):
        _fill_queued(j, open_, open_, rk, b)
        _descend(j, open_, low, low, rk, b)
        _ascend(j, bar, high, rk, b)
    return int(acct[AcctRow.N_LOG])


@core
def on_quote(j: int, tick: int, time_ms: float, bid: float, ask: float, rk: Vec, b: Book) -> int:
    """Fill what lane j's best bid/ask reach at one instant (`tick`: its number, as a
    bar's): market buys at the ask and sells at the bid; a buy limit at its price when the
    ask is strictly below it, a sell limit when the bid is strictly above it (maker); a
    stop when the bid reaches it, at the bid (taker; a lane on quotes has no slippage).
    Stops and buy limits first, as on a bar's way down, the risk engine's stop guarding a
    buy from the quote that filled it; sell limits last."""
    acct, lanes, _, _, _ = b
    clock(j, tick, time_ms, lanes)
    if reaches(j, bid, bid, lanes):  # the bid for buy limits too: a looser test
        _fill_queued(j, ask, bid, rk, b)
        _descend(j, bid, bid, ask, rk, b)
        _ascend(j, tick, bid, rk, b)
    return int(acct[AcctRow.N_LOG])  # as on_bar's
