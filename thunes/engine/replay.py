"""The event-driven engine over stored candles: each timestamp through the kernel.

Each bar: the broker fills what the bar's prices reach, the strategy hears of each fill,
then decides at the close from a rolling window of at most `warmup` closed bars, never the
bars ahead nor the whole past (thunes/engine/kernel.py, which paper and live run too on a
feed's candles). Several symbols share one wallet, in the configured symbol order.
"""

from __future__ import annotations

import numpy as np

from thunes.engine.batch_loop import run_compiled, union
from thunes.engine.kernel import Arrival, Kernel, Recorder
from thunes.engine.lane import Lane
from thunes.engine.results import PortfolioRun, ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.feeds.recorded import candle_events
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
        # a replay steps bars by their open and never reads a close time: 0 for "unknown"
        events = [candle_events(lane.symbol, lane.candles, 0) for lane in self.lanes]
        times = [[e.time_ms for e in lane] for lane in events]
        timeline = union([np.asarray(t, dtype=np.int64) for t in times])
        kernel = Kernel(self.lanes, max(map(len, events)), self.recorder)
        cursor = [0] * len(self.lanes)
        lane_equity = [np.empty(len(t)) for t in times]
        equity = np.empty(len(timeline))
        for step, now in enumerate(timeline.tolist()):
            arrivals: list[Arrival] = []
            for j, lane in enumerate(events):
                i = cursor[j]
                if i < len(lane) and lane[i].time_ms == now:
                    following = times[j][i + 1] if i + 1 < len(lane) else None
                    arrivals.append((j, lane[i], following))
            value = equity[step] = kernel.step(arrivals)
            for j, _, _ in arrivals:
                lane_equity[j][cursor[j]] = value
                cursor[j] += 1
        results = [
            ReplayResult(b.fills, b.skipped, e)
            for b, e in zip(kernel.brokers, lane_equity, strict=True)
        ]
        return PortfolioRun(timeline, equity, results)

    def _compiled(self) -> list[CompiledRules] | None:
        rules = [lane.strategy.compiled() for lane in self.lanes]
        simulated = all(isinstance(lane.broker, SimBroker) for lane in self.lanes)
        return None if not simulated or None in rules else [r for r in rules if r is not None]
