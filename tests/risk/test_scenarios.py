"""Named fault-injection scenarios on the paper broker: the live engine on a market clock at
speed 0, simulated brokers on one wallet, and (where a restart is the fault) the paper
state file that a restart resumes from. Each scenario asserts what a user relies on:

- zero new buys after a kill-switch trip, until the next UTC day (or an explicit reset);
- never more symbols held than max_open_positions;
- no buy within the cool-down after a losing exit;
- the day's realised loss never beyond max_daily_loss by more than one trade's max loss.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.engine.bars import candles
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import (
    ClientIds,
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderType,
    Side,
)
from thunes.domain.tags import KILL_TAG
from thunes.engine.lane import Lane
from thunes.engine.sim_broker import SimBroker, Wallet
from thunes.feeds.clock import MarketClock
from thunes.feeds.recorded import RecordedFeed, candle_events
from thunes.live.engine import LiveEngine
from thunes.live.persist import PaperState
from thunes.portfolio.sizing import FixedQuote
from thunes.risk import rules as r
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.state.account import Account
from thunes.state.store import StateStore
from thunes.strategy.base import Columns, Signals, Strategy
from thunes.strategy.events import Account as Held
from thunes.strategy.events import Bar, EventStrategy
from thunes.strategy.signal_runner import SignalRunner

HOUR, DAY = 3_600_000, 86_400_000
FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
FEES = Fees(0.001, 0.001, from_received=False)
LIMITS = RiskLimits(5.0, 20.0, 3, 0.0, True)  # the defaults, no cool-down unless a test sets one
SYMBOLS = ("BTC/USDT",)


class UpDown(Strategy):
    """Enters after a bar that closed up, exits after one that closed down (market orders
    at the next open): the candles decide every trade."""

    warmup = 1

    def signals(self, candles: Columns) -> Signals:
        close, open_ = candles["close"], candles["open"]
        return Signals(close > open_, close < open_)


class FatFinger(EventStrategy):
    """A buy limit at half again the close at bar 2 (a slipped digit), a sane one at bar 4."""

    def on_bar(self, bar: Bar, window: Columns, account: Held) -> list[Command]:
        if bar.index in (2, 4):
            price = bar.close * (1.5 if bar.index == 2 else 0.99)
            return [OrderIntent(Side.BUY, OrderType.LIMIT, quote=100.0, price=price, tag="ff")]
        return []


@dataclass
class Tape:
    """What the paper session did (every run of it): orders sent, fills, refusals."""

    fills: list[Fill] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (time, symbol, why)
    sent: list[tuple[int, str]] = field(default_factory=list)  # (market time, symbol)


class Recorder:
    """The engine's recorder: the tape, and the paper state behind it when there is one."""

    def __init__(self, tape: Tape, state: PaperState | None, now: MarketClock) -> None:
        self.tape, self.state, self.now = tape, state, now

    def sending(self, symbol: str, command: Command) -> None:
        if self.state is not None:
            self.state.sending(symbol, command)

    def event(self, symbol: str, event: OrderEvent) -> None:
        if self.state is not None:
            self.state.event(symbol, event)
        if event.order_id and event.status.value == "new":
            self.tape.sent.append((self.now.now_ms(), symbol))
        elif not event.order_id and event.reason:
            self.tape.refused.append((self.now.now_ms(), symbol, event.reason))

    def filled(self, fill: Fill) -> None:
        if self.state is not None:
            self.state.filled(fill)
        self.tape.fills.append(fill)


def session(
    frames: Sequence[pd.DataFrame],
    limits: RiskLimits,
    tape: Tape,
    state_dir: Path | None = None,
    until_ms: int | None = None,
    strategy: type[EventStrategy] | None = None,
) -> RiskEngine:
    """Run the paper engine on `frames` (one per symbol), resuming from `state_dir`'s state
    if it has one, up to market time `until_ms` (a stop, as Ctrl-C or a crash would)."""
    symbols = list(SYMBOLS) if len(frames) == 1 else [f"S{j}/USDT" for j in range(len(frames))]
    risk, wallet = RiskEngine(limits, FEES.taker, symbols), Wallet(1_000.0)
    lanes = []
    for symbol in symbols:
        runner = strategy() if strategy else SignalRunner(UpDown())
        broker = SimBroker(
            FEES, 0.0, FILTERS, FixedQuote(100.0), wallet, risk, ClientIds("p1", "s", symbol)
        )
        lanes.append(Lane(runner, broker, pd.DataFrame(), symbol))
    state = None
    if state_dir is not None:
        store = StateStore.open(state_dir, Account.of("sim", "default", "paper", None), False)
        state = PaperState(store, "scenario")
    start = int(frames[0].index[0].value // 1_000_000) - 1
    if state is not None and state.last_ms is not None:
        start = state.last_ms  # the candles closed by then are history, the rest the stream
    clock = MarketClock(start, speed=0)
    events = {s: list(candle_events(s, f, HOUR)) for s, f in zip(symbols, frames, strict=True)}
    engine = LiveEngine(
        lanes,
        RecordedFeed(events, "1h", clock),  # type: ignore[arg-type]
        until_ms,
        recorder=Recorder(tape, state, clock),
        stepped=None if state is None else state.stepped,
    )
    if state is not None:
        state.attach(lanes, risk, engine.kernel, "p1", start, clock.now_ms)
    asyncio.run(engine.run())
    if state is not None:
        state.store.close()
    return risk


def losing(cycles: int, start: float = 100.0, drop: float = 0.06) -> list[tuple[float, ...]]:
    """Up bar, down bar, each pair 6% under the last: every round trip loses ~6 USDT."""
    rows, price = [], start
    for _ in range(cycles):
        rows += [(price, price, price, price * 1.001), (price, price, price * 0.999, price * 0.998)]
        price *= 1 - drop
    return rows


def rising(bars: int, price: float) -> list[tuple[float, ...]]:
    """Up bars, then down, alternating, at one price: flat round trips."""
    return [(price, price, price, price * (1.001 if k % 2 == 0 else 0.999)) for k in range(bars)]


def realised(fills: list[Fill]) -> list[tuple[int, float]]:
    """(time, PnL) of each sell, fees of both legs in (average cost per symbol)."""
    held: dict[str, tuple[float, float]] = {}
    out = []
    for f in fills:
        amount, cost = held.get(f.symbol, (0.0, 0.0))
        if f.side is Side.BUY:
            held[f.symbol] = (amount + f.amount, cost + f.amount * f.price + f.fee)
        else:
            basis = cost * min(1.0, f.amount / amount) if amount else 0.0
            out.append((f.time_ms, f.amount * f.price - f.fee - basis))
            held[f.symbol] = (max(0.0, amount - f.amount), cost - basis)
    return out


def invariants(tape: Tape, limits: RiskLimits, resets: Sequence[int] = ()) -> None:
    """The four promises, on everything the session did."""
    pnl = realised(tape.fills)
    day_loss: dict[int, float] = {}
    trips: list[int] = []
    for t, x in pnl:  # the daily loss, and when the kill-switch tripped
        day = t // DAY
        day_loss[day] = day_loss.get(day, 0.0) + x
        if -day_loss[day] >= limits.max_daily_loss and not any(d // DAY == day for d in trips):
            trips.append(t)
    for loss in day_loss.values():
        assert -loss <= limits.max_daily_loss + limits.max_loss_per_trade + 1e-9
    for trip in trips:
        lifted = min([r for r in resets if r > trip] + [(trip // DAY + 1) * DAY])
        assert not [f for f in tape.fills if f.side is Side.BUY and trip < f.time_ms < lifted]
    held: dict[str, float] = {}
    for f in tape.fills:
        held[f.symbol] = held.get(f.symbol, 0.0) + (f.amount if f.side is Side.BUY else -f.amount)
        assert sum(a > 1e-12 for a in held.values()) <= limits.max_open_positions
    cooldown_ms, last_loss, sells = limits.cooldown_minutes * 60_000, -math.inf, iter(pnl)
    for f in tape.fills:
        if f.side is Side.BUY:
            assert f.time_ms >= last_loss + cooldown_ms
        elif next(sells)[1] < 0:
            last_loss = f.time_ms


def test_a_losing_streak_to_the_daily_limit() -> None:
    tape = Tape()
    risk = session([candles(losing(10))], LIMITS, tape)
    assert risk.fired["kill_switch_trips"] == 1 and risk.fired["kill_switch"] > 0
    invariants(tape, LIMITS)
    assert -sum(x for _, x in realised(tape.fills)) >= LIMITS.max_daily_loss


def test_a_gap_down_through_the_stop() -> None:
    # buy at 100, then the market opens 9% lower, through the max-loss stop (~95.1)
    rows = [(100, 100, 100, 100.1), (100, 100, 100, 100), (91, 91, 90, 90.5), *rising(6, 90.5)]
    tape = Tape()
    risk = session([candles(rows)], replace(LIMITS, max_daily_loss=8.0), tape)
    stop = next(f for f in tape.fills if f.tag == "risk:max_loss")
    assert stop.price == 91  # the gap's open, not the stop's price: a spot stop cannot do better
    assert risk.fired["max_loss_per_trade"] == 1 and risk.fired["kill_switch_trips"] == 1
    invariants(tape, replace(LIMITS, max_daily_loss=8.0))


def test_a_restart_just_after_the_kill_switch_tripped(tmp_path: Path) -> None:
    frame = candles(losing(10) + rising(6, 30.0))  # the trip, then up bars the same day
    whole, tape = Tape(), Tape()
    session([frame], LIMITS, whole)
    trip = next(t for t, _ in _trips(whole))
    session([frame], LIMITS, tape, tmp_path, until_ms=trip + HOUR)  # stopped just after
    risk = session([frame], LIMITS, tape, tmp_path)  # and restarted
    assert risk.trading(trip + 2 * HOUR) == "reducing"  # the halt came back with the state
    assert [f.time_ms for f in tape.fills] == [f.time_ms for f in whole.fills]
    assert risk.fired["kill_switch"] > 0
    invariants(tape, LIMITS)


def _trips(tape: Tape) -> list[tuple[int, float]]:
    out, loss = [], 0.0
    for t, x in realised(tape.fills):
        loss += x
        if -loss >= LIMITS.max_daily_loss:
            out.append((t, loss))
    return out


def test_the_utc_midnight_rollover_while_halted(tmp_path: Path) -> None:
    rows = losing(10) + rising(40, 30.0)  # tripped in the morning; up and down bars after
    frame, tape = candles(rows), Tape()
    session([frame], LIMITS, tape, tmp_path, until_ms=int(frame.index[23].value // 1e6))
    risk = session([frame], LIMITS, tape, tmp_path)  # restarted at 23:00, halted
    midnight = DAY + int(frame.index[0].value // 1_000_000)
    buys = [f.time_ms for f in tape.fills if f.side is Side.BUY]
    assert any(t >= midnight for t in buys)  # trading again on the new day
    assert risk.trading(midnight) == "active"
    invariants(tape, LIMITS)


def test_the_order_rate_limit() -> None:
    limits = replace(LIMITS, max_orders_per_minute=2)
    rows = rising(8, 100.0)
    tape = Tape()
    risk = session([candles(rows)] * 3, limits, tape)  # three symbols decide at each close
    per_minute: dict[int, int] = {}
    for t, _ in tape.sent:
        per_minute[t // 60_000] = per_minute.get(t // 60_000, 0) + 1
    assert max(per_minute.values()) == 2
    assert risk.fired["max_orders_per_minute"] > 0
    assert {why for _, _, why in tape.refused} >= {"max_orders_per_minute"}
    invariants(tape, limits)


def test_a_fat_finger_price() -> None:
    tape = Tape()
    risk = session([candles(rising(8, 100.0))], LIMITS, tape, strategy=FatFinger)
    assert [why for _, _, why in tape.refused] == ["max_price_deviation"]
    assert risk.fired["max_price_deviation"] == 1
    assert len(tape.sent) == 1 and not [f for f in tape.fills if f.price > 101]
    invariants(tape, LIMITS)


def test_a_limit_changed_between_two_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    frame, tape = candles(losing(10)), Tape()
    session([frame], LIMITS, tape, tmp_path, until_ms=int(frame.index[2].value // 1e6))
    tighter = replace(LIMITS, max_daily_loss=10.0)
    with caplog.at_level(logging.WARNING, logger="thunes.risk.engine"):
        risk = session([frame], tighter, tape, tmp_path)
    (line,) = [r.getMessage() for r in caplog.records if "changed" in r.getMessage()]
    assert line == "risk: max_daily_loss changed since the last run: 20 -> 10, from the next order"
    loss_at_trip = -sum(x for _, x in realised(tape.fills))
    assert risk.fired["kill_switch_trips"] == 1 and 10 <= loss_at_trip < 20
    invariants(tape, tighter)


def test_an_explicit_reset_lifts_the_kill_switch_the_same_day(tmp_path: Path) -> None:
    frame, tape = candles(losing(10) + rising(10, 30.0)), Tape()
    session([frame], LIMITS, tape, tmp_path, until_ms=int(frame.index[19].value // 1e6))
    before = len([f for f in tape.fills if f.side is Side.BUY])
    session([frame], replace(LIMITS, reset=True), tape, tmp_path)
    assert len([f for f in tape.fills if f.side is Side.BUY]) > before  # trading again today
    invariants(tape, LIMITS, resets=[int(frame.index[19].value // 1e6)])


def test_max_positions_and_a_per_symbol_cooldown_on_three_symbols() -> None:
    limits = replace(LIMITS, max_open_positions=2, cooldown_minutes=120.0, cooldown_scope="symbol")
    base = losing(3, drop=0.04) + rising(12, 100 * 0.96**3)  # 4% steps: under the stop
    frames = [candles([tuple(np.multiply(r, 1 + j / 10)) for r in base]) for j in range(3)]
    tape = Tape()
    risk = session(frames, limits, tape)
    assert risk.fired["max_open_positions"] > 0 and risk.fired["cooldown"] > 0
    last_loss: dict[str, int] = {}
    sells = iter(realised(tape.fills))
    for f in tape.fills:  # per symbol: a loss on one leaves the others free
        if f.side is Side.BUY:
            assert f.time_ms >= last_loss.get(f.symbol, -DAY) + 120 * 60_000
        elif next(sells)[1] < 0:
            last_loss[f.symbol] = f.time_ms
    invariants(tape, replace(limits, cooldown_minutes=0.0))


class BuyAndHold(EventStrategy):
    """A market buy at bar 0 and another at bar 12; never sells: only the risk engine does."""

    buys = (0, 12)

    def on_bar(self, bar: Bar, window: Columns, account: Held) -> list[Command]:
        if bar.index in self.buys:
            return [OrderIntent(Side.BUY, OrderType.MARKET, quote=100.0, tag="hold")]
        return []


def sliding(moves: Sequence[float], start: float = 100.0) -> list[tuple[float, ...]]:
    """A flat bar at `start`, then one bar per move (a close that far from the open)."""
    rows, price = [(start, start, start, start)], start
    for move in moves:
        close = price * (1 + move)
        rows.append((price, max(price, close), min(price, close), close))
        price = close
    return rows


def three(rows: list[tuple[float, ...]]) -> list[pd.DataFrame]:
    """Three symbols on the same moves, at different prices."""
    return [candles([tuple(np.multiply(r, 1 + j / 10)) for r in rows]) for j in range(3)]


class BuyOnce(BuyAndHold):
    buys = (0,)


# three holdings of 100 quote each falling 1% a bar for 8 bars (~7.7% each, ~23 in all, the
# day's limit near bar 7), each far from its own 10-quote stop (~9.9% under its buy); the
# run ends the same day
FALLING = sliding([-0.01] * 8 + [0.0] * 12)
HOLD_LIMITS = replace(LIMITS, max_loss_per_trade=10.0)
FALLING_END = candles(FALLING).index[-1].value // 1_000_000


def test_open_positions_falling_trip_the_daily_limit_with_no_sell() -> None:
    limits, tape = replace(HOLD_LIMITS, kill_switch=False), Tape()
    risk = session(three(FALLING), limits, tape, strategy=BuyAndHold)
    assert risk.fired["kill_switch_trips"] == 1
    assert not [f for f in tape.fills if f.side is Side.SELL]  # no loss realised at all
    assert -risk.day_marked >= limits.max_daily_loss  # the holdings' loss, marked
    assert risk.trading(FALLING_END) == "halted"
    # the bar-12 buys on the three symbols, refused; nothing bought after the trip
    assert [why for _, _, why in tape.refused] == ["kill_switch"] * 3
    assert len([f for f in tape.fills if f.side is Side.BUY]) == 3


def test_a_trip_flattens_every_symbol_of_a_portfolio() -> None:
    tape = Tape()
    risk = session(three(FALLING), HOLD_LIMITS, tape, strategy=BuyAndHold)
    assert risk.fired["kill_switch_trips"] == 1
    kills = [f for f in tape.fills if f.tag == KILL_TAG]
    assert sorted(f.symbol for f in kills) == ["S0/USDT", "S1/USDT", "S2/USDT"]
    assert not [f for f in tape.fills if f.side is Side.SELL and f.tag != KILL_TAG]
    first_trip_ms = min(f.time_ms for f in kills)
    assert max(f.time_ms for f in kills) - first_trip_ms <= HOUR  # each at its next price
    loss = -sum(x for _, x in realised(tape.fills))
    assert HOLD_LIMITS.max_daily_loss <= loss <= HOLD_LIMITS.max_daily_loss + 10.0
    assert [why for _, _, why in tape.refused] == ["kill_switch"] * 3
    invariants(tape, HOLD_LIMITS)


def test_a_position_held_over_midnight_counts_only_the_new_days_move() -> None:
    # two holdings of 100 quote: ~7 lost each on day 1 (14 in all), ~4 more each on day 2
    # (8 that day, 22 since the buys): under the 20 a day on both days, over it since entry
    limits = replace(LIMITS, max_loss_per_trade=12.0)
    day1 = [-0.01] * 7 + [0.0] * 16  # bars 1..23: the buys fill at bar 1's open
    day2 = [-0.011] * 4 + [0.0] * 6
    tape = Tape()
    frames = three(sliding(day1 + day2))[:2]
    risk = session(frames, limits, tape, strategy=BuyOnce)
    assert not risk.fired["kill_switch_trips"]
    assert not [f for f in tape.fills if f.side is Side.SELL]  # no stop: each under 12
    assert -risk.day_marked == pytest.approx(8.3, abs=0.6)  # the new day's move only
    # the same moves within one day reach the limit: the test above could fail
    same_day, tape = sliding(day1[:7] + day2 + [0.0] * 4), Tape()
    risk = session(three(same_day)[:2], limits, tape, strategy=BuyOnce)
    assert risk.fired["kill_switch_trips"] == 1


def test_a_state_saved_before_holdings_counted_starts_them_at_the_next_mark() -> None:
    risk = RiskEngine(LIMITS, FEES.taker, ["BTC/USDT"])
    risk.restore({"day": 19_723.0, "day_pnl": -12.0, "last_price.BTC/USDT": 100.0})
    risk.hold("BTC/USDT", 1.0, 100.1)  # what the broker's book holds, as the state's fills left
    r.mark(0, 95.0, 19_723 * DAY + HOUR, risk.vector)  # its day's move begins here
    assert risk.day_marked == -12.0 and risk.trading(19_723 * DAY + HOUR) == "active"
    r.mark(0, 86.0, 19_723 * DAY + 2 * HOUR, risk.vector)  # 9 lower: 21 lost today
    assert risk.day_marked == pytest.approx(-12.0 - 9 * 0.999)
    assert risk.trading(19_723 * DAY + 2 * HOUR) == "reducing"
