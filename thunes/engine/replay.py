"""The event-driven engine over stored candles: each timestamp through the kernel.

Each bar: the broker fills what the bar's prices reach, the strategy hears of each fill,
then decides at the close from a rolling window of at most `warmup` closed bars, never the
bars ahead nor the whole past (thunes/engine/kernel.py, which paper and live run too on a
feed's candles). Several symbols share one wallet, in the configured symbol order.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pandas as pd

from thunes.data.candles import as_columns
from thunes.engine.batch_loop import Ints, run_compiled, union
from thunes.engine.kernel import Candle, Kernel, Recorder
from thunes.engine.lane import Lane
from thunes.engine.results import PortfolioRun, ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.strategy.events import CompiledRules

__all__ = ["PortfolioEngine", "PortfolioRun", "ReplayResult"]


class PortfolioEngine:
    """Drives any `Broker`. `batch`: run the whole history in one compiled loop when every
    broker is simulated and every strategy has compiled rules (thunes/engine/batch_loop.py);
    the same calls, so the same fills, as event by event, which replay (and live) does."""

    def __init__(
        self, lanes: list[Lane], batch: bool = False, recorder: Recorder | None = None
    ) -> None:
        self.lanes = lanes
        self.batch = batch
        self.recorder = recorder  # hears each order and fill of a per-event run

    def run(self) -> PortfolioRun:
        rules = self._compiled() if self.batch else None
        if rules is not None:
            return run_compiled(self.lanes, rules)
        lanes = [_candles(j, lane.history()) for j, lane in enumerate(self.lanes)]
        times = [t for t, _ in lanes]
        timeline = union(times)
        kernel = Kernel(self.lanes, max(map(len, times)), self.recorder)
        steps: list[list[Candle]] = [[] for _ in range(len(timeline))]
        at = [np.searchsorted(timeline, t) for t in times]  # each lane's bars' steps
        for where, (_, candles) in zip(at, lanes, strict=True):
            for step, candle in zip(where.tolist(), candles, strict=True):
                steps[step].append(candle)
        equity = np.array([kernel.step_candles(candles) for candles in steps])
        results = [
            ReplayResult(b.fills, b.skipped, equity[where])
            for b, where in zip(kernel.brokers, at, strict=True)
        ]
        return PortfolioRun(timeline, equity, results)

    def _compiled(self) -> list[CompiledRules] | None:
        rules = [lane.strategy.compiled() for lane in self.lanes]
        simulated = all(isinstance(lane.broker, SimBroker) for lane in self.lanes)
        return None if not simulated or None in rules else [r for r in rules if r is not None]


def _candles(j: int, frame: pd.DataFrame) -> tuple[Ints, list[Candle]]:
    """Lane j's bar open times, and its bars as the kernel's candles: the values a feed's
    events carry, read from the columns. A replay steps bars by their open and never reads
    a close time."""
    times = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    listed = times.tolist()
    following: list[int | None] = [*listed[1:], None]  # orders decided on a bar leave then
    values = [column.tolist() for column in as_columns(frame).values()]
    return times, list(zip(repeat(j), listed, *values, following, strict=False))
