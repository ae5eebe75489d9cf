"""The risk rules, once, as numba functions over one float64 vector: every engine calls
them (the broker at each order and fill, on candles and on quotes alike), batch or
event by event. `RiskEngine` (engine.py) is the Python face that owns such a vector.

Rules, all in the quote currency:
- max_loss_per_trade: a protective stop at the price where the open position, fees in,
  would have lost that much (`stop_price`). It rests with the broker like any stop.
- max_daily_loss: realised losses within one UTC day. Reaching it trips the kill-switch:
  no new buys until the next UTC day and, when `kill_switch` is on, the position is
  flattened. Sells (which reduce risk) are always allowed: HALTED, not frozen.
- cooldown_minutes: after a losing exit, no new buys for that long.
- max_open_positions: a buy that would open a position beyond the limit is refused.
- paused: set by someone or something watching (a drift alarm), no new buys until lifted,
  with or without limits.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain.reasons import COOLDOWN, KILL_SWITCH, MAX_OPEN, PAUSED
from thunes.domain.rows import BUY, CANCEL, KILL_CODE, MARKET, MAX_LOSS_CODE, SELL, STOP, put
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import to_grid
from thunes.risk.limits import RiskLimits


class RiskRow(IntEnum):
    """The vector: limits (ON is 0 for "no risk engine": every rule off), state, then the
    counts of how often each rule fired, in the order of FIRED. Epoch ms fit a float64
    exactly."""

    ON = 0
    MAX_LOSS = 1
    MAX_DAILY = 2
    MAX_POSITIONS = 3
    COOLDOWN_MS = 4
    FLATTEN = 5
    EXIT_FEE = 6
    HALTED_DAY = 7
    COOLDOWN_UNTIL = 8
    DAY = 9
    DAY_PNL = 10
    F_KILL = 11
    F_COOLDOWN = 12
    F_MAX_OPEN = 13
    F_MAX_LOSS = 14
    F_TRIPS = 15
    PAUSED = 16


FIRED = ("kill_switch", "cooldown", "max_open_positions", "max_loss_per_trade", "kill_switch_trips")
_DAY_MS = 86_400_000.0


def risk_vector(limits: RiskLimits | None, exit_fee: float) -> Vec:
    """A fresh vector for `limits` (None: no risk engine), nothing fired yet."""
    rk = np.zeros(len(RiskRow))
    rk[[RiskRow.HALTED_DAY, RiskRow.COOLDOWN_UNTIL, RiskRow.DAY]] = -1.0
    if limits is not None:
        rk[: RiskRow.HALTED_DAY] = [
            1.0,
            limits.max_loss_per_trade,
            limits.max_daily_loss,
            limits.max_open_positions,
            int(limits.cooldown_minutes * 60_000),
            limits.kill_switch,
            exit_fee,
        ]
    return rk


@njit(cache=True)
def allows(now_ms: float, open_positions: int, holding: bool, rk: Vec) -> int:
    """0 if a buy may leave now, else the reason code it may not. Asking counts nothing:
    the caller counts the order it refuses (`refused`), once."""
    if rk[RiskRow.PAUSED] != 0:
        return PAUSED
    if rk[RiskRow.ON] == 0:
        return 0
    if rk[RiskRow.HALTED_DAY] == np.floor(now_ms / _DAY_MS):
        return KILL_SWITCH
    if now_ms < rk[RiskRow.COOLDOWN_UNTIL]:
        return COOLDOWN
    if not holding and open_positions >= rk[RiskRow.MAX_POSITIONS]:
        return MAX_OPEN
    return 0


@njit(cache=True)
def refused(reason: int, rk: Vec) -> None:
    """Count one order refused for `reason`, if it is a risk rule's."""
    if reason == KILL_SWITCH:
        rk[RiskRow.F_KILL] += 1
    elif reason == COOLDOWN:
        rk[RiskRow.F_COOLDOWN] += 1
    elif reason == MAX_OPEN:
        rk[RiskRow.F_MAX_OPEN] += 1


@njit(cache=True)
def stop_price(amount: float, cost: float, rk: Vec) -> float:
    """Where a position of `amount` that cost `cost` (fees in) loses max_loss_per_trade, the
    exit fee included; -1 when there is no such stop."""
    if rk[RiskRow.ON] == 0 or amount <= 0 or rk[RiskRow.MAX_LOSS] == np.inf:
        return -1.0
    price = (cost - rk[RiskRow.MAX_LOSS]) / (amount * (1 - rk[RiskRow.EXIT_FEE]))
    return price if price > 0 else -1.0


@njit(cache=True)
def on_realised(pnl: float, now_ms: float, by_max_loss: bool, rk: Vec) -> bool:
    """Book a sell's PnL; True when the daily limit has just tripped a flattening kill-switch."""
    if rk[RiskRow.ON] == 0:
        return False
    day = np.floor(now_ms / _DAY_MS)
    if day != rk[RiskRow.DAY]:
        rk[RiskRow.DAY], rk[RiskRow.DAY_PNL] = day, 0.0
    rk[RiskRow.DAY_PNL] += pnl
    if by_max_loss:
        rk[RiskRow.F_MAX_LOSS] += 1
    if pnl < 0 and rk[RiskRow.COOLDOWN_MS] > 0:
        rk[RiskRow.COOLDOWN_UNTIL] = now_ms + rk[RiskRow.COOLDOWN_MS]
    if -rk[RiskRow.DAY_PNL] >= rk[RiskRow.MAX_DAILY] and rk[RiskRow.HALTED_DAY] != day:
        rk[RiskRow.HALTED_DAY] = day
        rk[RiskRow.F_TRIPS] += 1
        return rk[RiskRow.FLATTEN] != 0
    return False


EVERY_BUY = -1  # a cancel row's tag: withdraw every buy at work, whatever its tag
MAX_COMMANDS = 4  # rows `after_fill` may write


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
def after_fill(
    sell: bool,
    pnl: float,
    now_ms: float,
    by_max_loss: bool,
    book_amount: float,
    book_cost: float,
    position: float,
    tick: float,
    rk: Vec,
    out: Vec,
) -> int:
    """The risk engine's reactions to a fill, as command rows in `out` that the broker
    carries out like a strategy's (returns how many): the protective stop moved to the
    open position (`book_amount`, `book_cost`, fees in; withdrawn when flat) and, when a
    sell's `pnl` trips the daily limit with flattening on, every buy withdrawn and the
    `position` sold at market."""
    if rk[RiskRow.ON] == 0:
        return 0
    n = protect(book_amount, book_cost, tick, rk, out, 0)
    if sell and on_realised(pnl, now_ms, by_max_loss, rk):
        n = put(out, n, BUY, CANCEL, np.nan, np.nan, np.nan, EVERY_BUY)
        if position > 0:
            n = put(out, n, SELL, MARKET, np.nan, np.nan, np.nan, KILL_CODE)
    return n
