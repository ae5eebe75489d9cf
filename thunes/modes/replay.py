"""mode=replay: the event-driven engine over the same candles, bar by bar, as live runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from thunes.modes import simulate

if TYPE_CHECKING:
    from thunes.backtest.engine import BacktestResult
    from thunes.components import Components
    from thunes.data.sources import CandleSet


def event_driven(parts: Components, candles: CandleSet) -> BacktestResult:
    from thunes.backtest.engine import BacktestResult, portfolio_from_fills
    from thunes.engine.replay import EventEngine
    from thunes.engine.sim_broker import SimBroker
    from thunes.strategy.signal_runner import SignalRunner

    exchange = parts.exchange
    broker = SimBroker(
        exchange.fees,
        exchange.slippage,
        parts.filters.for_market(parts.market),
        parts.sizer,
        parts.cash,
    )
    replay = EventEngine(SignalRunner(parts.strategy), broker).run(candles.frame)
    portfolio = portfolio_from_fills(
        candles.frame, candles.timeframe, replay.fills, exchange.fees.taker, parts.cash
    )
    return BacktestResult(portfolio, replay.skipped)


def run(cfg: DictConfig) -> float:
    return simulate.run(cfg, event_driven)
