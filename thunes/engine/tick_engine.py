"""The tick engine: the scalper's rules and a top-of-book broker, over best bid/ask ticks.

Per tick: (1) orders from earlier ticks meet this tick's quotes: a market buy fills at the ask;
a stale maker entry is withdrawn, else the buy limit fills at its price if the ask is strictly
below it; (2) exits, of the whole position: the risk engine's protective stop guards from the
entry tick, the rules' stop, time limit (at the bid, taker) and take-profit (a sell limit filled
when the bid is strictly above it, maker) from the next; (3) when flat the rules may enter: a
limit rests from the next tick, a market buy fills at the next tick's ask (a bot answers a quote
it has seen). Fees on notional; amounts round down to the step; an order under the minimums,
beyond the cash or refused by risk is skipped and recorded, once per run of identical refusals
(a signal holds for many ticks). Equity is marked at the bid. `run_ticks` loops the numba `step`
compiled, `on_tick` calls it once per tick: the two faces run one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from numba import njit

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.domain.reasons import REASONS
from thunes.domain.ticks import BookTick
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import below_minimum, to_grid
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.risk.rules import risk_vector
from thunes.strategy import scalper as s

# The account and the orders at work, one float64 vector (epoch ms fit a float64 exactly);
# the risk engine's state is its own vector (thunes/risk/rules.py), `rk` below.
CASH, POS, COST, PHASE, LIMIT, QTY, PLACED, ACTIVE, ENTRY_MS, TP, STOP, EXIT_FROM = range(12)
PROTECT, N_ROWS, LAST_SKIP = range(12, 15)
FLAT, RESTING, MARKET, LONG = range(4)  # PHASE: nothing, a maker entry, a market buy, a position
# The parameter vector: the rules' slots (scalper.py), then the venue's.
MAKER_FEE, TAKER_FEE, TICK, STEP, MIN_QTY, MIN_NOTIONAL = range(s.N_RULES, s.N_RULES + 6)
TAKER, MAKER, SKIP = range(3)  # the kinds of log rows (see _log)
_SIDES = (Side.SELL, Side.BUY)


@njit(cache=True)
def _refused(px: float, qty: float, buy: bool, cash_fee: float, st: Vec, p: Vec) -> int:
    """0, or the REASONS code the venue rejects it for (cash_fee < 0: no cash check)."""
    if below_minimum(qty, px, p[MIN_QTY], p[MIN_NOTIONAL]):
        return 1 if buy else 3
    return 2 if cash_fee >= 0 and qty * px * (1 + cash_fee) > st[CASH] else 0


@njit(cache=True)
def _log(i: int, px: float, qty: float, x: float, tag: int, kind: int, st: Vec, lg: Vec) -> bool:
    """Log a row: tick, buy, price, amount, fee or reason, tag, kind; a refusal once per run.
    Returns whether it wrote one."""
    if kind == SKIP and x == st[LAST_SKIP]:
        return False
    k = int(st[N_ROWS])
    lg[k, 0], lg[k, 1], lg[k, 2], lg[k, 3], lg[k, 4] = i, tag == s.ENTRY, px, qty, x
    lg[k, 5], lg[k, 6], st[N_ROWS], st[LAST_SKIP] = tag, kind, k + 1, x if kind == SKIP else 0
    return True


@njit(cache=True)
def _fill(
    i: int, t: float, px: float, qty: float, tag: int, st: Vec, p: Vec, rk: Vec, lg: Vec
) -> None:
    """Fill (or record the refusal of) an entry, which sets its exits, or an exit of the whole
    position. Maker: the take-profit and a "maker" entry; all else crosses the spread."""
    refused = _refused(px, qty, tag == s.ENTRY, -1.0, st, p)
    if refused:
        _log(i, px, qty, refused, tag, SKIP, st, lg)
        return
    maker = tag == s.TAKE_PROFIT or (tag == s.ENTRY and p[s.MAKER] > 0)
    fee = qty * px * (p[MAKER_FEE] if maker else p[TAKER_FEE])
    _log(i, px, qty, fee, tag, MAKER if maker else TAKER, st, lg)
    if tag != s.ENTRY:
        st[CASH] += qty * px - fee
        pnl = qty * px - fee - st[COST]
        st[POS], st[COST], st[PHASE], st[PROTECT] = 0.0, 0.0, FLAT, -1.0
        rules.on_realised(pnl, t, tag == s.MAX_LOSS, rk)  # flat: nothing to flatten or cancel
        return
    st[CASH] -= qty * px + fee
    st[POS], st[COST] = round(st[POS] + qty, 12), st[COST] + qty * px + fee
    st[TP], st[STOP] = s.exit_levels(px, p[TICK], p)  # exits from the next tick on
    st[PHASE], st[ENTRY_MS], st[EXIT_FROM] = LONG, t, i + 1
    protect = rules.stop_price(st[POS], st[COST], rk)  # rounded up: the loss stays <= limit
    st[PROTECT] = to_grid(protect, p[TICK], True) if protect > 0 else -1.0


@njit(cache=True)
def step(
    i: int,
    t: float,
    bid: float,
    bsz: float,
    ask: float,
    asz: float,
    p: Vec,
    st: Vec,
    rk: Vec,
    lg: Vec,
) -> float:
    """Tick i at epoch ms t through broker and rules, as the module says; returns the equity."""
    if st[PHASE] == MARKET:
        st[PHASE] = FLAT  # until it fills
        qty = to_grid(min(p[s.QUOTE], st[CASH] / (1 + p[TAKER_FEE])) / ask, p[STEP], False)
        _fill(i, t, ask, qty, s.ENTRY, st, p, rk, lg)
    elif st[PHASE] == RESTING:
        if s.is_stale(t, st[PLACED], p):
            st[PHASE] = FLAT
        elif i >= st[ACTIVE] and ask < st[LIMIT]:
            _fill(i, t, st[LIMIT], st[QTY], s.ENTRY, st, p, rk, lg)
    if st[PHASE] == LONG:
        why = s.exit_reason(t, bid, st[ENTRY_MS], st[TP], st[STOP], p)
        why = why if i >= st[EXIT_FROM] else s.NONE
        if bid <= st[PROTECT] and (why != s.STOP or st[PROTECT] > st[STOP]):
            why = s.MAX_LOSS  # the higher stop is met first; ties go to the rules' stop
        if why != s.NONE:
            _fill(i, t, st[TP] if why == s.TAKE_PROFIT else bid, st[POS], why, st, p, rk, lg)
    if st[PHASE] == FLAT and s.wants_entry(bsz, asz, p):
        px = to_grid(bid, p[TICK], False)
        qty = to_grid(p[s.QUOTE] / px, p[STEP], False) if p[s.MAKER] else np.nan
        refused = rules.allows(t, 0, True, rk)  # max_open_positions cannot bind: one symbol
        if not refused and p[s.MAKER]:
            refused = _refused(px, qty, True, p[MAKER_FEE], st, p)
        if refused:
            if _log(i, px, qty, refused, s.ENTRY, SKIP, st, lg):
                rules.refused(refused, rk)  # an order refused, once per run of refusals
        elif p[s.MAKER]:
            st[PHASE], st[LIMIT], st[QTY], st[PLACED], st[ACTIVE] = RESTING, px, qty, t, i + 1
            st[LAST_SKIP] = 0
        else:
            st[PHASE] = MARKET  # a refusal comes at the fill: LAST_SKIP stays
    return st[CASH] + st[POS] * bid


@njit(cache=True)
def _loop(first: int, rows: Vec, p: Vec, st: Vec, rk: Vec, lg: Vec, equity: Vec) -> Vec:
    """Rows of (time, bid, bid_size, ask, ask_size) from tick `first` on; returns the log."""
    for j in range(len(rows)):
        if st[N_ROWS] + 3 > len(lg):
            lg = np.concatenate((lg, np.zeros_like(lg)))
        r = rows[j]
        equity[j] = step(first + j, r[0], r[1], r[2], r[3], r[4], p, st, rk, lg)
    return lg


@dataclass(frozen=True)
class TickResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: Vec  # one mark per tick, at the bid


class TickEngine:
    """Batch (`run_ticks`) and per-event (`on_tick`) faces over one state; they mix."""

    def __init__(
        self,
        strategy: s.Scalper,
        fees: Fees,
        filters: MarketFilters,
        cash: float,
        risk: RiskEngine | None = None,
    ) -> None:
        self.strategy, self.risk, f = strategy, risk, filters
        venue = [fees.maker, fees.taker, f.tick_size, f.step_size, f.min_qty, f.min_notional]
        self.params = np.array([*strategy.rules(), *venue], dtype=np.float64)
        self.risk_vector = risk_vector(None, 0.0) if risk is None else risk.vector
        self.state = np.zeros(LAST_SKIP + 1)
        self.state[[CASH, PROTECT]] = [cash, -1]
        self.log, self.marks = np.zeros((64, 7)), np.zeros(1024)  # both grow by doubling
        self.ticks = 0  # ticks seen: the next one's number, and the marks in use

    def account(self) -> tuple[float, float]:
        return float(self.state[CASH]), float(self.state[POS])  # (cash, position) now

    def on_tick(self, tick: BookTick) -> list[Fill]:
        """One tick as it arrives; returns the fills it caused."""
        st, before, i = self.state, int(self.state[N_ROWS]), self.ticks
        if before + 3 > len(self.log) or i == len(self.marks):
            self._grow(1)
        t, b, bs, a, az = tick.timestamp_ms, tick.bid, tick.bid_size, tick.ask, tick.ask_size
        self.marks[i] = step(i, float(t), b, bs, a, az, self.params, st, self.risk_vector, self.log)
        self.ticks += 1
        return _rows(self.log[before : int(st[N_ROWS])])[0] if st[N_ROWS] > before else []

    def run_ticks(self, ticks: pd.DataFrame) -> TickResult:
        """A frame of ticks (UTC index; bid, bid_size, ask, ask_size), in compiled code."""
        rows = np.empty((len(ticks), 5))
        rows[:, 0] = cast(pd.DatetimeIndex, ticks.index).as_unit("ms").asi8
        rows[:, 1:] = ticks[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
        self._grow(len(rows))
        marks = self.marks[self.ticks : self.ticks + len(rows)]
        self.log = _loop(
            self.ticks, rows, self.params, self.state, self.risk_vector, self.log, marks
        )
        self.ticks += len(rows)
        return self.result()

    def result(self) -> TickResult:
        """Everything so far (the risk engine's counts are in its own vector already)."""
        st = self.state
        return TickResult(*_rows(self.log[: int(st[N_ROWS])]), self.marks[: self.ticks].copy())

    def _grow(self, ticks: int) -> None:
        """Room for `ticks` more marks; twice the log once it is within 3 rows of full."""
        if self.ticks + ticks > len(self.marks):
            self.marks = np.concatenate([self.marks, np.empty(max(ticks, len(self.marks)))])
        if self.state[N_ROWS] + 3 > len(self.log):
            self.log = np.concatenate([self.log, np.zeros_like(self.log)])


def _rows(rows: Vec) -> tuple[list[Fill], list[SkippedOrder]]:
    """The log's rows as the fills and skipped orders every engine reports."""
    fills, skipped = [], []
    for i, buy, px, qty, x, code, kind in rows.tolist():
        side, tag = _SIDES[int(buy)], s.TAGS[int(code)]
        if kind == SKIP:
            skipped.append(SkippedOrder(int(i), side, px, qty, REASONS[int(x)], tag))
        else:
            fills.append(Fill(int(i), side, px, qty, x, tag, kind == MAKER))
    return fills, skipped


def run_ticks(
    ticks: pd.DataFrame,
    strategy: s.Scalper,
    fees: Fees,
    filters: MarketFilters,
    cash: float,
    risk: RiskEngine | None = None,
) -> TickResult:
    """The batch face: the same fills as feeding the ticks to `TickEngine.on_tick` one by one."""
    return TickEngine(strategy, fees, filters, cash, risk).run_ticks(ticks)
