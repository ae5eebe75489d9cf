"""One moment of market time through strategy, risk and broker: the step replay and live share.

At each timestamp every symbol's fills come first (they happen at the open), then every
symbol's decisions at the close, in the lanes' order; several symbols share one wallet.
Candles arrive one at a time, from a stored history (replay) or a feed (paper, live), and
each is appended to its lane's column buffer: the strategy reads the rolling window of at
most `warmup` closed bars that ends with it, never a bar ahead, whoever drives the kernel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np

from thunes.domain.candles import OHLCV_COLUMNS
from thunes.domain.orders import Command, Fill, OrderEvent
from thunes.engine.lane import Lane
from thunes.execution.filters import FloatArray
from thunes.feeds.events import CandleClosed
from thunes.strategy.events import Bar

Arrival = tuple[int, CandleClosed, int | None]
"""(lane, its closed candle, the open at which orders decided on it leave; None: no decision)."""

Candle = tuple[int, int, float, float, float, float, float, int | None]
"""An arrival as plain values: (lane, open time ms, open, high, low, close, volume, the next
open or None). Replay reads them from its columns: building an event per bar cost it ~15%."""


class Window(Mapping[str, FloatArray]):
    """The rolling window of closed bars, sliced only for the columns a strategy reads.
    Valid during the call it is handed to: the buffer under it moves on afterwards."""

    __slots__ = ("_columns", "_start", "_stop")

    def __init__(self, columns: dict[str, FloatArray], start: int, stop: int) -> None:
        self._columns, self._start, self._stop = columns, start, stop

    def __getitem__(self, name: str) -> FloatArray:
        return self._columns[name][self._start : self._stop]

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


class ColumnBuffer:
    """Appendable OHLCV columns keeping at least the last `keep` bars: a live run's memory
    stays bounded (the kept bars move to the front when the arrays fill), and a replay that
    sizes it for its whole history never moves anything."""

    def __init__(self, keep: int, capacity: int = 0) -> None:
        self.keep = max(1, keep)
        size = max(capacity, 4 * self.keep, 256)
        self.columns = {name: np.empty(size) for name in OHLCV_COLUMNS}
        self._open, self._high, self._low, self._close, self._volume = self.columns.values()
        self.rows = 0
        self._window = Window(self.columns, 0, 0)

    def append(self, open_: float, high: float, low: float, close: float, volume: float) -> None:
        n = self.rows
        if n == len(self._open):
            self._make_room()
            n = self.rows
        self._open[n], self._high[n], self._low[n] = open_, high, low
        self._close[n], self._volume[n] = close, volume
        self.rows = n + 1

    def window(self) -> Window:
        """The last `keep` bars (fewer at the start): the one window, moved on (each is
        valid only during its call: a new one per bar cost every step)."""
        window, rows = self._window, self.rows
        window._start, window._stop = max(0, rows - self.keep), rows
        return window

    def _make_room(self) -> None:
        kept = self.keep
        for column in self.columns.values():
            column[:kept] = column[self.rows - kept : self.rows]
        self.rows = kept


class Recorder(Protocol):
    """Where orders and fills are written before the engine acts on them (thunes/state/ will
    provide the SQLite one); replay records nothing."""

    def sending(self, symbol: str, command: Command) -> None:
        """An intent about to reach the broker."""
        ...

    def filled(self, fill: Fill) -> None:
        """A fill about to reach the strategy."""
        ...

    def event(self, symbol: str, event: OrderEvent) -> None:
        """An order accepted, canceled or rejected, about to reach the strategy."""
        ...


class Kernel:
    """The lanes' strategies, brokers and windows, stepped one timestamp at a time."""

    def __init__(
        self, lanes: list[Lane], capacity: int = 0, recorder: Recorder | None = None
    ) -> None:
        self.lanes = lanes
        self.brokers = [lane.broker for lane in lanes]
        self.buffers = [ColumnBuffer(lane.strategy.warmup, capacity) for lane in lanes]
        self.bars = [0] * len(lanes)  # bars stepped per lane: the next Bar.index
        self.last_close = [math.nan] * len(lanes)
        self.recorder = recorder

    def warm(self, j: int, history: Sequence[CandleClosed]) -> None:
        """Closed bars before the first live one, into lane j's window only: nothing trades
        on them, so the strategy can act on the first live close."""
        buffer = self.buffers[j]
        for candle in history:
            buffer.append(candle.open, candle.high, candle.low, candle.close, candle.volume)
        if history:
            self.last_close[j] = history[-1].close

    def step(self, arrivals: Sequence[Arrival]) -> None:
        """One timestamp's candles (one per lane at most): fills, then decisions.
        `step_candles` on the events' own fields: building its tuples cost the live engine
        a tenth of each step; and no equity (`equity()` when someone looks)."""
        for j, c, _ in arrivals:
            self._fill(j, c.time_ms, c.open, c.high, c.low)
        for j, c, next_open in arrivals:
            self._decide(j, c.time_ms, c.open, c.high, c.low, c.close, c.volume, next_open)

    def step_candles(self, candles: Sequence[Candle]) -> float:
        """`step` on the candles' values."""
        for j, time_ms, open_, high, low, _, _, _ in candles:
            self._fill(j, time_ms, open_, high, low)
        for candle in candles:
            self._decide(*candle)
        return self.equity()

    def equity(self) -> float:
        if not self.brokers:
            return math.nan  # no candle lane (a tick engine alone)
        value = self.brokers[0].cash  # the account's, which every symbol shares
        # a close per lane by construction: strict's check would cost every step
        for broker, close in zip(self.brokers, self.last_close, strict=False):
            if close == close:  # a lane with no price yet holds nothing
                value += broker.holdings * close
        return value

    def _fill(self, j: int, time_ms: int, open_: float, high: float, low: float) -> None:
        broker = self.brokers[j]
        fills = broker.on_bar(self.bars[j], time_ms, open_, high, low)
        if broker.events:
            self._deliver_events(j)  # rejections at fill time (dust, cash)
        if not fills:
            return  # most bars
        strategy = self.lanes[j].strategy
        for fill in fills:
            if self.recorder is not None:
                self.recorder.filled(fill)
            self._submit(j, strategy.on_fill(fill, broker))

    def _decide(
        self,
        j: int,
        time_ms: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        next_open: int | None,
    ) -> None:
        buffer, i = self.buffers[j], self.bars[j]
        buffer.append(open_, high, low, close, volume)
        self.bars[j] = i + 1
        self.last_close[j] = close
        if next_open is None:
            return  # a decision on the last bar could never fill
        lane = self.lanes[j]
        lane.broker.at(next_open, close)  # its orders leave at the next open
        bar = Bar(i, time_ms, open_, high, low, close, volume)
        self._submit(j, lane.strategy.on_bar(bar, buffer.window(), lane.broker))

    def _submit(self, j: int, intents: list[Command]) -> None:
        broker = self.brokers[j]
        for intent in intents:
            self._send(j, intent)
        if broker.events:
            self._deliver_events(j)

    def _send(self, j: int, intent: Command) -> None:
        if self.recorder is not None:
            self.recorder.sending(self.lanes[j].symbol, intent)
        open_positions = sum(broker.committed for broker in self.brokers)
        self.brokers[j].submit(intent, open_positions=open_positions)

    def _deliver_events(self, j: int) -> None:
        """Hand the strategy what happened to its orders; its answers are orders too."""
        broker, strategy = self.brokers[j], self.lanes[j].strategy
        while broker.events:
            events, broker.events = broker.events, []
            for event in events:
                if self.recorder is not None:
                    self.recorder.event(self.lanes[j].symbol, event)
                for intent in strategy.on_order_event(event, broker):
                    self._send(j, intent)
