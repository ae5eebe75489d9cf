"""The tick engine: the scalper's rules and a top-of-book broker, over best bid/ask ticks.

Per tick, in this order: (1) orders from earlier ticks fill against this tick's quotes: a
market buy at the ask, a maker buy limit only when the ask is strictly below it (at its own
price), a stale maker entry is withdrawn first; (2) exits: the risk engine's protective stop
(from the entry tick on), then from the next tick the stop and time limit (sold at the bid,
taker) and the take-profit (a sell limit, filled when the bid is strictly above it, maker);
(3) when flat, the rules may enter: a maker limit rests from the next tick, a market buy fills
at the next tick's ask (a bot answers a quote it has seen: one tick of latency). Fees are paid
on notional; amounts round down to the step; an order under min notional, beyond the free cash
or refused by risk is skipped and recorded, once per stretch of identical refusals (a signal
holds for many ticks). Equity is marked at the bid.

The step is one numba function: `run_ticks` loops it in compiled code, `on_tick` calls it once
per tick, so the batch and per-event faces cannot disagree.
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

# state slots, one float64 vector (epoch ms fit a float64 exactly)
(CASH, POS, COST, PHASE, LIMIT, AMOUNT, PLACED, ACTIVE, ENTRY_MS, TP, STOP, EXIT_FROM, PROTECT,
 DAY, DAY_PNL, HALTED, COOL_UNTIL, N_FILLS, N_SKIPS, LAST_SKIP,
 F_KILL, F_COOL, F_OPEN, F_LOSS, F_TRIPS) = range(25)  # fmt: skip
FLAT, RESTING, MARKET, LONG = range(4)  # phases
# venue slots
MAKER_FEE, TAKER_FEE, TICK, STEP, MIN_QTY, MIN_NOTIONAL = range(6)
RISK_ON, MAX_LOSS, MAX_DAILY, MAX_OPEN, COOLDOWN_MS, KILL, RISK_FEE = range(6, 13)
REASONS = ("", "below minimum", "insufficient cash", "dust", "kill_switch", "cooldown",
           "max_open_positions")  # fmt: skip
FIRED = {"kill_switch": F_KILL, "cooldown": F_COOL, "max_open_positions": F_OPEN,
         "max_loss_per_trade": F_LOSS, "kill_switch_trips": F_TRIPS}  # fmt: skip
_DAY_MS, _EPS, _REL_TOL = 86_400_000.0, 1e-9, 1e-9


@njit(cache=True)
def _to_grid(value: float, step: float, up: bool) -> float:
    """thunes.execution.filters.floor_to / ceil_to for one number."""
    if step <= 0:
        return value
    decimals = max(0, int(-np.floor(np.log10(step))) + 1)
    units = np.ceil(value / step - _EPS) if up else np.floor(value / step + _EPS)
    return float(np.round(units * step, decimals))


@njit(cache=True)
def _refused(price, amount, buy, cash_fee, state, venue) -> int:
    """0, or why the venue rejects it (cash_fee < 0: no cash check, as for market buys)."""
    minimum = max(venue[MIN_QTY], venue[MIN_NOTIONAL] / price)
    if amount <= 0 or (amount < minimum and minimum - amount > _REL_TOL * minimum):
        return 1 if buy else 3
    if cash_fee >= 0 and amount * price * (1 + cash_fee) > state[CASH]:
        return 2
    return 0


@njit(cache=True)
def _skip(i, buy, price, amount, reason, tag, state, skips) -> None:
    if reason == state[LAST_SKIP]:
        return
    state[LAST_SKIP] = reason
    k = int(state[N_SKIPS])
    skips[k, 0], skips[k, 1], skips[k, 2], skips[k, 3] = i, buy, price, amount
    skips[k, 4], skips[k, 5] = reason, tag
    state[N_SKIPS] = k + 1


@njit(cache=True)
def _fill(i, t, buy, price, amount, maker, tag, state, venue, fills) -> None:
    """Book one fill: cash, position, cost basis, and on a sell the risk engine's day."""
    fee = amount * price * (venue[MAKER_FEE] if maker else venue[TAKER_FEE])
    if buy:
        state[CASH] -= amount * price + fee
        state[POS] = round(state[POS] + amount, 12)
        state[COST] += amount * price + fee
    else:  # always the whole position
        state[CASH] += amount * price - fee
        pnl = amount * price - fee - state[COST]
        state[POS], state[COST], state[PHASE], state[PROTECT] = 0.0, 0.0, FLAT, -1.0
        if venue[RISK_ON]:
            _realised(pnl, t, tag, state, venue)
    k = int(state[N_FILLS])
    fills[k, 0], fills[k, 1], fills[k, 2], fills[k, 3] = i, buy, price, amount
    fills[k, 4], fills[k, 5], fills[k, 6] = fee, tag, maker
    state[N_FILLS], state[LAST_SKIP] = k + 1, 0


@njit(cache=True)
def _realised(pnl, t, tag, state, venue) -> None:
    """RiskEngine.on_realised: daily loss, kill-switch, cooldown (the position is flat)."""
    day = np.floor(t / _DAY_MS)
    if day != state[DAY]:
        state[DAY], state[DAY_PNL] = day, 0.0
    state[DAY_PNL] += pnl
    if tag == s.MAX_LOSS:
        state[F_LOSS] += 1
    if pnl < 0 and venue[COOLDOWN_MS] > 0:
        state[COOL_UNTIL] = t + venue[COOLDOWN_MS]
    if -state[DAY_PNL] >= venue[MAX_DAILY] and state[HALTED] != day:
        state[HALTED] = day
        state[F_TRIPS] += 1


@njit(cache=True)
def _risk_refuses(t, state, venue) -> int:
    """RiskEngine.allows for a buy while flat: 0, or the reason code."""
    if state[HALTED] == np.floor(t / _DAY_MS):
        state[F_KILL] += 1
        return 4
    if t < state[COOL_UNTIL]:
        state[F_COOL] += 1
        return 5
    if venue[MAX_OPEN] <= 0:
        state[F_OPEN] += 1
        return 6
    return 0


@njit(cache=True)
def _opened(i, t, price, amount, maker, rules, state, venue, fills) -> None:
    """An entry filled: exits rest from the next tick; risk's stop guards from this one."""
    _fill(i, t, True, price, amount, maker, s.ENTRY, state, venue, fills)
    take_profit, stop = s.exit_levels(price, venue[TICK], rules)
    state[PHASE], state[ENTRY_MS], state[EXIT_FROM] = LONG, t, i + 1
    state[TP], state[STOP] = (
        _to_grid(take_profit, venue[TICK], True),
        _to_grid(stop, venue[TICK], True),
    )
    state[PROTECT] = -1.0
    if venue[RISK_ON] and venue[MAX_LOSS] < np.inf:
        protect = (state[COST] - venue[MAX_LOSS]) / (state[POS] * (1 - venue[RISK_FEE]))
        if protect > 0:
            state[PROTECT] = _to_grid(protect, venue[TICK], True)  # up: the loss stays <=


@njit(cache=True)
def step(i, t, bid, bid_size, ask, ask_size, rules, venue, state, fills, skips) -> float:
    """One tick through broker and rules (see the module docstring); returns the equity."""
    if state[PHASE] == MARKET:
        price = ask
        wanted = min(rules[s.QUOTE] / price, state[CASH] / (1 + venue[TAKER_FEE]) / price)
        amount = _to_grid(wanted, venue[STEP], False)
        reason = _refused(price, amount, True, -1.0, state, venue)
        if reason:
            state[PHASE] = FLAT
            _skip(i, True, price, amount, reason, s.ENTRY, state, skips)
        else:
            _opened(i, t, price, amount, False, rules, state, venue, fills)
    elif state[PHASE] == RESTING:
        if s.is_stale(t, state[PLACED], rules):
            state[PHASE] = FLAT
        elif i >= state[ACTIVE] and ask < state[LIMIT]:
            _opened(i, t, state[LIMIT], state[AMOUNT], True, rules, state, venue, fills)
    if state[PHASE] == LONG:
        reason = s.NONE
        if i >= state[EXIT_FROM]:
            reason = s.exit_reason(t, bid, state[ENTRY_MS], state[TP], state[STOP], rules)
        if bid <= state[PROTECT] and (reason != s.STOP or state[PROTECT] > state[STOP]):
            reason = s.MAX_LOSS  # met first on the way down; ties go to the strategy's stop
        if reason != s.NONE:
            maker = reason == s.TAKE_PROFIT
            price = state[TP] if maker else bid
            refused = _refused(price, state[POS], False, -1.0, state, venue)
            if refused:
                _skip(i, False, price, state[POS], refused, reason, state, skips)
            else:
                _fill(i, t, False, price, state[POS], maker, reason, state, venue, fills)
    if state[PHASE] == FLAT and s.wants_entry(bid_size, ask_size, rules[s.THRESHOLD]):
        refused = _risk_refuses(t, state, venue) if venue[RISK_ON] else 0
        if refused:
            _skip(i, True, bid, np.nan, refused, s.ENTRY, state, skips)
        elif rules[s.MAKER]:
            price = _to_grid(bid, venue[TICK], False)
            amount = _to_grid(rules[s.QUOTE] / price, venue[STEP], False)
            refused = _refused(price, amount, True, venue[MAKER_FEE], state, venue)
            if refused:
                _skip(i, True, price, amount, refused, s.ENTRY, state, skips)
            else:
                state[PHASE], state[LIMIT], state[AMOUNT] = RESTING, price, amount
                state[PLACED], state[ACTIVE], state[LAST_SKIP] = t, i + 1, 0
        else:
            state[PHASE] = MARKET  # its refusals come at the fill: LAST_SKIP stays
    return state[CASH] + state[POS] * bid


@njit(cache=True)
def _loop(start, first, times, bids, bid_sizes, asks, ask_sizes, rules, venue, state, fills,
          skips, equity):  # fmt: skip
    """Ticks from `start` on, numbered from `first`, until the end or a full buffer."""
    for j in range(start, len(times)):
        if state[N_FILLS] + 2 > len(fills) or state[N_SKIPS] + 2 > len(skips):
            return j
        equity[j] = step(first + j, times[j], bids[j], bid_sizes[j], asks[j], ask_sizes[j],
                         rules, venue, state, fills, skips)  # fmt: skip
    return len(times)


@dataclass(frozen=True)
class TickResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: FloatArray  # one mark per tick, at the bid


class TickEngine:
    """Batch (`run_ticks`) and per-event (`on_tick`) faces over one state vector."""

    def __init__(
        self,
        strategy: s.Scalper,
        fees: Fees,
        filters: MarketFilters,
        cash: float,
        risk: RiskEngine | None = None,
    ) -> None:
        self.strategy, self.risk, self.rules = strategy, risk, strategy.rules()
        self.venue = np.zeros(13)
        self.venue[:RISK_ON] = [fees.maker, fees.taker, filters.tick_size, filters.step_size,
                                filters.min_qty, filters.min_notional]  # fmt: skip
        if risk is not None:
            lim = risk.limits
            self.venue[RISK_ON:] = [1, lim.max_loss_per_trade, lim.max_daily_loss,
                                    lim.max_open_positions, int(lim.cooldown_minutes * 60_000),
                                    lim.kill_switch, risk.taker_fee]  # fmt: skip
        self.state = np.zeros(25)
        self.state[[CASH, PHASE, PROTECT, DAY, HALTED, COOL_UNTIL]] = [cash, FLAT, -1, -1, -1, -1]
        self.fills_buf, self.skips_buf = np.zeros((64, 7)), np.zeros((64, 6))
        self._segments: list[FloatArray] = []  # equity of batch runs and of on_tick stretches
        self._marks: list[float] = []  # equity of on_tick calls since the last segment
        self.ticks = 0  # seen so far: the next tick's number

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
        mark = step(self.ticks, float(tick.timestamp_ms), tick.bid, tick.bid_size, tick.ask,
                    tick.ask_size, self.rules, self.venue, self.state, self.fills_buf,
                    self.skips_buf)  # fmt: skip
        self._marks.append(mark)
        self.ticks += 1
        after = int(self.state[N_FILLS])
        return _fills(self.fills_buf[before:after]) if after > before else []

    def run_ticks(self, ticks: pd.DataFrame) -> TickResult:
        """Every tick of a frame (index UTC times; bid, bid_size, ask, ask_size), at once."""
        times = cast(pd.DatetimeIndex, ticks.index).as_unit("ms").asi8.astype(np.float64)
        cols = [ticks[c].to_numpy(np.float64) for c in ("bid", "bid_size", "ask", "ask_size")]
        equity, j = np.empty(len(times)), 0
        while True:
            j = _loop(j, self.ticks, times, *cols, self.rules, self.venue, self.state,
                      self.fills_buf, self.skips_buf, equity)  # fmt: skip
            if j == len(times):
                break
            self._grow()
        self._flush()
        self._segments.append(equity)
        self.ticks += len(times)
        return self.result()

    def result(self) -> TickResult:
        """Everything so far; also writes the risk state back into the RiskEngine."""
        if self.risk is not None:
            for rule, slot in FIRED.items():
                if self.state[slot]:
                    self.risk.fired[rule] = int(self.state[slot])
            self.risk.day, self.risk.day_pnl = int(self.state[DAY]), float(self.state[DAY_PNL])
            self.risk.halted_day = int(self.state[HALTED])
            self.risk.cooldown_until_ms = int(self.state[COOL_UNTIL])
        skipped = [
            SkippedOrder(int(r[0]), Side.BUY if r[1] else Side.SELL, r[2], r[3],
                         REASONS[int(r[4])], s.TAGS[int(r[5])])
            for r in self.skips_buf[: int(self.state[N_SKIPS])].tolist()
        ]  # fmt: skip
        self._flush()
        equity = np.concatenate(self._segments) if self._segments else np.empty(0)
        return TickResult(_fills(self.fills_buf[: int(self.state[N_FILLS])]), skipped, equity)

    def _flush(self) -> None:
        if self._marks:
            self._segments.append(np.array(self._marks))
            self._marks = []

    def _grow(self) -> None:
        self.fills_buf = np.concatenate([self.fills_buf, np.zeros_like(self.fills_buf)])
        self.skips_buf = np.concatenate([self.skips_buf, np.zeros_like(self.skips_buf)])


def _fills(rows: FloatArray) -> list[Fill]:
    return [
        Fill(int(r[0]), Side.BUY if r[1] else Side.SELL, r[2], r[3], r[4], s.TAGS[int(r[5])],
             bool(r[6]))
        for r in rows.tolist()
    ]  # fmt: skip


def run_ticks(
    ticks: pd.DataFrame,
    strategy: s.Scalper,
    fees: Fees,
    filters: MarketFilters,
    cash: float,
    risk: RiskEngine | None = None,
) -> TickResult:
    """The scalper over a frame of ticks, batch: the same fills as feeding them to on_tick."""
    return TickEngine(strategy, fees, filters, cash, risk).run_ticks(ticks)
