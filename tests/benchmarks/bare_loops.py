"""Plain numba loops: the simplest version of each stateful strategy's rule, with no filters,
no risk, no order book, one pass over the bars (or ticks). They are the STRATEGIES section's
references (tests/benchmarks/strategies.py): a lower bound of what a compiled engine could
do on the same arrays, not a second implementation to agree with. Each returns (fills, pnl).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@njit(cache=True)
def dca_loop(
    open_: Floats,
    high: Floats,
    close: Floats,
    quote: float,
    drop: float,
    multiplier: float,
    max_safety: int,
    take_profit: float,
    fee: float,
) -> tuple[int, float]:
    """Buy `quote` when flat; buy `quote * multiplier**n` on every close `drop` below the last
    buy (at most `max_safety` times); sell everything at the average entry + `take_profit`.
    Decisions at a close fill at the next open; the take-profit fills when the high passes it."""
    cash = amount = spent = last = pending = 0.0
    target = np.inf
    safety = fills = 0
    for i in range(len(close)):
        if pending > 0.0:
            qty = pending / open_[i]
            amount += qty
            spent += qty * open_[i]
            cash -= qty * open_[i] * (1.0 + fee)
            last, pending, fills = open_[i], 0.0, fills + 1
            target = spent / amount * (1.0 + take_profit)
        elif amount > 0.0 and high[i] > target:
            cash += amount * target * (1.0 - fee)
            amount = spent = 0.0
            safety, fills, target = 0, fills + 1, np.inf
        if amount == 0.0:
            pending = quote
        elif safety < max_safety and close[i] <= last * (1.0 - drop):
            safety += 1
            pending = quote * multiplier**safety
    return fills, cash + amount * close[-1]


@njit(cache=True)
def grid_loop(
    high: Floats,
    low: Floats,
    close: Floats,
    lower: float,
    upper: float,
    count: int,
    geometric: bool,
    quote: float,
    stop_below: float,
    fee: float,
) -> tuple[int, float]:
    """Levels from close[0] * (1 + lower) to close[0] * (1 + upper); a buy on each level under
    the first close; a level's buy fills when the low crosses it and is answered by a sell one
    level up, whose fill re-arms the buy. Below the stop, sell everything and stop trading."""
    lo, hi = close[0] * (1.0 + lower), close[0] * (1.0 + upper)
    levels = np.empty(count)
    for k in range(count):
        levels[k] = (
            lo * (hi / lo) ** (k / (count - 1)) if geometric else lo + (hi - lo) * k / (count - 1)
        )
    buying = np.zeros(count, np.bool_)
    held = np.zeros(count)  # held[k]: bought at level k, for sale at level k + 1
    for k in range(count - 1):
        buying[k] = levels[k] < close[0]
    stop = levels[0] * (1.0 - stop_below)
    cash, fills, stopped = 0.0, 0, False
    for i in range(1, len(close)):
        if stopped:
            continue
        for k in range(count - 1):
            if buying[k] and low[i] < levels[k]:
                held[k], buying[k] = quote / levels[k], False
                cash -= quote * (1.0 + fee)
                fills += 1
        if low[i] <= stop:
            for k in range(count - 1):
                if held[k] > 0.0:
                    cash += held[k] * stop * (1.0 - fee)
                    held[k], fills = 0.0, fills + 1
            stopped = True
            continue
        for k in range(count - 1):
            if held[k] > 0.0 and high[i] > levels[k + 1]:
                cash += held[k] * levels[k + 1] * (1.0 - fee)
                held[k], buying[k], fills = 0.0, True, fills + 1
    return fills, cash + held.sum() * close[-1]


@njit(cache=True)
def scalper_loop(
    times: Ints,
    bid: Floats,
    bid_size: Floats,
    ask: Floats,
    ask_size: Floats,
    threshold: float,
    take_profit: float,
    stop: float,
    max_hold_ms: float,
    quote: float,
    fee: float,
) -> tuple[int, float]:
    """Flat and the book imbalance >= threshold: buy at the ask. Holding: sell at the bid once
    it is `take_profit` above or `stop` below the entry (in price), or after `max_hold_ms`."""
    holding = False
    entry = qty = cash = 0.0
    entry_ms, fills = 0, 0
    for i in range(len(bid)):
        if holding:
            if (
                bid[i] <= entry - stop
                or bid[i] >= entry + take_profit
                or (times[i] - entry_ms >= max_hold_ms)
            ):
                cash += qty * bid[i] * (1.0 - fee)
                holding, fills = False, fills + 1
        else:
            total = bid_size[i] + ask_size[i]
            if total > 0.0 and (bid_size[i] - ask_size[i]) / total >= threshold:
                entry, entry_ms = ask[i], times[i]
                qty = quote / entry
                cash -= quote * (1.0 + fee)
                holding, fills = True, fills + 1
    return fills, cash
