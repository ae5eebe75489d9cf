"""The event-driven engine: closed candles one at a time through strategy, risk and broker.

Each bar: the broker fills what the bar's prices reach, the strategy hears of each fill,
then decides at the close from a rolling window of at most `warmup` closed bars, never the
bars ahead nor the whole past. Several symbols share one wallet: at each timestamp every
symbol's fills come first (they happen at the open), then every symbol's decisions, in the
configured symbol order. Paper and live trading swap the candle loop for a feed and the
simulated broker for a real one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from thunes.data.candles import as_columns
from thunes.domain.orders import Command
from thunes.engine.batch_loop import run_compiled, union
from thunes.engine.lane import Lane
from thunes.engine.results import PortfolioRun, ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.execution.broker import Broker
from thunes.execution.filters import FloatArray
from thunes.strategy.events import Bar, CompiledRules

__all__ = ["PortfolioEngine", "PortfolioRun", "ReplayResult"]


class _Window(Mapping[str, FloatArray]):
    """The rolling window of closed bars, sliced only for the columns a strategy reads."""

    __slots__ = ("_columns", "_start", "_stop")

    def __init__(self, columns: dict[str, FloatArray], start: int, stop: int) -> None:
        self._columns, self._start, self._stop = columns, start, stop

    def __getitem__(self, name: str) -> FloatArray:
        return self._columns[name][self._start : self._stop]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


@dataclass(frozen=True)
class _Feed:
    """One symbol's candles: numpy columns for windows, plain lists for the per-bar reads
    (a list item is a float already; a numpy item is a 0.1 us boxing each time)."""

    columns: dict[str, FloatArray]
    times: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]

    @classmethod
    def of(cls, candles: pd.DataFrame) -> _Feed:
        columns = as_columns(candles)
        times = pd.DatetimeIndex(candles.index).as_unit("ms").asi8.tolist()
        return cls(
            columns,
            times,
            *(columns[name].tolist() for name in ("open", "high", "low", "close", "volume")),
        )


class PortfolioEngine:
    """Drives any `Broker`. `batch`: run the whole history in one compiled loop when every
    broker is simulated and every strategy has compiled rules (thunes/engine/batch_loop.py);
    the same calls, so the same fills, as event by event, which replay (and live) does."""

    def __init__(self, lanes: list[Lane], batch: bool = False) -> None:
        self.lanes = lanes
        self.batch = batch

    def run(self) -> PortfolioRun:
        rules = self._compiled() if self.batch else None
        if rules is not None:
            return run_compiled(self.lanes, rules)
        feeds = [_Feed.of(lane.candles) for lane in self.lanes]
        timeline = union([np.asarray(f.times, dtype=np.int64) for f in feeds])
        brokers = [lane.broker for lane in self.lanes]
        cursor = [0] * len(self.lanes)
        last_close = [0.0] * len(self.lanes)
        lane_equity = [np.empty(len(f.times)) for f in feeds]
        equity = np.empty(len(timeline))
        for step, now in enumerate(timeline.tolist()):
            active = [
                j
                for j, feed in enumerate(feeds)
                if cursor[j] < len(feed.times) and feed.times[cursor[j]] == now
            ]
            for j in active:
                self._fill(j, cursor[j], feeds[j], now)
            for j in active:
                self._decide(j, cursor[j], feeds[j])
                last_close[j] = feeds[j].close[cursor[j]]
            value = brokers[0].cash  # the account's, which every symbol shares
            for broker, close in zip(brokers, last_close, strict=True):
                value += broker.holdings * close
            equity[step] = value
            for j in active:
                lane_equity[j][cursor[j]] = value
                cursor[j] += 1
        results = [
            ReplayResult(b.fills, b.skipped, e) for b, e in zip(brokers, lane_equity, strict=True)
        ]
        return PortfolioRun(timeline, equity, results)

    def _fill(self, j: int, i: int, feed: _Feed, now: int) -> None:
        lane = self.lanes[j]
        fills = lane.broker.on_bar(i, now, feed.open[i], feed.high[i], feed.low[i])
        self._deliver_events(lane.broker)  # rejections at fill time (dust, cash)
        for fill in fills:
            self._submit(lane.broker, lane.strategy.on_fill(fill, lane.broker))

    def _decide(self, j: int, i: int, feed: _Feed) -> None:
        if i == len(feed.times) - 1:
            return  # a decision on the last bar could never fill
        lane = self.lanes[j]
        lane.broker.at(feed.times[i + 1])  # its orders leave at the next open
        window = _Window(feed.columns, max(0, i + 1 - lane.strategy.warmup), i + 1)
        bar = Bar(
            i, feed.times[i], feed.open[i], feed.high[i], feed.low[i], feed.close[i], feed.volume[i]
        )
        self._submit(lane.broker, lane.strategy.on_bar(bar, window, lane.broker))

    def _compiled(self) -> list[CompiledRules] | None:
        rules = [lane.strategy.compiled() for lane in self.lanes]
        simulated = all(isinstance(lane.broker, SimBroker) for lane in self.lanes)
        return None if not simulated or None in rules else [r for r in rules if r is not None]

    def _submit(self, broker: Broker, intents: list[Command]) -> None:
        for intent in intents:
            open_positions = sum(lane.broker.committed for lane in self.lanes)
            broker.submit(intent, open_positions=open_positions)
        self._deliver_events(broker)

    def _deliver_events(self, broker: Broker) -> None:
        """Hand the strategy what happened to its orders; its answers are orders too."""
        if not broker.events:
            return  # most calls: nothing happened
        lane = next(lane for lane in self.lanes if lane.broker is broker)
        while broker.events:
            events, broker.events = broker.events, []
            for event in events:
                answer = lane.strategy.on_order_event(event, broker)
                for intent in answer:
                    broker.submit(intent, sum(other.broker.committed for other in self.lanes))
