"""The event-driven engine: closed candles one at a time through strategy, risk and broker.

Each bar: the broker fills what the bar's prices reach, the strategy hears of each fill,
then decides at the close from a rolling window of at most `warmup` closed bars, never the
bars ahead nor the whole past. Paper and live trading swap the candle loop for a feed and
the simulated broker for a real one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from thunes.data.candles import as_columns
from thunes.domain.orders import Fill, OrderIntent, SkippedOrder
from thunes.engine.sim_broker import SimBroker
from thunes.execution.filters import FloatArray
from thunes.strategy.events import Bar, EventStrategy


@dataclass(frozen=True)
class ReplayResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: FloatArray


class EventEngine:
    def __init__(self, strategy: EventStrategy, broker: SimBroker) -> None:
        self.strategy = strategy
        self.broker = broker

    def run(self, candles: pd.DataFrame) -> ReplayResult:
        columns = as_columns(candles)
        times = pd.DatetimeIndex(candles.index).as_unit("ms").asi8
        opens, highs, lows, closes = (columns[k] for k in ("open", "high", "low", "close"))
        volumes = columns["volume"]
        last, warmup = len(closes) - 1, self.strategy.warmup
        strategy, broker = self.strategy, self.broker
        equity = np.empty(len(closes))
        for i in range(last + 1):
            for fill in broker.on_bar(i, int(times[i]), opens[i], highs[i], lows[i]):
                self._submit(strategy.on_fill(fill, broker))
            if i < last:  # a decision on the last bar could never fill
                broker.time_ms = int(times[i + 1])  # its orders leave at the next open
                start = max(0, i + 1 - warmup)
                window = {name: values[start : i + 1] for name, values in columns.items()}
                bar = Bar(i, int(times[i]), opens[i], highs[i], lows[i], closes[i], volumes[i])
                self._submit(strategy.on_bar(bar, window, broker))
            equity[i] = broker.equity(closes[i])
        return ReplayResult(broker.fills, broker.skipped, equity)

    def _submit(self, intents: list[OrderIntent]) -> None:
        for intent in intents:
            self.broker.submit(intent, open_positions=int(self.broker.position > 0))
