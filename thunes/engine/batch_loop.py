"""The event engine's batch face: the bar loop of `PortfolioEngine` (replay.py) compiled,
for lanes whose strategies have numba rules (thunes/strategy/compiled.py: a signal
strategy over decisions computed once for the whole history, DCA, grid).

It calls the broker's and the strategies' numba rules in the order the per-event engine
calls their faces: at each timestamp every symbol's fills and the strategy's answers to
them, then every symbol's decision at the close, then the account marked at the closes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from thunes.domain.rows import BUY, CANCEL, OrderRow
from thunes.domain.tags import FIXED, TAGS
from thunes.engine import broker_core as c
from thunes.engine.broker_core import AcctRow, Book, LaneRow, LogRow
from thunes.engine.lane import Lane
from thunes.engine.results import PortfolioRun, ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.execution.filters import FloatArray as Vec
from thunes.risk import rules as risk_rules
from thunes.strategy import compiled
from thunes.strategy.events import CompiledRules

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
ORDERS = 16  # order slots per lane: a signal strategy has at most 7 orders at work, DCA 4


class BarRow(IntEnum):
    """A bar's fields, as a row of `History.bars`."""

    TIME = 0  # its open, epoch ms
    OPEN = 1
    HIGH = 2
    LOW = 3
    CLOSE = 4


class History(NamedTuple):
    """Every symbol's bars (`BarRow`; symbol j's are rows starts[j]:starts[j + 1]) with a
    signal strategy's decisions at each one's close, and the common timeline."""

    bars: Vec
    starts: Ints
    entries: Bools
    exits: Bools
    timeline: Vec


@c.core  # no reference counting: see broker_core.core
def _apply(j: int, out: Vec, n: int, prefixes: Bools, rk: Vec, b: Book) -> None:
    """Submit a strategy's intents, each after counting the lanes committed before it."""
    for k in range(n):
        o = out[k]
        if o[OrderRow.TYPE] == CANCEL:
            c.cancel(j, prefixes[int(o[OrderRow.TAG])], 0, b)
        else:
            c.submit(j, o, c.open_positions(b), rk, b)


@njit(cache=True, inline="always")
def _idle(lanes: Vec, st: Vec) -> bool:
    """Every lane flat, with no order at work, and its strategy waiting for an entry."""
    for j in range(len(lanes)):
        busy = lanes[j, LaneRow.POS] != 0 or lanes[j, LaneRow.N_ORDERS] != 0
        if busy or not compiled.idle(j, st):
            return False
    return True


@njit(cache=True)  # the strategies' rules may allocate: with numba's runtime
def _hear_fills(j: int, first: int, prefixes: Bools, rk: Vec, b: Book, rs: Vec, out: Vec) -> None:
    """The strategy's answers to lane j's fills, from log row `first` on."""
    acct, lanes, _, log, _ = b
    for r in range(first, int(acct[AcctRow.N_LOG])):
        if log[r, LogRow.KIND] == c.FILL:
            f = log[r]
            n = compiled.on_fill(
                f[LogRow.SIDE] == BUY,
                f[LogRow.PRICE],
                f[LogRow.NET],
                f[LogRow.FEE],
                int(f[LogRow.TAG]),
                f[LogRow.REMAINING],
                lanes[j, LaneRow.POS],
                rs,
                out,
            )
            if n:
                _apply(j, out, n, prefixes, rk, b)


# The loop's working arrays: each lane's last close, its row of `bars` at this step (or
# -1), room for the most intents a strategy returns, and each lane's strategy vector,
# viewed once, not per bar. A caller that enters the loop again and again (a sweep
# column, at each entry) makes them once (`workspace`): 4 allocations an entry less.
Work = tuple[Vec, Ints, Vec, list[Vec]]


@njit(cache=True)
def workspace(st: Vec, intents: int) -> Work:
    """The working arrays of `run_in` for the strategies' vectors `st`."""
    n_lanes = len(st)
    rules = [st[j] for j in range(n_lanes)]
    return np.zeros(n_lanes), np.empty(n_lanes, np.int64), np.empty((intents, c.ORDER)), rules


@njit(cache=True)
def run_lanes(
    h: History,
    prefixes: Bools,
    rk: Vec,
    b: Book,
    st: Vec,
    intents: int,
    equity: Vec,
    lane_equity: Vec,
    keep_log: bool,
    cursor: Ints,
    first: int,
    until_idle: bool,
) -> tuple[Vec, int]:
    """Every symbol's bars in `h` along its timeline, from step `first`, lane j at its bar
    cursor[j]; writes the account's equity at each step, and at each of a symbol's bars.
    Returns the log (grown as needed; emptied every step if not keep_log) and the step it
    stopped before: the end, or, with `until_idle`, the step after the one that left every
    lane idle (`_idle`): then only an entry decision can change anything, and a caller that
    knows where the next one is may skip to it (signal_sweep.py)."""
    work = workspace(st, intents)
    return run_in(
        h, prefixes, rk, b, st, work, equity, lane_equity, keep_log, cursor, first, until_idle
    )


@njit(cache=True)
def run_in(
    h: History,
    prefixes: Bools,
    rk: Vec,
    b: Book,
    st: Vec,
    work: Work,
    equity: Vec,
    lane_equity: Vec,
    keep_log: bool,
    cursor: Ints,
    first: int,
    until_idle: bool,
) -> tuple[Vec, int]:
    """`run_lanes` in the working arrays `work` (`workspace(st, ...)`): `_steps` in the log
    as it is, again in one twice as long whenever a step could overflow it (rarely)."""
    acct, lanes, orders, log, scratch = b
    work[0][:] = 0.0  # each lane's last close
    step = first
    while True:
        step, done = _steps(
            h, prefixes, rk, (acct, lanes, orders, log, scratch), st, work, equity, lane_equity,
            keep_log, cursor, step, until_idle,
        )  # fmt: skip
        if done:
            return log, step
        log = c.grown(log)


@njit(cache=True)
def _steps(
    h: History,
    prefixes: Bools,
    rk: Vec,
    b: Book,
    st: Vec,
    work: Work,
    equity: Vec,
    lane_equity: Vec,
    keep_log: bool,
    cursor: Ints,
    first: int,
    until_idle: bool,
) -> tuple[int, bool]:
    """`run_in`'s steps from `first`: returns the step it stopped before, and True at the end
    (or idle, `until_idle`), False when the log must grow first. It rebinds no array: a
    loop that may (the grown log) pays numba's reference counting of each at every step."""
    acct, lanes, _, log, _ = b
    bars, starts, entries, exits, timeline = h  # read at every bar: no attribute lookups
    n_lanes = len(starts) - 1
    last_close, rows, out, rules = work
    room = len(log) - 64 * n_lanes  # a step writes at most 64 rows a lane
    for step in range(first, len(timeline)):
        if acct[AcctRow.N_LOG] > room:
            return step, False
        now = timeline[step]
        for j in range(n_lanes):  # the fills at the open, and the answers to them
            i = starts[j] + cursor[j]
            if i >= starts[j + 1] or bars[i, BarRow.TIME] != now:
                rows[j] = -1
                continue
            rows[j] = i
            high, low = bars[i, BarRow.HIGH], bars[i, BarRow.LOW]  # no view: no refcounting
            if not c.reaches(j, high, low, lanes):
                c.clock(j, cursor[j], now, lanes)  # on_bar's work on most bars, without a call
                continue
            logged = int(acct[AcctRow.N_LOG])
            c.on_bar(j, cursor[j], now, bars[i, BarRow.OPEN], high, low, rk, b)
            _hear_fills(j, logged, prefixes, rk, b, rules[j], out)
        for j in range(n_lanes):  # the decisions at the close
            i = rows[j]
            if i >= 0:
                close = bars[i, BarRow.CLOSE]
                if i + 1 < starts[j + 1]:  # a decision on the last bar could never fill
                    lanes[j, LaneRow.TIME] = bars[i + 1, BarRow.TIME]  # orders leave then
                    risk_rules.mark(j, close, lanes[j, LaneRow.TIME], rk)  # may trip
                    if risk_rules.owes(j, rk):
                        c.obey(j, rk, b)  # a tripped kill-switch's orders, before the decision
                    high, pos = bars[i, BarRow.HIGH], lanes[j, LaneRow.POS]
                    entry, exit = entries[i], exits[i]
                    if not compiled.quiet(j, high, pos, entry, exit, st):
                        low, rs = bars[i, BarRow.LOW], rules[j]
                        n = compiled.on_bar(cursor[j], high, low, close, pos, entry, exit, rs, out)
                        if n:
                            _apply(j, out, n, prefixes, rk, b)
                last_close[j] = close
        value = acct[AcctRow.CASH]
        for j in range(n_lanes):
            value += (lanes[j, LaneRow.POS] + lanes[j, LaneRow.DUST]) * last_close[j]
        equity[step] = value
        for j in range(n_lanes):
            if rows[j] >= 0:
                lane_equity[rows[j]] = value
                cursor[j] += 1
        if not keep_log:
            acct[AcctRow.N_LOG] = 0
        if until_idle and _idle(lanes, st):
            return step + 1, True
    return len(timeline), True


def fixed_prefixes() -> Bools:
    """Which fixed tags (the only ones a signal strategy uses) each one's cancel withdraws."""
    names = FIXED
    return np.array([[b.startswith(a) for b in names] for a in names], dtype=np.bool_)


def union(times: list[Ints]) -> Ints:
    """Every timestamp at which some symbol has a bar: each symbol's are sorted already, so
    a stable sort merges them (np.unique hashes all of them: 5 ms on 3 x 44k)."""
    if len(times) == 1:
        return times[0]
    merged = np.sort(np.concatenate(times), kind="stable")
    return merged[np.concatenate([[True], merged[1:] != merged[:-1]])]


def run_compiled(lanes: list[Lane], rules: list[CompiledRules]) -> PortfolioRun:
    """`PortfolioEngine.run` in one compiled loop, for simulated brokers and strategies
    with compiled `rules`; the brokers and the strategies end as their faces would."""
    states = [r.state for r in rules]
    brokers = [cast(SimBroker, lane.broker) for lane in lanes]
    wallet = brokers[0].wallet
    frames = [lane.history() for lane in lanes]
    times = [pd.DatetimeIndex(frame.index).as_unit("ms").asi8 for frame in frames]
    bars = np.concatenate(
        [
            np.column_stack([t, frame[["open", "high", "low", "close"]].to_numpy(float)])
            for t, frame in zip(times, frames, strict=True)
        ]
    ).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in times])]).astype(np.int64)
    entries, exits = np.zeros(len(bars), np.bool_), np.zeros(len(bars), np.bool_)
    for j, r in enumerate(rules):
        if r.signals is not None:
            entries[starts[j] : starts[j + 1]] = r.signals.entries
            exits[starts[j] : starts[j + 1]] = r.signals.exits
    timeline = union(times)
    width = max(len(state) for state in states)
    stacked = np.zeros((len(lanes), width))
    for j, state in enumerate(states):
        stacked[j, : len(state)] = state
    slots = max(ORDERS, width)  # a grid's orders: at most two per level, its vector has 7
    wallet.make_slots(slots)
    equity, lane_equity = np.empty(len(timeline)), np.empty(len(bars))
    names = TAGS.names
    prefixes = np.array([[b.startswith(a) for b in names] for a in names], dtype=np.bool_)
    history = History(bars, starts, entries, exits, timeline.astype(np.float64))
    wallet.log, _ = run_lanes(
        history,
        prefixes,
        brokers[0].risk_vector,
        wallet.book,
        stacked,
        max(r.intents for r in rules),
        equity,
        lane_equity,
        True,
        np.zeros(len(lanes), np.int64),
        0,
        False,
    )
    wallet.drain(events=False)
    for state, row in zip(states, stacked, strict=True):
        state[:] = row[: len(state)]
    results = [
        ReplayResult(b.fills, b.skipped, lane_equity[starts[j] : starts[j + 1]])
        for j, b in enumerate(brokers)
    ]
    return PortfolioRun(timeline, equity, results)
