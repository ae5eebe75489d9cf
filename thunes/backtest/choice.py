"""Which engine turns candles into fills, for mode=backtest and mode=replay.

Replay always runs the event-driven engine on rolling windows, as live will. A backtest runs
the same event engine over decisions computed once for the whole history; when nothing
stateful can act (one symbol, a signal strategy with no stops, no risk limit that can
bind), it takes the vectorbt fast path, which the parity tests prove gives the same orders.
A sweep trial is scored by the same choice (thunes/sweep/scoring.py), so it sits below both
modes/ and sweep/.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from thunes.backtest.assembly import assemble, assemble_ticks
from thunes.backtest.engine import VectorbtBacktester
from thunes.backtest.result import BacktestResult
from thunes.components import Components
from thunes.data.candles import as_columns
from thunes.data.sources import CandleSet
from thunes.domain.ticks import BookTick
from thunes.engine.lane import simulated_lanes, simulated_ticks
from thunes.engine.replay import PortfolioEngine, PortfolioRun
from thunes.engine.tick_engine import TickEngine, TickResult
from thunes.errors import ConfigError
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Strategy
from thunes.strategy.events import EventStrategy
from thunes.strategy.scalper import Scalper


def risk_can_bind(limits: RiskLimits) -> bool:
    return (
        math.isfinite(limits.max_loss_per_trade)
        or math.isfinite(limits.max_daily_loss)
        or limits.cooldown_minutes > 0
        or math.isfinite(limits.max_orders_per_minute)
        or math.isfinite(limits.max_price_deviation_pct)
        or math.isfinite(limits.max_position_notional)
        or math.isfinite(limits.max_total_notional)
    )


def _stateless(strategy: Strategy, limits: RiskLimits) -> bool:
    return (
        strategy.stop_loss is None
        and strategy.take_profit is None
        and strategy.trailing_stop is None
        and not risk_can_bind(limits)
    )


def event_run(
    parts: Components, candles: list[CandleSet], whole_history: bool
) -> tuple[PortfolioRun, list[EventStrategy], RiskEngine]:
    """The event engine's run, with the runners and the risk engine a result is read from
    (a sweep scores the run as it is, without them)."""
    lanes, risk = simulated_lanes(parts, [c.frame for c in candles], whole_history)
    runners = [lane.strategy for lane in lanes]
    return PortfolioEngine(lanes, batch=whole_history).run(), runners, risk


def _event(parts: Components, candles: list[CandleSet], whole_history: bool) -> BacktestResult:
    run, runners, risk = event_run(parts, candles, whole_history)
    frames = {market.symbol: c.frame for market, c in zip(parts.markets, candles, strict=True)}
    return assemble(run, frames, runners, risk, candles[0].timeframe, parts.cash)


def needs_event_engine(parts: Components, candles: list[CandleSet]) -> bool:
    """Whether something stateful can act, so the vectorbt fast path would differ."""
    strategy = parts.strategy
    return (
        len(candles) > 1
        or not isinstance(strategy, Strategy)
        or not _stateless(strategy, parts.risk)
        or parts.exchange.fees.from_received  # vectorbt charges fees on top in quote
    )


def backtest(parts: Components, candles: list[CandleSet]) -> BacktestResult:
    strategy = parts.strategy
    if isinstance(strategy, Scalper):  # best bid/ask ticks, not candles
        return ticks(parts, candles, per_event=False)
    if needs_event_engine(parts, candles) or not isinstance(strategy, Strategy):
        return _event(parts, candles, whole_history=True)
    backtester = VectorbtBacktester(
        parts.exchange.fees,
        parts.exchange.slippage,
        parts.filters.for_market(parts.market),
        parts.sizer,
        parts.cash,
    )
    signals = strategy.signals(as_columns(candles[0].frame))
    return backtester.run(candles[0].frame, candles[0].timeframe, signals)


def ticks(parts: Components, candles: list[CandleSet], per_event: bool) -> BacktestResult:
    """The tick scalper over best bid/ask ticks: fills from the tick engine, marked at the bid.

    A backtest hands the engine the whole frame (one compiled loop); replay feeds it one
    `BookTick` at a time, as a live book-ticker stream would. Both run the same rules and broker.
    """
    frame, symbol = candles[0].frame, parts.market.symbol
    engine, risk = simulated_ticks(parts)
    if not {"bid", "ask"} <= set(frame.columns):
        raise ConfigError("strategy=scalper needs book ticks: data=sim_ticks or data=tick_file")
    run = feed_ticks(engine, frame, per_event)
    return assemble_ticks(
        run, frame, symbol, engine.strategy, risk, candles[0].timeframe, parts.cash
    )


def feed_ticks(engine: TickEngine, frame: pd.DataFrame, per_event: bool) -> TickResult:
    """The whole frame in one compiled loop, or one `BookTick` at a time as a stream."""
    if not per_event:
        return engine.run_ticks(frame)
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    quotes = frame[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
    for time_ms, (bid, bid_size, ask, ask_size) in zip(times, quotes, strict=True):
        engine.on_tick(BookTick(int(time_ms), bid, bid_size, ask, ask_size))
    return engine.result()


def replay(parts: Components, candles: list[CandleSet]) -> BacktestResult:
    if isinstance(parts.strategy, Scalper):
        return ticks(parts, candles, per_event=True)
    return _event(parts, candles, whole_history=False)
