"""The risk rules, once, as numba functions over one float64 vector: every engine calls
them (the broker at each order and fill, on candles and on quotes alike), batch or
event by event. `RiskEngine` (engine.py) is the Python face that owns such a vector.

Rules, all in the quote currency, and in market time (the feed's clock, never the host's):
- max_loss_per_trade: a protective stop at the price where the open position, fees in,
  would have lost that much (`stop_price`). It rests with the broker like any stop.
- max_daily_loss: the UTC day's loss, realised plus unrealised: the PnL its sells
  realised, plus how far each held position's value (marked at the feed's price, net of
  the exit fee, as `stop_price` values it) moved since the day began (or since its buy).
  A mark can reach it with no sell at all. Reaching it trips the kill-switch, which sets
  the trading state until the next UTC day or a `reset`: REDUCING when it flattens
  (`kill_switch`: only risk-reducing orders, sells, may leave), else HALTED (nothing new
  leaves; cancels, and the protective stops already resting, still may). Every symbol
  obeys a trip at its next price or fill (`owes`, `obey`): its buys withdrawn and, when
  flattening, every order at work withdrawn (a venue's resting sell holds the base) and
  its position sold at market.
- cooldown_minutes: after a losing exit, no new buys for that long, on that symbol or on
  every symbol (`cooldown_scope`).
- max_open_positions: a buy that would open a position beyond the limit is refused.
- max_orders_per_minute: orders sent within one minute of market time.
- max_price_deviation_pct (the fat-finger guard): a limit order priced beyond the last
  close (or quote) by more than that, on the side where it would trade at once: above it
  for a buy, below it for a sell. A price away from the market on the other side rests.
- max_position_notional, max_total_notional: a buy that would take the quote committed
  to one symbol, or to all (cost of what is held and of resting buys), beyond the limit.
- max_open_orders_per_symbol: orders at work on one symbol (the protective stop aside).
- paused: set by someone or something watching (a drift alarm), no new buys until lifted,
  with or without limits.
The risk engine's own orders (the protective stop, the kill-switch's sell) never wait for
a rule. Counters count the orders refused and the trips, not the checks.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain.reasons import (
    COOLDOWN,
    KILL_SWITCH,
    MAX_NOTIONAL,
    MAX_OPEN,
    MAX_OPEN_ORDERS,
    ORDER_RATE,
    PAUSED,
    PRICE_DEVIATION,
    REASONS,
)
from thunes.domain.rows import BUY, CANCEL, KILL_CODE, MARKET, MAX_LOSS_CODE, SELL, STOP, put
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import to_grid
from thunes.risk.limits import RiskLimits


class RiskRow(IntEnum):
    """The vector: limits (ON is 0 for "no risk engine": every rule off), state, the
    counts of how often each rule fired (in the order of FIRED), then LANE_ROWS rows per
    symbol from LANES on (`LaneRisk`). Epoch ms fit a float64 exactly. DAY_MOVE is the
    running sum over the symbols of VALUE - DAY_START: a mark moves it in O(1)."""

    ON = 0
    MAX_LOSS = 1
    MAX_DAILY = 2
    MAX_POSITIONS = 3
    COOLDOWN_MS = 4
    FLATTEN = 5
    EXIT_FEE = 6
    COOLDOWN_GLOBAL = 7
    MAX_RATE = 8
    MAX_DEVIATION = 9
    MAX_POSITION_NOTIONAL = 10
    MAX_TOTAL_NOTIONAL = 11
    MAX_OPEN_ORDERS = 12
    HALTED_DAY = 13
    COOLDOWN_UNTIL = 14
    DAY = 15
    DAY_REALISED = 16
    RATE_MINUTE = 17
    RATE_COUNT = 18
    F_KILL = 19
    F_COOLDOWN = 20
    F_MAX_OPEN = 21
    F_MAX_LOSS = 22
    F_TRIPS = 23
    F_RATE = 24
    F_PRICE = 25
    F_NOTIONAL = 26
    F_OPEN_ORDERS = 27
    PAUSED = 28
    DAY_MOVE = 29
    LANES = 30


class LaneRisk(IntEnum):
    """A symbol's rows, from its lane's start: its cool-down's end, its last price, what it
    holds and what that cost (fees in, as its broker books it), that holding's value now
    (unrealised PnL, net of the exit fee) and when the day began (or 0 if bought since),
    PENDING (1: a holding the vector learnt of at a start, valued from its next mark, where
    its day's move begins) and OBEYED (the trip, by count, whose commands it carried out)."""

    COOLDOWN = 0
    LAST = 1
    HELD = 2
    COST = 3
    VALUE = 4
    DAY_START = 5
    PENDING = 6
    OBEYED = 7


FIRED = (
    "kill_switch",
    "cooldown",
    "max_open_positions",
    "max_loss_per_trade",
    "kill_switch_trips",
    "max_orders_per_minute",
    "max_price_deviation",
    "max_notional",
    "max_open_orders_per_symbol",
)
ACTIVE, REDUCING, HALTED = 0, 1, 2  # the trading states (`trading`)
TRADING_STATES = ("active", "reducing", "halted")
LANE_ROWS = len(LaneRisk)
_DAY_MS = 86_400_000.0
_MINUTE_MS = 60_000.0


def risk_vector(limits: RiskLimits | None, exit_fee: float, lanes: int = 8) -> Vec:
    """A fresh vector for `limits` (None: no risk engine) and `lanes` symbols, nothing
    fired yet."""
    rk = np.zeros(RiskRow.LANES + LANE_ROWS * lanes)
    rk[[RiskRow.HALTED_DAY, RiskRow.COOLDOWN_UNTIL, RiskRow.DAY, RiskRow.RATE_MINUTE]] = -1.0
    rk[RiskRow.LANES :: LANE_ROWS] = -1.0
    if limits is not None:
        rk[: RiskRow.HALTED_DAY] = [
            1.0,
            limits.max_loss_per_trade,
            limits.max_daily_loss,
            limits.max_open_positions,
            int(limits.cooldown_minutes * 60_000),
            limits.kill_switch,
            exit_fee,
            limits.cooldown_scope == "global",
            limits.max_orders_per_minute,
            limits.max_price_deviation_pct / 100,
            limits.max_position_notional,
            limits.max_total_notional,
            limits.max_open_orders_per_symbol,
        ]
    return rk


@njit(cache=True, inline="always")
def _lane(j: int, rk: Vec) -> int:
    """Where symbol j's rows start."""
    at = RiskRow.LANES + LANE_ROWS * j
    if at + LANE_ROWS > len(rk):
        raise IndexError("the risk vector has no room for this symbol: size it by the symbols")
    return at


@njit(cache=True, inline="always")
def _value(at: int, price: float, rk: Vec) -> float:
    """The holding at lane row `at` sold at `price`, exit fee out, less what it cost."""
    return rk[at + LaneRisk.HELD] * price * (1 - rk[RiskRow.EXIT_FEE]) - rk[at + LaneRisk.COST]


@njit(cache=True, inline="always")
def _revalue(at: int, value: float, rk: Vec) -> None:
    """The holding at `at` is worth `value` now: the day's move follows (a pending one's
    day begins here)."""
    before = rk[at + LaneRisk.VALUE] - rk[at + LaneRisk.DAY_START]
    if rk[at + LaneRisk.PENDING] != 0:
        rk[at + LaneRisk.DAY_START], rk[at + LaneRisk.PENDING] = value, 0.0
    rk[at + LaneRisk.VALUE] = value
    rk[RiskRow.DAY_MOVE] += value - rk[at + LaneRisk.DAY_START] - before


@njit(cache=True)
def _fresh_budget(rk: Vec) -> None:
    """A fresh daily budget: nothing realised yet, and each holding's day begins at its
    value now (a new UTC day, or an explicit `reset`)."""
    rk[RiskRow.DAY_REALISED], rk[RiskRow.DAY_MOVE] = 0.0, 0.0
    for at in range(RiskRow.LANES, len(rk) - LANE_ROWS + 1, LANE_ROWS):
        rk[at + LaneRisk.DAY_START] = rk[at + LaneRisk.VALUE]


@njit(cache=True)
def _new_day(now_ms: float, rk: Vec) -> None:
    """The UTC day's first mark or fill: its budget is fresh."""
    rk[RiskRow.DAY] = np.floor(now_ms / _DAY_MS)
    _fresh_budget(rk)


@njit(cache=True, inline="always")
def _today(now_ms: float, rk: Vec) -> None:
    if now_ms >= (rk[RiskRow.DAY] + 1) * _DAY_MS:
        _new_day(now_ms, rk)


@njit(cache=True)
def _trip(rk: Vec) -> None:
    """Trip the kill-switch once the day's loss, realised and unrealised, reaches the limit."""
    loss = -(rk[RiskRow.DAY_REALISED] + rk[RiskRow.DAY_MOVE])
    if loss >= rk[RiskRow.MAX_DAILY] and rk[RiskRow.HALTED_DAY] != rk[RiskRow.DAY]:
        rk[RiskRow.HALTED_DAY] = rk[RiskRow.DAY]
        rk[RiskRow.F_TRIPS] += 1


@njit(cache=True)
def mark(j: int, price: float, now_ms: float, rk: Vec) -> None:
    """Symbol j's last price (a close, a quote) at market time `now_ms`: what the
    fat-finger guard measures from (0: none yet, nothing measured), and what its holding
    is worth: the daily limit may trip here. Then ask `owes`."""
    at = _lane(j, rk)
    if not price > 0:
        return
    rk[at + LaneRisk.LAST] = price
    if rk[RiskRow.ON] == 0:
        return
    _today(now_ms, rk)
    if rk[at + LaneRisk.HELD] > 0:
        _revalue(at, _value(at, price, rk), rk)
        _trip(rk)


@njit(cache=True, inline="always")
def owes(j: int, rk: Vec) -> bool:
    """Whether symbol j has yet to obey today's trip of the kill-switch (`obey`)."""
    at = _lane(j, rk)
    return (
        rk[at + LaneRisk.OBEYED] != rk[RiskRow.F_TRIPS]
        and rk[RiskRow.HALTED_DAY] == rk[RiskRow.DAY]
        and rk[RiskRow.ON] != 0
    )


@njit(cache=True)
def marked(j: int, price: float, now_ms: float, rk: Vec) -> bool:
    """`mark`, then `owes`: one call for a per-event caller, where each costs a dispatch."""
    mark(j, price, now_ms, rk)
    return owes(j, rk)


@njit(cache=True)
def trading(now_ms: float, rk: Vec) -> int:
    """The trading state at `now_ms`: a trip's (REDUCING when the kill-switch flattens,
    else HALTED) lasts until the next UTC day; derived from the day halted, so that no
    stored state can outlive it."""
    if rk[RiskRow.ON] == 0 or rk[RiskRow.HALTED_DAY] != np.floor(now_ms / _DAY_MS):
        return ACTIVE
    return REDUCING if rk[RiskRow.FLATTEN] != 0 else HALTED


@njit(cache=True)
def allows(
    j: int,
    buy: bool,
    limit_price: float,
    now_ms: float,
    open_positions: int,
    holding: bool,
    open_orders: int,
    rk: Vec,
) -> int:
    """0 if a strategy's order on symbol j may leave now, else the reason code it may not;
    `limit_price`: a limit order's price (else NaN), `open_orders`: symbol j's orders at
    work. Asking counts nothing: the caller counts the order it refuses (`refused`), once,
    and the one it sends (`sent`)."""
    if buy and rk[RiskRow.PAUSED] != 0:
        return PAUSED
    if rk[RiskRow.ON] == 0:
        return 0
    state = trading(now_ms, rk)
    if state == HALTED or (state == REDUCING and buy):
        return KILL_SWITCH
    if buy:
        until = rk[RiskRow.COOLDOWN_UNTIL] if rk[RiskRow.COOLDOWN_GLOBAL] else rk[_lane(j, rk)]
        if now_ms < until:
            return COOLDOWN
        if not holding and open_positions >= rk[RiskRow.MAX_POSITIONS]:
            return MAX_OPEN
    if open_orders >= rk[RiskRow.MAX_OPEN_ORDERS]:
        return MAX_OPEN_ORDERS
    last, off = rk[_lane(j, rk) + 1], rk[RiskRow.MAX_DEVIATION]
    if last > 0 and (limit_price > last * (1 + off) if buy else limit_price < last * (1 - off)):
        return PRICE_DEVIATION
    minute = np.floor(now_ms / _MINUTE_MS)
    if minute == rk[RiskRow.RATE_MINUTE] and rk[RiskRow.RATE_COUNT] >= rk[RiskRow.MAX_RATE]:
        return ORDER_RATE
    return 0


@njit(cache=True)
def sent(now_ms: float, rk: Vec) -> None:
    """Count an order that left, in its minute (the order-rate limit's window)."""
    if rk[RiskRow.ON] == 0:
        return
    minute = np.floor(now_ms / _MINUTE_MS)
    if minute != rk[RiskRow.RATE_MINUTE]:
        rk[RiskRow.RATE_MINUTE], rk[RiskRow.RATE_COUNT] = minute, 0.0
    rk[RiskRow.RATE_COUNT] += 1


@njit(cache=True, inline="always")
def caps_notional(rk: Vec) -> bool:
    """Whether a notional limit is set (the broker sums what is committed only then)."""
    return rk[RiskRow.MAX_POSITION_NOTIONAL] < np.inf or rk[RiskRow.MAX_TOTAL_NOTIONAL] < np.inf


@njit(cache=True)
def within_notional(notional: float, symbol: float, total: float, rk: Vec) -> int:
    """0 if a buy of `notional` quote fits beside `symbol` (quote committed to its symbol)
    and `total` (to all), else the reason code it does not."""
    if rk[RiskRow.ON] == 0:
        return 0
    if (
        symbol + notional > rk[RiskRow.MAX_POSITION_NOTIONAL]
        or total + notional > rk[RiskRow.MAX_TOTAL_NOTIONAL]
    ):
        return MAX_NOTIONAL
    return 0


# reason code -> the row counting the orders it refused (-1: a venue's reason, not a rule's)
_COUNTED = np.full(len(REASONS), -1, np.int64)
_COUNTED[[KILL_SWITCH, COOLDOWN, MAX_OPEN, ORDER_RATE]] = [
    RiskRow.F_KILL,
    RiskRow.F_COOLDOWN,
    RiskRow.F_MAX_OPEN,
    RiskRow.F_RATE,
]
_COUNTED[[PRICE_DEVIATION, MAX_NOTIONAL, MAX_OPEN_ORDERS]] = [
    RiskRow.F_PRICE,
    RiskRow.F_NOTIONAL,
    RiskRow.F_OPEN_ORDERS,
]


@njit(cache=True)
def refused(reason: int, rk: Vec) -> None:
    """Count one order refused for `reason`, if it is a risk rule's."""
    row = _COUNTED[reason] if 0 < reason < len(_COUNTED) else -1
    if row >= 0:
        rk[row] += 1


@njit(cache=True)
def stop_price(amount: float, cost: float, rk: Vec) -> float:
    """Where a position of `amount` that cost `cost` (fees in) loses max_loss_per_trade, the
    exit fee included; -1 when there is no such stop."""
    if rk[RiskRow.ON] == 0 or amount <= 0 or rk[RiskRow.MAX_LOSS] == np.inf:
        return -1.0
    price = (cost - rk[RiskRow.MAX_LOSS]) / (amount * (1 - rk[RiskRow.EXIT_FEE]))
    return price if price > 0 else -1.0


@njit(cache=True)
def _realised(j: int, pnl: float, now_ms: float, by_max_loss: bool, rk: Vec) -> None:
    """Book symbol j's sell's PnL (the day's, its cool-down)."""
    rk[RiskRow.DAY_REALISED] += pnl
    if by_max_loss:
        rk[RiskRow.F_MAX_LOSS] += 1
    if pnl < 0 and rk[RiskRow.COOLDOWN_MS] > 0:
        until = now_ms + rk[RiskRow.COOLDOWN_MS]
        rk[RiskRow.COOLDOWN_UNTIL if rk[RiskRow.COOLDOWN_GLOBAL] else _lane(j, rk)] = until


def day_marked(rk: Vec) -> float:
    """The day's PnL so far, realised and unrealised, holdings marked at their last price
    (what max_daily_loss bounds)."""
    return float(rk[RiskRow.DAY_REALISED] + rk[RiskRow.DAY_MOVE])


def reset(rk: Vec) -> float:
    """An explicit reset of the kill-switch (`risk.reset=true`, a command): trading is
    ACTIVE again, on a fresh daily budget (each holding's day begins at its value now).
    Returns the day's PnL set aside."""
    pnl = day_marked(rk)
    rk[RiskRow.HALTED_DAY] = -1.0
    _fresh_budget(rk)
    return pnl


def recount(rk: Vec) -> None:
    """DAY_MOVE summed again from the symbols' rows (a restored state's rows were saved at
    different fills)."""
    lanes = rk[RiskRow.LANES :].reshape(-1, LANE_ROWS)
    rk[RiskRow.DAY_MOVE] = float(np.sum(lanes[:, LaneRisk.VALUE] - lanes[:, LaneRisk.DAY_START]))


def hold(j: int, amount: float, cost: float, rk: Vec) -> None:
    """Symbol j holds `amount` that cost `cost` (fees in), as its broker's book says at a
    start. A vector that did not know it (a state saved before these rows) values it from
    its next mark, where its day's move begins; one that did is left as it is."""
    at = _lane(j, rk)
    if rk[at + LaneRisk.HELD] == amount and rk[at + LaneRisk.COST] == cost:
        return
    rk[RiskRow.DAY_MOVE] -= rk[at + LaneRisk.VALUE] - rk[at + LaneRisk.DAY_START]
    rk[at + LaneRisk.HELD], rk[at + LaneRisk.COST] = amount, cost
    rk[at + LaneRisk.VALUE], rk[at + LaneRisk.DAY_START] = 0.0, 0.0
    rk[at + LaneRisk.PENDING] = float(amount > 0)


EVERY_BUY = -1  # a cancel row's tag: withdraw every buy at work, whatever its tag
EVERY_ORDER = -2  # a cancel row's tag: withdraw every order at work, buys and sells
MAX_COMMANDS = 5  # rows `after_fill` may write


@njit(cache=True)
def protect(amount: float, cost: float, tick: float, rk: Vec, out: Vec, n: int) -> int:
    """The protective stop as commands, from row n of `out`: withdraw the one resting, and
    place one where a position of `amount` that cost `cost` loses max_loss_per_trade (on
    the tick, rounded up: the loss stays within the limit). Returns the rows written."""
    n = put(out, n, SELL, CANCEL, np.nan, np.nan, np.nan, MAX_LOSS_CODE)
    price = stop_price(amount, cost, rk)
    if price > 0:
        n = put(out, n, SELL, STOP, to_grid(price, tick, True), np.nan, np.nan, MAX_LOSS_CODE)
    return n


@njit(cache=True)
def flatten(position: float, out: Vec, n: int) -> int:
    """The kill-switch's flattening as commands, from row n of `out`: every order at work
    withdrawn (buys, and sells, the protective stop too: on a venue a resting sell holds
    the base, and the market sell would be refused as dust), then a held `position` sold
    at market (the brokers' own orders: no rule holds them). A tripped kill-switch writes
    them (`obey`), and so does an operator's flatten command."""
    n = put(out, n, BUY, CANCEL, np.nan, np.nan, np.nan, EVERY_ORDER)
    n = put(out, n, SELL, CANCEL, np.nan, np.nan, np.nan, MAX_LOSS_CODE)
    if position > 0:
        n = put(out, n, SELL, MARKET, np.nan, np.nan, np.nan, KILL_CODE)
    return n


@njit(cache=True)
def obey(j: int, position: float, rk: Vec, out: Vec, n: int) -> int:
    """What symbol j owes today's trip (`owes`), as commands from row n of `out`, once:
    every buy withdrawn, and with `kill_switch` on, the symbol flattened (`flatten`)."""
    rk[_lane(j, rk) + LaneRisk.OBEYED] = rk[RiskRow.F_TRIPS]
    if rk[RiskRow.FLATTEN] != 0:
        return flatten(position, out, n)
    return put(out, n, BUY, CANCEL, np.nan, np.nan, np.nan, EVERY_BUY)


@njit(cache=True)
def after_fill(
    j: int,
    sell: bool,
    pnl: float,
    price: float,
    now_ms: float,
    by_max_loss: bool,
    book_amount: float,
    book_cost: float,
    position: float,
    tick: float,
    rk: Vec,
    out: Vec,
) -> int:
    """The risk engine's reactions to symbol j's fill at `price`, as command rows in `out`
    that the broker carries out like a strategy's (returns how many): the protective stop
    moved to the open position (`book_amount`, `book_cost`, fees in; withdrawn when flat),
    a sell's `pnl` booked, the holding valued at `price` and, when the kill-switch has
    tripped (by this fill or before), what the symbol owes it (`obey`)."""
    if rk[RiskRow.ON] == 0:
        return 0
    n = protect(book_amount, book_cost, tick, rk, out, 0)
    _today(now_ms, rk)
    if sell:
        _realised(j, pnl, now_ms, by_max_loss, rk)
    at = _lane(j, rk)
    rk[at + LaneRisk.HELD], rk[at + LaneRisk.COST] = book_amount, book_cost
    _revalue(at, _value(at, price, rk) if book_amount > 0 else 0.0, rk)
    _trip(rk)
    if owes(j, rk):
        n = obey(j, position, rk, out, n)
    return n
