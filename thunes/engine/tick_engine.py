"""The tick engine: the scalper's rules and a top-of-book broker, over best bid/ask ticks.

Per tick: (1) orders from earlier ticks meet this tick's quotes: a market buy fills at the ask;
a stale maker entry is withdrawn, else the buy limit fills at its price when the ask is strictly
below it; (2) exits, all of the position: the risk engine's protective stop guards from the
entry tick, the rules' stop, time limit (both at the bid, taker) and take-profit (a sell limit
filled when the bid is strictly above it, maker) from the next one; (3) when flat, the rules may
enter: a limit rests from the next tick, and a market buy fills at the next tick's ask (a bot
answers a quote it has seen). Fees on notional; amounts round down to the step; an order under
the minimums, beyond the free cash or refused by risk is skipped and recorded, once per run of
identical refusals (a signal holds for many ticks). Equity is marked at the bid, conservative.

`step` is one numba function: `run_ticks` loops it compiled, `on_tick` calls it once per tick,
so the batch and per-event faces run one definition and give the same fills.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from numba import njit

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.domain.ticks import BookTick
from thunes.execution.filters import FloatArray as Vec
from thunes.risk.engine import RiskEngine
from thunes.strategy import scalper as s

# The account and the orders at work, one float64 vector (epoch ms fit a float64 exactly).
CASH, POS, COST, PHASE, LIMIT, QTY, PLACED, ACTIVE, ENTRY_MS, TP, STOP, EXIT_FROM = range(12)
PROTECT, DAY, DAY_PNL, HALTED, COOL_UNTIL, N_FILLS, N_SKIPS, LAST_SKIP = range(12, 20)
F_KILL, F_COOL, F_LOSS, F_TRIPS = range(20, 24)  # counts of RiskEngine.fired, as FIRED
FLAT, RESTING, MARKET, LONG = range(4)  # PHASE: nothing, a maker entry, a market buy, a position
# The parameter vector: the rules' slots (scalper.py), the venue's, the risk engine's.
MAKER_FEE, TAKER_FEE, TICK, STEP, MIN_QTY, MIN_NOTIONAL = range(s.N_RULES, s.N_RULES + 6)
RISK_ON, MAX_LOSS, MAX_DAILY, COOLDOWN_MS, RISK_FEE = range(s.N_RULES + 6, s.N_RULES + 11)
REASONS = ("", "below minimum", "insufficient cash", "dust", "kill_switch", "cooldown")
FIRED = ("kill_switch", "cooldown", "max_loss_per_trade", "kill_switch_trips")
_DAY_MS, _EPS, _REL_TOL = 86_400_000.0, 1e-9, 1e-9
_SIDES = (Side.SELL, Side.BUY)  # by the 0/1 in the fill and skip rows


@njit(cache=True)
def _to_grid(value: float, step: float, up: bool) -> float:
    """thunes.execution.filters.floor_to / ceil_to, for one number inside numba."""
    if step <= 0:
        return value
    decimals = max(0, int(-np.floor(np.log10(step))) + 1)
    units = np.ceil(value / step - _EPS) if up else np.floor(value / step + _EPS)
    return float(np.round(units * step, decimals))


@njit(cache=True)
def _refused(px: float, qty: float, buy: bool, cash_fee: float, st: Vec, p: Vec) -> int:
    """0, or the REASONS code the venue rejects it for (cash_fee < 0: no cash check)."""
    minimum = max(p[MIN_QTY], p[MIN_NOTIONAL] / px)
    if qty <= 0 or (qty < minimum and minimum - qty > _REL_TOL * minimum):
        return 1 if buy else 3
    return 2 if cash_fee >= 0 and qty * px * (1 + cash_fee) > st[CASH] else 0


@njit(cache=True)
def _skip(i: int, buy: bool, px: float, qty: float, why: int, tag: int, st: Vec, sk: Vec) -> None:
    """Record a refused order, unless the last refusal gave the same reason."""
    if why != st[LAST_SKIP]:
        k = int(st[N_SKIPS])
        sk[k, 0], sk[k, 1], sk[k, 2], sk[k, 3], sk[k, 4], sk[k, 5] = i, buy, px, qty, why, tag
        st[N_SKIPS], st[LAST_SKIP] = k + 1, why


@njit(cache=True)
def _fill(
    i: int,
    t: float,
    buy: bool,
    px: float,
    qty: float,
    maker: bool,
    tag: int,
    st: Vec,
    p: Vec,
    fl: Vec,
) -> None:
    """Book one fill in cash, position and cost basis; a sell is the whole position."""
    fee = qty * px * (p[MAKER_FEE] if maker else p[TAKER_FEE])
    if buy:
        st[CASH] -= qty * px + fee
        st[POS], st[COST] = round(st[POS] + qty, 12), st[COST] + qty * px + fee
    else:
        st[CASH] += qty * px - fee
        pnl = qty * px - fee - st[COST]
        st[POS], st[COST], st[PHASE], st[PROTECT] = 0.0, 0.0, FLAT, -1.0
        if p[RISK_ON]:
            _realised(pnl, t, tag, st, p)
    k = int(st[N_FILLS])
    fl[k, 0], fl[k, 1], fl[k, 2], fl[k, 3], fl[k, 4], fl[k, 5] = i, buy, px, qty, fee, tag
    fl[k, 6], st[N_FILLS], st[LAST_SKIP] = maker, k + 1, 0


@njit(cache=True)
def _realised(pnl: float, t: float, tag: int, st: Vec, p: Vec) -> None:
    """RiskEngine.on_realised. Its kill-switch finds nothing to flatten or cancel: an exit
    sells the whole position and no entry works while one is held."""
    day = np.floor(t / _DAY_MS)
    if day != st[DAY]:
        st[DAY], st[DAY_PNL] = day, 0.0
    st[DAY_PNL] += pnl
    st[F_LOSS] += tag == s.MAX_LOSS
    if pnl < 0 and p[COOLDOWN_MS] > 0:
        st[COOL_UNTIL] = t + p[COOLDOWN_MS]
    if -st[DAY_PNL] >= p[MAX_DAILY] and st[HALTED] != day:
        st[HALTED], st[F_TRIPS] = day, st[F_TRIPS] + 1


@njit(cache=True)
def _risk_refuses(t: float, st: Vec) -> int:
    """RiskEngine.allows for a buy while flat (max_open_positions >= 1 cannot bind)."""
    if st[HALTED] == np.floor(t / _DAY_MS):
        st[F_KILL] += 1
        return 4
    if t < st[COOL_UNTIL]:
        st[F_COOL] += 1
        return 5
    return 0


@njit(cache=True)
def _opened(i: int, t: float, px: float, qty: float, maker: bool, st: Vec, p: Vec, fl: Vec) -> None:
    """An entry filled: exits from the next tick; the risk engine's stop from this one."""
    _fill(i, t, True, px, qty, maker, s.ENTRY, st, p, fl)
    take_profit, stop = s.exit_levels(px, p[TICK], p)
    st[PHASE], st[ENTRY_MS], st[EXIT_FROM] = LONG, t, i + 1
    st[TP], st[STOP] = _to_grid(take_profit, p[TICK], True), _to_grid(stop, p[TICK], True)
    if p[RISK_ON] and p[MAX_LOSS] < np.inf:  # RiskEngine.stop_price, rounded up: loss <= limit
        protect = (st[COST] - p[MAX_LOSS]) / (st[POS] * (1 - p[RISK_FEE]))
        st[PROTECT] = _to_grid(protect, p[TICK], True) if protect > 0 else -1.0


@njit(cache=True)
def step(
    i: int,
    t: float,
    bid: float,
    bid_size: float,
    ask: float,
    ask_size: float,
    p: Vec,
    st: Vec,
    fl: Vec,
    sk: Vec,
) -> float:
    """Tick number i at epoch ms t through broker and rules; returns the equity at the bid."""
    if st[PHASE] == MARKET:
        qty = _to_grid(min(p[s.QUOTE], st[CASH] / (1 + p[TAKER_FEE])) / ask, p[STEP], False)
        refused = _refused(ask, qty, True, -1.0, st, p)
        if refused:
            st[PHASE] = FLAT
            _skip(i, True, ask, qty, refused, s.ENTRY, st, sk)
        else:
            _opened(i, t, ask, qty, False, st, p, fl)
    elif st[PHASE] == RESTING:
        if s.is_stale(t, st[PLACED], p):
            st[PHASE] = FLAT
        elif i >= st[ACTIVE] and ask < st[LIMIT]:
            _opened(i, t, st[LIMIT], st[QTY], True, st, p, fl)
    if st[PHASE] == LONG:
        why = s.NONE
        if i >= st[EXIT_FROM]:
            why = s.exit_reason(t, bid, st[ENTRY_MS], st[TP], st[STOP], p)
        if bid <= st[PROTECT] and (why != s.STOP or st[PROTECT] > st[STOP]):
            why = s.MAX_LOSS  # the higher stop is met first; ties go to the rules' stop
        if why != s.NONE:
            px = st[TP] if why == s.TAKE_PROFIT else bid
            refused = _refused(px, st[POS], False, -1.0, st, p)
            if refused:
                _skip(i, False, px, st[POS], refused, why, st, sk)
            else:
                _fill(i, t, False, px, st[POS], why == s.TAKE_PROFIT, why, st, p, fl)
    if st[PHASE] == FLAT and s.wants_entry(bid_size, ask_size, p):
        px = _to_grid(bid, p[TICK], False)
        qty = _to_grid(p[s.QUOTE] / px, p[STEP], False) if p[s.MAKER] else np.nan
        refused = _risk_refuses(t, st) if p[RISK_ON] else 0
        if not refused and p[s.MAKER]:
            refused = _refused(px, qty, True, p[MAKER_FEE], st, p)
        if refused:
            _skip(i, True, px, qty, refused, s.ENTRY, st, sk)
        elif p[s.MAKER]:
            st[PHASE], st[LIMIT], st[QTY], st[PLACED], st[ACTIVE] = RESTING, px, qty, t, i + 1
            st[LAST_SKIP] = 0
        else:
            st[PHASE] = MARKET  # a refusal comes at the fill: LAST_SKIP stays
    return st[CASH] + st[POS] * bid


@njit(cache=True)
def _loop(j: int, first: int, rows: Vec, p: Vec, st: Vec, fl: Vec, sk: Vec, eq: Vec) -> int:
    """Ticks (rows: time, bid, bid_size, ask, ask_size) from j on, numbered from first + j,
    until the end or until a buffer might overflow; returns where it stopped."""
    while j < len(rows) and st[N_FILLS] + 2 <= len(fl) and st[N_SKIPS] + 2 <= len(sk):
        r = rows[j]
        eq[j] = step(first + j, r[0], r[1], r[2], r[3], r[4], p, st, fl, sk)
        j += 1
    return j


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
        self.strategy, self.risk = strategy, risk
        f = filters
        venue = [fees.maker, fees.taker, f.tick_size, f.step_size, f.min_qty, f.min_notional]
        if risk is not None:
            lim = risk.limits
            minutes = int(lim.cooldown_minutes * 60_000)
            venue += [1, lim.max_loss_per_trade, lim.max_daily_loss, minutes, risk.taker_fee]
        self.params = np.concatenate([strategy.rules(), np.array(venue, np.float64)])
        self.params.resize(RISK_FEE + 1, refcheck=False)  # zeros: no risk engine
        self.state = np.zeros(F_TRIPS + 1)
        self.state[[CASH, PROTECT, DAY, HALTED, COOL_UNTIL]] = [cash, -1, -1, -1, -1]
        self.fills_buf, self.skips_buf = np.zeros((64, 7)), np.zeros((64, 6))
        self._equity: list[Vec] = []  # batch runs, and on_tick marks gathered
        self._marks: list[float] = []  # on_tick marks since the last gathering
        self.ticks = 0  # ticks seen: the next one's number

    @property
    def cash(self) -> float:
        return float(self.state[CASH])

    @property
    def position(self) -> float:
        return float(self.state[POS])

    def on_tick(self, tick: BookTick) -> list[Fill]:
        """One tick as it arrives; returns the fills it caused."""
        st, before = self.state, int(self.state[N_FILLS])
        if before + 2 > len(self.fills_buf) or st[N_SKIPS] + 2 > len(self.skips_buf):
            self._grow()
        t, b, bs, a, az = tick.timestamp_ms, tick.bid, tick.bid_size, tick.ask, tick.ask_size
        mark = step(self.ticks, float(t), b, bs, a, az, self.params, st, *self._bufs())
        self._marks.append(mark)
        self.ticks += 1
        after = int(st[N_FILLS])
        return _fills(self.fills_buf[before:after]) if after > before else []

    def run_ticks(self, ticks: pd.DataFrame) -> TickResult:
        """A frame of ticks (UTC index; bid, bid_size, ask, ask_size), in compiled code."""
        rows = np.empty((len(ticks), 5))
        rows[:, 0] = cast(pd.DatetimeIndex, ticks.index).as_unit("ms").asi8
        rows[:, 1:] = ticks[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
        equity, j = np.empty(len(ticks)), 0
        while (
            j := _loop(j, self.ticks, rows, self.params, self.state, *self._bufs(), equity)
        ) < len(rows):
            self._grow()
        self._gather()
        self._equity.append(equity)
        self.ticks += len(ticks)
        return self.result()

    def result(self) -> TickResult:
        """Everything so far; also writes the risk state back into the RiskEngine."""
        st = self.state
        if self.risk is not None:
            for n, rule in enumerate(FIRED):
                if st[F_KILL + n]:
                    self.risk.fired[rule] = int(st[F_KILL + n])
            self.risk.day, self.risk.day_pnl = int(st[DAY]), float(st[DAY_PNL])
            self.risk.halted_day, self.risk.cooldown_until_ms = int(st[HALTED]), int(st[COOL_UNTIL])
        skipped = [
            SkippedOrder(int(i), _SIDES[int(b)], px, q, REASONS[int(r)], s.TAGS[int(t)])
            for i, b, px, q, r, t in self.skips_buf[: int(st[N_SKIPS])].tolist()
        ]
        self._gather()
        equity = np.concatenate(self._equity) if self._equity else np.empty(0)
        return TickResult(_fills(self.fills_buf[: int(st[N_FILLS])]), skipped, equity)

    def _bufs(self) -> tuple[Vec, Vec]:
        return self.fills_buf, self.skips_buf

    def _gather(self) -> None:
        if self._marks:
            self._equity, self._marks = [*self._equity, np.array(self._marks)], []

    def _grow(self) -> None:
        self.fills_buf = np.concatenate([self.fills_buf, np.zeros_like(self.fills_buf)])
        self.skips_buf = np.concatenate([self.skips_buf, np.zeros_like(self.skips_buf)])


def _fills(rows: Vec) -> list[Fill]:
    return [
        Fill(int(i), _SIDES[int(b)], px, q, fee, s.TAGS[int(t)], bool(m))
        for i, b, px, q, fee, t, m in rows.tolist()
    ]


def run_ticks(
    ticks: pd.DataFrame,
    strategy: s.Scalper,
    fees: Fees,
    filters: MarketFilters,
    cash: float,
    risk: RiskEngine | None = None,
) -> TickResult:
    """The scalper over a frame of ticks at once: the same fills as `on_tick` one by one."""
    return TickEngine(strategy, fees, filters, cash, risk).run_ticks(ticks)
