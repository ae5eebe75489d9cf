"""Many parameter sets of one signal strategy at once, for a sweep: each column of
decisions runs through the event engine's compiled loop (batch_loop.py, the very rules
`engines.backtest` runs), the columns in parallel, and only the equity comes back.
A column's idle stretches (flat, nothing at work, the gate not holding: only an entry
decision can change anything) are not stepped through: the loop stops when a column goes
idle and resumes at its next entry decision, the equity in between being its cash (about
half of an SMA column's bars are skipped so, and no result changes by a bit).

Memory: the equity is n x k float64 (44,000 bars x 250 columns: 88 MB) and the caller's
decisions 2 x n x k bools; give it the columns in chunks, and each call the buffer the
last one returned (`out`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from thunes.domain.market import Fees, MarketFilters
from thunes.engine import broker_core as c
from thunes.engine.batch_loop import (
    ORDERS,
    BarRow,
    Bools,
    History,
    fixed_prefixes,
    run_in,
    workspace,
)
from thunes.engine.broker_core import AcctRow, LaneRow
from thunes.engine.sim_broker import venue
from thunes.execution.filters import FloatArray
from thunes.portfolio.sizing import Sizer
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import risk_vector
from thunes.strategy.signal_rules import MAX_INTENTS, runner_vector

# What every column starts from: the lane's row (its venue), the risk vector, the runner's.
Start = tuple[FloatArray, FloatArray, FloatArray]


@njit(cache=True)
def _column(
    bars: FloatArray,
    starts: npt.NDArray[np.int64],
    timeline: FloatArray,
    entries: Bools,
    exits: Bools,
    prefixes: Bools,
    start: Start,
    cash: float,
    equity: FloatArray,
) -> int:
    """One column of decisions from a fresh account and `start`: writes its equity at each
    bar, returns its fill count. (Its tuples are built here: numba does not lower one built
    in the body of a parallel loop.)"""
    h, n = History(bars, starts, entries, exits, timeline), len(timeline)
    acct = np.zeros(2)
    acct[AcctRow.CASH] = cash
    lane, rk, rs = start[0].copy(), start[1].copy(), start[2].copy()
    orders, log = np.zeros((1, ORDERS, c.ORDER)), np.zeros((64, c.LOG_WIDTH))
    scratch = c.scratch(ORDERS)
    cursor = np.zeros(1, np.int64)
    work = workspace(rs, MAX_INTENTS)  # once, not at every entry
    step = 0
    while step < n:  # idle stretches (flat, nothing at work) until the next entry
        wake = step
        while wake < n and not (entries[wake] and not exits[wake]):
            wake += 1
        dust = lane[0, LaneRow.DUST]  # held but never sold: the only base when idle
        for bar in range(step, wake):  # what the loop would write
            equity[bar] = acct[AcctRow.CASH] + dust * bars[bar, BarRow.CLOSE]
        if wake == n:
            break
        cursor[0] = wake
        log, step = run_in(
            h,
            prefixes,
            rk,
            (acct, lane, orders, log, scratch),
            rs,
            work,
            equity,
            equity,  # one symbol: its bars are the timeline
            False,  # the log emptied at every step: its fills are counted in the lane
            cursor,
            wake,
            True,
        )
    return int(lane[0, LaneRow.N_FILLS])


@njit(cache=True, parallel=True)
def _columns(
    bars: FloatArray,
    entries: Bools,
    exits: Bools,
    prefixes: Bools,
    start: Start,
    cash: float,
    equity: FloatArray,
    fills: npt.NDArray[np.int64],
) -> None:
    """`_column` for each row of decisions, in parallel."""
    k, n = entries.shape  # a column's decisions are a contiguous row
    starts = np.array([0, n], dtype=np.int64)
    timeline = bars[:, BarRow.TIME].copy()  # shared, read only
    for col in prange(k):
        row = equity[col]
        fills[col] = _column(
            bars, starts, timeline, entries[col], exits[col], prefixes, start, cash, row
        )


@dataclass(frozen=True)
class SignalBatch:
    equity: FloatArray  # n bars x k columns, at each bar's close
    fills: npt.NDArray[np.int64]  # k: the orders each column filled


def signal_equity_batch(
    times_ms: npt.NDArray[np.int64],
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entries: Bools,
    exits: Bools,
    *,
    fees: Fees,
    slippage: float,
    filters: MarketFilters,
    sizer: Sizer,
    cash: float,
    risk: RiskLimits,
    stop_loss: float | None = None,
    take_profit: float | None = None,
    trailing_stop: float | None = None,
    out: FloatArray | None = None,
) -> SignalBatch:
    """Equity at each bar's close (n x k) of k decision columns (n x k, taken at each bar's
    close, as `Strategy.signals` gives them), and each column's fill count: column j is
    `engines.backtest`'s `portfolio.value()` and `len(fills)` for that column alone.
    `times_ms` (bar open times) drive the risk engine's UTC day and cool-down. `out`: an
    earlier call's equity of the same shape, to fill again (a fresh n x k array costs its
    page faults at every chunk)."""
    bars = np.column_stack([times_ms, open_, high, low, close]).astype(np.float64)
    lane = np.zeros((1, c.LANE_WIDTH))
    row = venue(fees, slippage, filters, sizer)
    lane[0, : len(row)] = row
    rk = risk_vector(risk, fees.taker)
    rs = runner_vector(stop_loss, take_profit, trailing_stop)[None, :]
    # a run's decisions as a contiguous row: no copy if the caller stacked them so
    # (np.stack(columns).T), else one transpose, blocked by numpy, not a gather per column
    entries = np.ascontiguousarray(np.asarray(entries, dtype=np.bool_).T)
    exits = np.ascontiguousarray(np.asarray(exits, dtype=np.bool_).T)
    equity = np.empty(entries.shape) if out is None else out.T
    if equity.shape != entries.shape or not equity.flags.c_contiguous:
        raise ValueError("out: an earlier result of signal_equity_batch, of the same shape")
    fills = np.zeros(len(entries), np.int64)  # one per run (a row of entries, now)
    start = (lane, rk, rs)
    _columns(bars, entries, exits, fixed_prefixes(), start, float(cash), equity, fills)
    return SignalBatch(equity.T, fills)
