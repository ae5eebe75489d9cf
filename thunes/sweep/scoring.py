"""What a sweep trial scores, by `backtest`'s own engines (thunes/backtest/choice.py)."""

from __future__ import annotations

from thunes.backtest.choice import backtest, event_run, needs_event_engine
from thunes.components import Components
from thunes.data.sources import CandleSet
from thunes.execution.filters import FloatArray
from thunes.reporting.tables import single_column
from thunes.strategy.scalper import Scalper


def equity_and_fills(parts: Components, candles: list[CandleSet]) -> tuple[FloatArray, int]:
    """The account's value at each step and how many orders filled. The event engine's run
    is read as it is, without building the portfolio and tables a report needs (a third of
    a trial's time)."""
    if not isinstance(parts.strategy, Scalper) and needs_event_engine(parts, candles):
        run, _, _ = event_run(parts, candles, whole_history=True)
        return run.equity, sum(len(lane.fills) for lane in run.lanes)
    result = backtest(parts, candles)
    return single_column(result.portfolio.value()).to_numpy(), len(result.fills)
