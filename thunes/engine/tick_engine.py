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
from thunes.execution.filters import FloatArray
from thunes.risk.engine import RiskEngine
from thunes.strategy import scalper as s

# The account and the orders at work, one float64 vector (epoch ms fit a float64 exactly).
(
    CASH,
    POS,
    COST,
    PHASE,
    LIMIT,
    AMOUNT,
    PLACED,
    ACTIVE,
    ENTRY_MS,
    TP,
    STOP,
    EXIT_FROM,
    PROTECT,
    DAY,
    DAY_PNL,
    HALTED,
    COOL_UNTIL,
    N_FILLS,
    N_SKIPS,
    LAST_SKIP,
) = range(20)
FLAT, RESTING, MARKET, LONG = range(4)  # PHASE: nothing, a maker entry, a market buy, a position
# After the rules' slots in the parameter vector: the venue's, then the risk engine's.
MAKER_FEE, TAKER_FEE, TICK, STEP, MIN_QTY, MIN_NOTIONAL = range(s.N_RULES, s.N_RULES + 6)
RISK_ON, MAX_LOSS, MAX_DAILY, MAX_OPEN, COOLDOWN_MS, RISK_FEE = range(
    MIN_NOTIONAL + 1, s.N_RULES + 12
)
REASONS = ("", "below minimum", "insufficient cash", "dust", "kill_switch", "cooldown")
FIRED = ("kill_switch", "cooldown", "max_loss_per_trade", "kill_switch_trips")  # RiskEngine.fired
F_KILL, F_COOL, F_LOSS, F_TRIPS = range(20, 24)  # their counts, in the state vector
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
def _refused(
    price: float, amount: float, buy: bool, cash_fee: float, st: FloatArray, p: FloatArray
) -> int:
    """0, or the REASONS code the venue rejects it for (cash_fee < 0: no cash check)."""
    minimum = max(p[MIN_QTY], p[MIN_NOTIONAL] / price)
    if amount <= 0 or (amount < minimum and minimum - amount > _REL_TOL * minimum):
        return 1 if buy else 3
    return 2 if cash_fee >= 0 and amount * price * (1 + cash_fee) > st[CASH] else 0


@njit(cache=True)
def _skip(
    i: int,
    buy: bool,
    price: float,
    amount: float,
    reason: int,
    tag: int,
    st: FloatArray,
    skips: FloatArray,
) -> None:
    """Record a refused order, unless the last refusal gave the same reason."""
    if reason != st[LAST_SKIP]:
        k = int(st[N_SKIPS])
        skips[k, 0], skips[k, 1], skips[k, 2], skips[k, 3] = i, buy, price, amount
        skips[k, 4], skips[k, 5], st[N_SKIPS], st[LAST_SKIP] = reason, tag, k + 1, reason


@njit(cache=True)
def _fill(
    i: int,
    t: float,
    buy: bool,
    price: float,
    maker: bool,
    tag: int,
    amount: float,
    st: FloatArray,
    p: FloatArray,
    fills: FloatArray,
) -> None:
    """Book one fill in cash, position and cost basis; a sell is the whole position."""
    fee = amount * price * (p[MAKER_FEE] if maker else p[TAKER_FEE])
    if buy:
        st[CASH] -= amount * price + fee
        st[POS], st[COST] = round(st[POS] + amount, 12), st[COST] + amount * price + fee
    else:
        st[CASH] += amount * price - fee
        pnl = amount * price - fee - st[COST]
        st[POS], st[COST], st[PHASE], st[PROTECT] = 0.0, 0.0, FLAT, -1.0
        if p[RISK_ON]:
            _realised(pnl, t, tag, st, p)
    k = int(st[N_FILLS])
    fills[k, 0], fills[k, 1], fills[k, 2], fills[k, 3] = i, buy, price, amount
    fills[k, 4], fills[k, 5], fills[k, 6] = fee, tag, maker
    st[N_FILLS], st[LAST_SKIP] = k + 1, 0


@njit(cache=True)
def _realised(pnl: float, t: float, tag: int, st: FloatArray, p: FloatArray) -> None:
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
def _risk_refuses(t: float, st: FloatArray, p: FloatArray) -> int:
    """RiskEngine.allows for a buy while flat (max_open_positions >= 1 cannot bind)."""
    if st[HALTED] == np.floor(t / _DAY_MS):
        st[F_KILL] += 1
        return 4
    if t < st[COOL_UNTIL]:
        st[F_COOL] += 1
        return 5
    return 0


@njit(cache=True)
def _opened(
    i: int,
    t: float,
    price: float,
    maker: bool,
    amount: float,
    st: FloatArray,
    p: FloatArray,
    fills: FloatArray,
) -> None:
    """An entry filled: exits from the next tick; the risk engine's stop from this one."""
    _fill(i, t, True, price, maker, s.ENTRY, amount, st, p, fills)
    take_profit, stop = s.exit_levels(price, p[TICK], p)
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
    p: FloatArray,
    st: FloatArray,
    fills: FloatArray,
    skips: FloatArray,
) -> float:
    """Tick number i at epoch ms t through broker and rules; returns the equity at the bid."""
    if st[PHASE] == MARKET:
        wanted = min(p[s.QUOTE], st[CASH] / (1 + p[TAKER_FEE])) / ask
        amount = _to_grid(wanted, p[STEP], False)
        refused = _refused(ask, amount, True, -1.0, st, p)
        if refused:
            st[PHASE] = FLAT
            _skip(i, True, ask, amount, refused, s.ENTRY, st, skips)
        else:
            _opened(i, t, ask, False, amount, st, p, fills)
    elif st[PHASE] == RESTING:
        if s.is_stale(t, st[PLACED], p):
            st[PHASE] = FLAT
        elif i >= st[ACTIVE] and ask < st[LIMIT]:
            _opened(i, t, st[LIMIT], True, st[AMOUNT], st, p, fills)
    if st[PHASE] == LONG:
        why = s.NONE
        if i >= st[EXIT_FROM]:
            why = s.exit_reason(t, bid, st[ENTRY_MS], st[TP], st[STOP], p)
        if bid <= st[PROTECT] and (why != s.STOP or st[PROTECT] > st[STOP]):
            why = s.MAX_LOSS  # the higher stop is met first; ties go to the rules' stop
        if why != s.NONE:
            price = st[TP] if why == s.TAKE_PROFIT else bid
            refused = _refused(price, st[POS], False, -1.0, st, p)
            if refused:
                _skip(i, False, price, st[POS], refused, why, st, skips)
            else:
                _fill(i, t, False, price, why == s.TAKE_PROFIT, why, st[POS], st, p, fills)
    if st[PHASE] == FLAT and s.wants_entry(bid_size, ask_size, p):
        refused = _risk_refuses(t, st, p) if p[RISK_ON] else 0
        price = _to_grid(bid, p[TICK], False)
        amount = _to_grid(p[s.QUOTE] / price, p[STEP], False) if p[s.MAKER] else np.nan
        if not refused and p[s.MAKER]:
            refused = _refused(price, amount, True, p[MAKER_FEE], st, p)
        if refused:
            _skip(i, True, price, amount, refused, s.ENTRY, st, skips)
        elif p[s.MAKER]:
            st[PHASE], st[LIMIT], st[AMOUNT] = RESTING, price, amount
            st[PLACED], st[ACTIVE], st[LAST_SKIP] = t, i + 1, 0
        else:
            st[PHASE] = MARKET  # a refusal comes at the fill: LAST_SKIP stays
    return st[CASH] + st[POS] * bid


@njit(cache=True)
def _loop(
    j: int,
    first: int,
    cols: FloatArray,
    p: FloatArray,
    st: FloatArray,
    fills: FloatArray,
    skips: FloatArray,
    equity: FloatArray,
) -> int:
    """Ticks (rows of cols: time, bid, bid_size, ask, ask_size) from j on, numbered from
    first + j, until the end or until a buffer might overflow; returns where it stopped."""
    while j < len(cols) and st[N_FILLS] + 2 <= len(fills) and st[N_SKIPS] + 2 <= len(skips):
        c = cols[j]
        equity[j] = step(first + j, c[0], c[1], c[2], c[3], c[4], p, st, fills, skips)
        j += 1
    return j


@dataclass(frozen=True)
class TickResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: FloatArray  # one mark per tick, at the bid


class TickEngine:
    """Batch (`run_ticks`) and per-event (`on_tick`) faces over one state; mixable."""

    def __init__(
        self,
        strategy: s.Scalper,
        fees: Fees,
        filters: MarketFilters,
        cash: float,
        risk: RiskEngine | None = None,
    ) -> None:
        self.strategy, self.risk = strategy, risk
        venue = [
            fees.maker,
            fees.taker,
            filters.tick_size,
            filters.step_size,
            filters.min_qty,
            filters.min_notional,
            risk is not None,
        ]
        limits = [0.0] * 5
        if risk is not None:
            lim = risk.limits
            limits = [
                lim.max_loss_per_trade,
                lim.max_daily_loss,
                lim.max_open_positions,
                int(lim.cooldown_minutes * 60_000),
                risk.taker_fee,
            ]
        self.params = np.concatenate([strategy.rules(), np.array(venue + limits, np.float64)])
        self.state = np.zeros(24)
        self.state[[CASH, PROTECT, DAY, HALTED, COOL_UNTIL]] = [cash, -1, -1, -1, -1]
        self.fills_buf, self.skips_buf = np.zeros((64, 7)), np.zeros((64, 6))
        self._equity: list[FloatArray] = []  # batch runs, and on_tick marks gathered
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
        before = int(self.state[N_FILLS])
        if before + 2 > len(self.fills_buf) or self.state[N_SKIPS] + 2 > len(self.skips_buf):
            self._grow()
        mark = step(
            self.ticks,
            float(tick.timestamp_ms),
            tick.bid,
            tick.bid_size,
            tick.ask,
            tick.ask_size,
            self.params,
            self.state,
            self.fills_buf,
            self.skips_buf,
        )
        self._marks.append(mark)
        self.ticks += 1
        after = int(self.state[N_FILLS])
        return _fills(self.fills_buf[before:after]) if after > before else []

    def run_ticks(self, ticks: pd.DataFrame) -> TickResult:
        """A frame of ticks (UTC index; bid, bid_size, ask, ask_size), in compiled code."""
        cols = np.empty((len(ticks), 5))
        cols[:, 0] = cast(pd.DatetimeIndex, ticks.index).as_unit("ms").asi8
        cols[:, 1:] = ticks[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
        equity, j = np.empty(len(ticks)), 0
        while (
            j := _loop(
                j, self.ticks, cols, self.params, self.state, self.fills_buf, self.skips_buf, equity
            )
        ) < len(ticks):
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
            SkippedOrder(int(i), _SIDES[int(b)], pr, a, REASONS[int(r)], s.TAGS[int(t)])
            for i, b, pr, a, r, t in self.skips_buf[: int(st[N_SKIPS])].tolist()
        ]
        self._gather()
        equity = np.concatenate(self._equity) if self._equity else np.empty(0)
        return TickResult(_fills(self.fills_buf[: int(st[N_FILLS])]), skipped, equity)

    def _gather(self) -> None:
        if self._marks:
            self._equity, self._marks = [*self._equity, np.array(self._marks)], []

    def _grow(self) -> None:
        self.fills_buf = np.concatenate([self.fills_buf, np.zeros_like(self.fills_buf)])
        self.skips_buf = np.concatenate([self.skips_buf, np.zeros_like(self.skips_buf)])


def _fills(rows: FloatArray) -> list[Fill]:
    return [
        Fill(int(i), _SIDES[int(b)], pr, a, fee, s.TAGS[int(t)], bool(m))
        for i, b, pr, a, fee, t, m in rows.tolist()
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
