"""Which engine turns candles into fills, for mode=backtest and mode=replay.

Replay always runs the event-driven engine on rolling windows, as live will. A backtest runs
the same event engine over decisions computed once for the whole history; when nothing
stateful can act (a signal strategy with no stops and no risk limit that can bind), it
takes the vectorbt fast path instead, which the parity tests prove gives the same orders.
"""

from __future__ import annotations

import math

from thunes.backtest.engine import BacktestResult, VectorbtBacktester, portfolio_from_fills
from thunes.components import Components
from thunes.data.candles import as_columns
from thunes.data.sources import CandleSet
from thunes.engine.replay import EventEngine
from thunes.engine.sim_broker import SimBroker
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Strategy
from thunes.strategy.events import EventStrategy
from thunes.strategy.signal_runner import SignalRunner


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


def _event(parts: Components, candles: CandleSet, whole_history: bool) -> BacktestResult:
    strategy = parts.strategy
    runner: EventStrategy
    if isinstance(strategy, Strategy):
        decided = strategy.signals(as_columns(candles.frame)) if whole_history else None
        runner = SignalRunner(strategy, decided)
    else:
        runner = strategy
    risk = RiskEngine(parts.risk, parts.exchange.fees.taker)
    broker = SimBroker(
        parts.exchange.fees,
        parts.exchange.slippage,
        parts.filters.for_market(parts.market),
        parts.sizer,
        parts.cash,
        risk,
    )
    replay = EventEngine(runner, broker).run(candles.frame)
    portfolio = portfolio_from_fills(candles.frame, candles.timeframe, replay.fills, parts.cash)
    last_close = float(candles.frame["close"].iloc[-1])
    return BacktestResult(
        portfolio,
        replay.fills,
        replay.skipped,
        dict(risk.fired),
        runner.report(last_close),
        runner.plot_levels(),
    )


def backtest(parts: Components, candles: CandleSet) -> BacktestResult:
    strategy = parts.strategy
    if not isinstance(strategy, Strategy) or not _stateless(strategy, parts.risk):
        return _event(parts, candles, whole_history=True)
    backtester = VectorbtBacktester(
        parts.exchange.fees,
        parts.exchange.slippage,
        parts.filters.for_market(parts.market),
        parts.sizer,
        parts.cash,
    )
    signals = strategy.signals(as_columns(candles.frame))
    return backtester.run(candles.frame, candles.timeframe, signals)


def replay(parts: Components, candles: CandleSet) -> BacktestResult:
    return _event(parts, candles, whole_history=False)
