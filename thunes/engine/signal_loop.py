"""The event engine's batch face for signal strategies: the bar loop of `PortfolioEngine`
(replay.py) compiled, over decisions computed once for the whole history.

It calls the broker's and the signal runner's numba rules (broker_core.py,
thunes/strategy/signal_rules.py) in the order the per-event engine calls their faces:
at each timestamp every symbol's fills and the strategy's answers to them, then every
symbol's decision at the close, then the account marked at the closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from thunes.engine import broker_core as c
from thunes.engine.results import PortfolioRun, ReplayResult
from thunes.engine.tags import FIXED
from thunes.execution.filters import FloatArray as Vec
from thunes.strategy import signal_rules as sr
from thunes.strategy.base import Signals
from thunes.strategy.signal_runner import SignalRunner

if TYPE_CHECKING:
    from thunes.engine.replay import Lane

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
TIME, OPEN, HIGH, LOW, CLOSE = range(5)  # columns of `bars`
ORDERS = 16  # order slots per lane: a signal strategy has at most 7 orders at work


@njit(cache=True)
def _apply(
    j: int,
    out: Vec,
    n: int,
    prefixes: Bools,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
) -> None:
    """Submit a strategy's intents, each after counting the lanes committed before it."""
    for k in range(n):
        o = out[k]
        if o[c.TYPE] == c.CANCEL:
            c.cancel(j, prefixes[int(o[c.TAG])], False, acct, lanes, ob, lg)
        else:
            c.submit(j, o, c.open_positions(lanes, ob), acct, rk, lanes, ob, lg)


@njit(cache=True)
def run_lanes(
    bars: Vec,
    starts: Ints,
    entries: Bools,
    exits: Bools,
    timeline: Vec,
    prefixes: Bools,
    acct: Vec,
    rk: Vec,
    lanes: Vec,
    ob: Vec,
    lg: Vec,
    rs: Vec,
    equity: Vec,
    lane_equity: Vec,
    keep_log: bool,
) -> Vec:
    """Every symbol's bars (rows starts[j]:starts[j + 1] of `bars`, with their decisions)
    along the common `timeline`; writes the account's equity at each step, and at each of
    a symbol's bars; returns the log (grown as needed; emptied every step if not keep_log).
    """
    n_lanes = len(starts) - 1
    cursor = np.zeros(n_lanes, np.int64)
    last_close = np.zeros(n_lanes)
    active = np.zeros(n_lanes, np.bool_)
    out = np.empty((sr.MAX_INTENTS, c.ORDER))
    for step in range(len(timeline)):
        if acct[c.N_LOG] + 64 * n_lanes > len(lg):
            lg = np.concatenate((lg, np.zeros_like(lg)))
        now = timeline[step]
        for j in range(n_lanes):
            i = starts[j] + cursor[j]
            active[j] = i < starts[j + 1] and bars[i, TIME] == now
        for j in range(n_lanes):  # the fills at the open, and the answers to them
            if not active[j]:
                continue
            i = starts[j] + cursor[j]
            b = bars[i]
            if not c.reaches(j, b[HIGH], b[LOW], lanes, ob):
                c.clock(j, cursor[j], now, lanes)  # on_bar's work on most bars, without a call
                continue
            first = int(acct[c.N_LOG])
            c.on_bar(j, cursor[j], now, b[OPEN], b[HIGH], b[LOW], acct, rk, lanes, ob, lg)
            last = int(acct[c.N_LOG])
            for r in range(first, last):
                if lg[r, c.KIND] == c.FILL:
                    buy, price = lg[r, c.L_SIDE] == c.BUY, lg[r, c.L_PRICE]
                    n = sr.on_fill(buy, price, lanes[j, c.POS], rs[j], out)
                    if n:
                        _apply(j, out, n, prefixes, acct, rk, lanes, ob, lg)
        for j in range(n_lanes):  # the decisions at the close
            if not active[j]:
                continue
            i = starts[j] + cursor[j]
            if i + 1 < starts[j + 1]:  # a decision on the last bar could never fill
                lanes[j, c.TIME] = bars[i + 1, TIME]  # its orders leave at the next open
                pos = lanes[j, c.POS]
                n = sr.on_bar(bars[i, HIGH], pos, entries[i], exits[i], rs[j], out)
                if n:
                    _apply(j, out, n, prefixes, acct, rk, lanes, ob, lg)
            last_close[j] = bars[i, CLOSE]
        value = acct[c.CASH]
        for j in range(n_lanes):
            value += lanes[j, c.POS] * last_close[j]
        equity[step] = value
        for j in range(n_lanes):
            if active[j]:
                lane_equity[starts[j] + cursor[j]] = value
                cursor[j] += 1
        if not keep_log:
            acct[c.N_LOG] = 0
    return lg


def fixed_prefixes() -> Bools:
    """Which fixed tags (the only ones a signal strategy uses) each one's cancel withdraws."""
    names = FIXED
    return np.array([[b.startswith(a) for b in names] for a in names], dtype=np.bool_)


def run_signal_lanes(lanes: list[Lane]) -> PortfolioRun:
    """`PortfolioEngine.run` in one compiled loop, for lanes that all run a signal strategy
    over decisions computed beforehand; the brokers and runners end as the faces would."""
    runners = [cast(SignalRunner, lane.strategy) for lane in lanes]
    brokers = [lane.broker for lane in lanes]
    wallet = brokers[0].wallet
    times = [pd.DatetimeIndex(lane.candles.index).as_unit("ms").asi8 for lane in lanes]
    bars = np.concatenate(
        [
            np.column_stack([t, lane.candles[["open", "high", "low", "close"]].to_numpy(float)])
            for t, lane in zip(times, lanes, strict=True)
        ]
    ).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in times])]).astype(np.int64)
    decided = [cast(Signals, r.precomputed) for r in runners]
    entries = np.concatenate([d.entries for d in decided]).astype(np.bool_)
    exits = np.concatenate([d.exits for d in decided]).astype(np.bool_)
    timeline = np.unique(np.concatenate(times))
    states = np.stack([r.state for r in runners])
    if wallet.orders.shape[1] < ORDERS:
        more = np.zeros((len(wallet.lanes), ORDERS - wallet.orders.shape[1], c.ORDER))
        wallet.orders = np.concatenate([wallet.orders, more], axis=1)
    equity, lane_equity = np.empty(len(timeline)), np.empty(len(bars))
    rk = brokers[0].risk_vector
    wallet.log = run_lanes(
        bars,
        starts,
        entries,
        exits,
        timeline.astype(np.float64),
        fixed_prefixes(),
        wallet.acct,
        rk,
        wallet.lanes,
        wallet.orders,
        wallet.log,
        states,
        equity,
        lane_equity,
        True,
    )
    wallet.drain()
    for runner, state in zip(runners, states, strict=True):
        runner.state[:] = state
    results = [
        ReplayResult(b.fills, b.skipped, lane_equity[starts[j] : starts[j + 1]])
        for j, b in enumerate(brokers)
    ]
    return PortfolioRun(timeline, equity, results)
