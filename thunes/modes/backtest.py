"""mode=backtest: the vectorized backtest on vectorbt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omegaconf import DictConfig

from thunes.modes import simulate

if TYPE_CHECKING:
    from thunes.backtest.engine import BacktestResult
    from thunes.components import Components
    from thunes.data.sources import CandleSet


def vectorized(parts: Components, candles: CandleSet) -> BacktestResult:
    from thunes.backtest.engine import VectorbtBacktester
    from thunes.data.candles import as_columns

    backtester = VectorbtBacktester(
        parts.exchange.fees,
        parts.exchange.slippage,
        parts.filters.for_market(parts.market),
        parts.sizer,
        parts.cash,
    )
    signals = parts.strategy.signals(as_columns(candles.frame))
    return backtester.run(candles.frame, candles.timeframe, signals)


def run(cfg: DictConfig) -> float:
    return simulate.run(cfg, vectorized)
