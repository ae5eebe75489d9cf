"""Which engine turns candles into fills, for mode=backtest and mode=replay.

Replay always runs the event-driven engine on rolling windows, as live will. A backtest runs
the same event engine over decisions computed once for the whole history; when nothing
stateful can act (one symbol, a signal strategy with no stops, no risk limit that can
bind), it takes the vectorbt fast path, which the parity tests prove gives the same orders.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from thunes.backtest.engine import BacktestResult, VectorbtBacktester, portfolio_from_fills
from thunes.components import Components
from thunes.data.candles import as_columns
from thunes.data.sources import CandleSet
from thunes.domain.ticks import BookTick
from thunes.engine.replay import Lane, PortfolioEngine, PortfolioRun
from thunes.engine.sim_broker import SimBroker, Wallet
from thunes.engine.tick_engine import TickEngine, TickResult
from thunes.errors import ConfigError
from thunes.execution.filters import FloatArray
from thunes.reporting.tables import single_column
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Strategy
from thunes.strategy.events import EventStrategy
from thunes.strategy.scalper import Scalper, cost_breakdown
from thunes.strategy.signal_runner import as_event_strategy


def risk_can_bind(limits: RiskLimits) -> bool:
    return (
        math.isfinite(limits.max_loss_per_trade)
        or math.isfinite(limits.max_daily_loss)
        or limits.cooldown_minutes > 0
    )


def _stateless(strategy: Strategy, limits: RiskLimits) -> bool:
    return (
        strategy.stop_loss is None
        and strategy.take_profit is None
        and strategy.trailing_stop is None
        and not risk_can_bind(limits)
    )


def _event_run(
    parts: Components, candles: list[CandleSet], whole_history: bool
) -> tuple[PortfolioRun, list[EventStrategy], RiskEngine]:
    risk = RiskEngine(parts.risk, parts.exchange.fees.taker)
    wallet = Wallet(parts.cash)
    runners = [
        as_event_strategy(s, as_columns(c.frame) if whole_history else None)
        for s, c in zip(parts.strategies, candles, strict=True)
    ]
    lanes = [
        Lane(
            runner,
            SimBroker(
                parts.exchange.fees,
                parts.exchange.slippage,
                parts.filters.for_market(market),
                parts.sizer,
                wallet,
                risk,
            ),
            c.frame,
        )
        for runner, market, c in zip(runners, parts.markets, candles, strict=True)
    ]
    return PortfolioEngine(lanes, batch=whole_history).run(), runners, risk


def _event(parts: Components, candles: list[CandleSet], whole_history: bool) -> BacktestResult:
    run, runners, risk = _event_run(parts, candles, whole_history)
    frames = {market.symbol: c.frame for market, c in zip(parts.markets, candles, strict=True)}
    return assemble(run, frames, runners, risk, candles[0].timeframe, parts.cash)


def assemble(
    run: PortfolioRun,
    frames: dict[str, pd.DataFrame],
    runners: list[EventStrategy],
    risk: RiskEngine,
    timeframe: str,
    cash: float,
) -> BacktestResult:
    """The event engine's run as a result for the reports: a vectorbt portfolio on the common
    timeline, fills and skipped orders placed on it, risk counts, the strategies' figures."""
    timeline = pd.DatetimeIndex(pd.to_datetime(run.timeline, unit="ms", utc=True))
    symbols = list(frames)
    steps = {  # each symbol's bars on the common timeline
        s: np.searchsorted(run.timeline, pd.DatetimeIndex(f.index).as_unit("ms").asi8)
        for s, f in frames.items()
    }
    portfolio = portfolio_from_fills(
        {s: f["close"] for s, f in frames.items()},
        timeline,
        {s: r.fills for s, r in zip(symbols, run.lanes, strict=True)},
        steps,
        timeframe,
        cash,
    )
    report: dict[str, float] = {}
    levels: list[float] = []
    for runner, frame in zip(runners, frames.values(), strict=True):
        report.update(runner.report(float(frame["close"].iloc[-1])))
        levels += runner.plot_levels()
    fills = [
        f.placed(int(steps[s][f.bar]), s)
        for s, r in zip(symbols, run.lanes, strict=True)
        for f in r.fills
    ]
    skipped = [
        o.placed(int(steps[s][o.bar]), s)
        for s, r in zip(symbols, run.lanes, strict=True)
        for o in r.skipped
    ]
    return BacktestResult(portfolio, fills, skipped, dict(risk.fired), report, levels)


def _needs_event_engine(parts: Components, candles: list[CandleSet]) -> bool:
    strategy = parts.strategy
    return (
        len(candles) > 1
        or not isinstance(strategy, Strategy)
        or not _stateless(strategy, parts.risk)
    )


def equity_and_fills(parts: Components, candles: list[CandleSet]) -> tuple[FloatArray, int]:
    """What a sweep scores, by `backtest`'s own engines: the account's value at each step
    and how many orders filled. The event engine's run is read as it is, without building
    the portfolio and tables a report needs (a third of a trial's time)."""
    if not isinstance(parts.strategy, Scalper) and _needs_event_engine(parts, candles):
        run, _, _ = _event_run(parts, candles, whole_history=True)
        return run.equity, sum(len(lane.fills) for lane in run.lanes)
    result = backtest(parts, candles)
    return single_column(result.portfolio.value()).to_numpy(), len(result.fills)


def backtest(parts: Components, candles: list[CandleSet]) -> BacktestResult:
    strategy = parts.strategy
    if isinstance(strategy, Scalper):  # best bid/ask ticks, not candles
        return ticks(parts, candles, per_event=False)
    if _needs_event_engine(parts, candles) or not isinstance(strategy, Strategy):
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
    `BookTick` at a time, as a live book-ticker stream would. Both run the same `step`.
    """
    strategy, frame, symbol = parts.strategy, candles[0].frame, parts.market.symbol
    if len(candles) > 1 or not isinstance(strategy, Scalper):
        raise ConfigError("the tick engine runs strategy=scalper on one symbol")
    if not {"bid", "ask"} <= set(frame.columns):
        raise ConfigError("strategy=scalper needs book ticks: data=sim_ticks or data=tick_file")
    risk = RiskEngine(parts.risk, parts.exchange.fees.taker)
    engine = TickEngine(
        strategy, parts.exchange.fees, parts.filters.for_market(parts.market), parts.cash, risk
    )
    run = feed_ticks(engine, frame, per_event)
    return assemble_ticks(run, frame, symbol, strategy, risk, candles[0].timeframe, parts.cash)


def feed_ticks(engine: TickEngine, frame: pd.DataFrame, per_event: bool) -> TickResult:
    """The whole frame in one compiled loop, or one `BookTick` at a time as a stream."""
    if not per_event:
        return engine.run_ticks(frame)
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    quotes = frame[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
    for time_ms, (bid, bid_size, ask, ask_size) in zip(times, quotes, strict=True):
        engine.on_tick(BookTick(int(time_ms), bid, bid_size, ask, ask_size))
    return engine.result()


def assemble_ticks(
    run: TickResult,
    frame: pd.DataFrame,
    symbol: str,
    strategy: Scalper,
    risk: RiskEngine,
    timeframe: str,
    cash: float,
) -> BacktestResult:
    """The tick engine's run as a result for the reports, marked at the bid."""
    portfolio = portfolio_from_fills(
        {symbol: frame["bid"]},
        pd.DatetimeIndex(frame.index),
        {symbol: run.fills},
        {symbol: np.arange(len(frame), dtype=np.int64)},
        timeframe,
        cash,
    )
    bids, asks = frame["bid"].to_numpy(), frame["ask"].to_numpy()
    report = {**strategy.report(run.fills), **cost_breakdown(run.fills, bids, asks)}
    fills = [f.placed(f.bar, symbol) for f in run.fills]
    skipped = [o.placed(o.bar, symbol) for o in run.skipped]
    return BacktestResult(portfolio, fills, skipped, dict(risk.fired), report, [])


def replay(parts: Components, candles: list[CandleSet]) -> BacktestResult:
    if isinstance(parts.strategy, Scalper):
        return ticks(parts, candles, per_event=True)
    return _event(parts, candles, whole_history=False)
