"""One symbol through the event engine, the case most tests drive."""

from __future__ import annotations

import pandas as pd

from thunes.engine.lane import Lane
from thunes.engine.replay import PortfolioEngine, ReplayResult
from thunes.execution.broker import Broker
from thunes.strategy.events import EventStrategy


def run_one(
    strategy: EventStrategy, broker: Broker, candles: pd.DataFrame, batch: bool = False
) -> ReplayResult:
    """`strategy` on `candles` through `broker`; `batch`: in the compiled loop if it can."""
    return PortfolioEngine([Lane(strategy, broker, candles)], batch).run().lanes[0]
