"""A backtest with the risk limits and the same candles through the paper engine (the live
engine on a market clock at speed 0, simulated brokers) agree on when each limit fired: the
same orders refused, at the same bar, for the same rule; the same risk stops and kill-switch
sells, at the same time; the same counts. Both run the one set of rules (thunes/risk/rules.py):
the backtest inside the compiled batch loop, the paper engine event by event.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.config.compose import composed
from thunes.backtest.choice import backtest
from thunes.components import build
from thunes.domain.orders import Side
from thunes.domain.reasons import REASONS
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG
from thunes.engine.lane import simulated_lanes
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import MarketEvent
from thunes.feeds.recorded import RecordedFeed, candle_events
from thunes.live.engine import LiveEngine, Stopped

TF_MS = 3_600_000
RISK_REASONS = set(REASONS[4:7]) | set(REASONS[8:])  # the risk engine's, not the venue's
SPAN = ("data=sim", "data.since=2024-01-01", "data.until=2024-03-01")
THREE = "symbols=[btcusdt,ethusdt,solusdt]"
# three holdings of 1,000 quote, each stopped 20 under its cost: the 20 a day is reached by
# the holdings' marked loss long before any stop or sell realises it
MARKED = [THREE, "cash=5000", "sizing.amount=1000", "risk.max_loss_per_trade=20"]
DAY_MS = 86_400_000

Fired = tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]


def _fired(fills: list, skipped: list, last_bar: dict[str, int]) -> Fired:
    """(symbol, bar, rule) of every order a risk rule refused, and (symbol, time, tag) of
    every risk stop and kill-switch sell; the paper engine's decisions on the last candle
    (which a backtest skips: nothing decided there could fill in the run) set aside."""
    refused = sorted(
        (s.symbol, s.bar, s.reason)
        for s in skipped
        if s.reason in RISK_REASONS and s.bar < last_bar[s.symbol]
    )
    risk_fills = sorted(
        (f.symbol, f.time_ms, f.tag) for f in fills if f.tag in (MAX_LOSS_TAG, KILL_TAG)
    )
    return refused, risk_fills


@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        (  # max loss, daily limit and kill-switch, per-symbol cool-down, max positions
            [
                THREE,
                "risk.max_loss_per_trade=2",
                "risk.max_daily_loss=4",
                "risk.max_open_positions=2",
                "risk.cooldown_minutes=240",
                "risk.cooldown_scope=symbol",
            ],
            {"max_loss_per_trade", "kill_switch_trips", "cooldown", "max_open_positions"},
        ),
        (  # the order rate, on a grid's many limit orders
            ["strategy=grid", "risk.max_orders_per_minute=3"],
            {"max_orders_per_minute"},
        ),
        (  # open orders per symbol, and the fat-finger guard on a grid's sells
            [
                "strategy=grid",
                "risk.max_open_orders_per_symbol=3",
                "risk.max_price_deviation_pct=0.3",
            ],
            {"max_open_orders_per_symbol", "max_price_deviation"},
        ),
        (  # notional per position and in total, on DCA's safety orders over three symbols
            [THREE, "strategy=dca", "risk.max_position_notional=60", "risk.max_total_notional=100"],
            {"max_notional"},
        ),
        (MARKED, {"kill_switch_trips", "kill_switch"}),  # the daily limit on marked holdings
    ],
    ids=["loss-cooldown-positions", "rate", "open-orders-fat-finger", "notional", "marked"],
)
def test_backtest_and_paper_agree_on_when_each_limit_fired(
    overrides: list[str], expect: set[str]
) -> None:
    with composed(*SPAN, *overrides) as cfg:
        parts, again = build(cfg), build(cfg)
    sets = [parts.data.load(parts.exchange, m) for m in parts.markets]
    result = backtest(parts, sets)

    frames = [c.frame for c in sets]
    lanes, risk = simulated_lanes(again, frames, whole_history=False)
    events: dict[str, list[MarketEvent]] = {
        m.symbol: list(candle_events(m.symbol, f, TF_MS))
        for m, f in zip(again.markets, frames, strict=True)
    }
    start = min(e.time_ms for evs in events.values() for e in evs)
    live = LiveEngine(lanes, RecordedFeed(events, "1h", MarketClock(start - 1, speed=0)))
    assert asyncio.run(live.run()) is Stopped.FEED_ENDED

    last_bar = {m.symbol: len(f) - 1 for m, f in zip(parts.markets, frames, strict=True)}
    skipped = [s.placed(s.bar, lane.symbol) for lane in lanes for s in lane.broker.skipped]
    fills = [replace(f, symbol=lane.symbol) for lane in lanes for f in lane.broker.fills]
    backtested = _fired(result.fills, result.skipped, last_bar)
    assert expect <= set(result.risk_fired), "a limit did not fire: nothing to compare"
    assert _fired(fills, skipped, last_bar) == backtested
    assert {k: v for k, v in risk.fired.items()} == result.risk_fired


def test_the_marked_case_trips_on_holdings_alone() -> None:
    """The "marked" case above compares trips that no sell caused: on some days the
    kill-switch sells while that day's sells have realised no loss at all."""
    with composed(*SPAN, *MARKED) as cfg:
        parts = build(cfg)
    result = backtest(parts, [parts.data.load(parts.exchange, m) for m in parts.markets])
    held: dict[str, tuple[float, float]] = {}
    realised: dict[int, float] = {}
    unrealised_trips = 0
    for f in sorted(result.fills, key=lambda f: f.time_ms):
        amount, cost = held.get(f.symbol, (0.0, 0.0))
        if f.side is Side.BUY:
            held[f.symbol] = (amount + f.amount, cost + f.amount * f.price + f.fee)
            continue
        day = f.time_ms // DAY_MS
        if f.tag == KILL_TAG and realised.get(day, 0.0) >= 0:
            unrealised_trips += 1
        basis = cost * min(1.0, f.amount / amount) if amount else 0.0
        realised[day] = realised.get(day, 0.0) + f.amount * f.price - f.fee - basis
        held[f.symbol] = (max(0.0, amount - f.amount), cost - basis)
    assert unrealised_trips > 0
