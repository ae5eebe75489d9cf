"""Replay closed candles one at a time through strategy, gate and broker, as live would.

The strategy sees a rolling window of at most `warmup` closed bars, never the history
ahead of it nor the whole past; paper and live trading swap the candle loop for a feed and
the simulated broker for a real one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from thunes.data.candles import as_columns
from thunes.domain.orders import Fill, Side, SkippedOrder
from thunes.engine.sim_broker import SimBroker
from thunes.execution.filters import FloatArray
from thunes.strategy.base import Strategy
from thunes.strategy.gate import Action, PositionGate


@dataclass(frozen=True)
class ReplayResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: FloatArray


class ReplayEngine:
    def __init__(self, strategy: Strategy, broker: SimBroker) -> None:
        self.strategy = strategy
        self.broker = broker

    def run(self, candles: pd.DataFrame) -> ReplayResult:
        columns = as_columns(candles)
        opens, closes = columns["open"], columns["close"]
        last, warmup = len(closes) - 1, self.strategy.warmup
        gate, broker = PositionGate(), self.broker
        equity = np.empty(len(closes))
        for bar in range(last + 1):
            broker.on_open(bar, float(opens[bar]))
            if bar < last:  # a decision on the last bar could never fill
                start = max(0, bar + 1 - warmup)
                window = {name: values[start : bar + 1] for name, values in columns.items()}
                signals = self.strategy.signals(window)
                action = gate.step(bool(signals.entries[-1]), bool(signals.exits[-1]))
                if action is not Action.NONE:
                    broker.submit(Side.BUY if action is Action.ENTER else Side.SELL)
            equity[bar] = broker.cash + broker.position * closes[bar]
        return ReplayResult(broker.fills, broker.skipped, equity)
