"""The drift monitor both paths share: a backtest feeds it its closed trades and bars after
the run (backtest.py), a paper or live session as they happen (watch.py). It standardises
each stream against its reference, feeds one detector per stream and symbol, and says when
one alarms. The whole monitor pickles: that is the state a restart resumes (persist.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from thunes.drift.detectors import Detector, RiverDetector

_MIN_STD = 1e-9


@dataclass(frozen=True, slots=True)
class Alarm:
    time_ms: int
    stream: str
    symbol: str
    value: float  # the standardised value that tipped it (z; for a flag, 1.0)


@dataclass
class Baseline:
    """The mean and standard deviation a stream is standardised against: given (the config's
    reference, or a reference backtest's), or learnt from its first `warmup` values, then
    fixed. A flag (loss) is standardised by its rate: std = sqrt(p (1 - p))."""

    warmup: int
    flag: bool = False
    mean: float = math.nan
    std: float = math.nan
    n: int = 0
    _sum: float = 0.0
    _sq: float = 0.0

    @property
    def ready(self) -> bool:
        return self.std == self.std

    def fix(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, max(std, _MIN_STD)

    def z(self, x: float) -> float | None:
        """x standardised, or None while the baseline still learns (x is learnt from)."""
        if self.ready:
            return (x - self.mean) / self.std
        self.n += 1
        self._sum += x
        self._sq += x * x
        if self.n >= self.warmup:
            mean = self._sum / self.n
            if self.flag:
                std = math.sqrt(mean * (1 - mean))
            else:
                std = math.sqrt(max(self._sq / self.n - mean * mean, 0.0) * self.n / (self.n - 1))
            self.fix(mean, std)
        return None


@dataclass
class Channel:
    """One stream of one symbol: its baseline and its detector."""

    baseline: Baseline
    detector: RiverDetector
    seen: int = 0
    alarms: int = 0


@dataclass
class Window:
    """Values gathered `size` at a time, for the streams that summarise a window."""

    size: int
    values: list[float] = field(default_factory=list)

    def add(self, x: float) -> list[float] | None:
        self.values.append(x)
        if len(self.values) < self.size:
            return None
        full, self.values = self.values, []
        return full


class DriftMonitor:
    """`observe` a stream's raw value; `bar` a close (volatility), `quote` a book top
    (spread). Each returns the alarm it raised, or None."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.signature = detector.signature()
        self.channels: dict[tuple[str, str], Channel] = {}
        self.last_close: dict[str, float] = {}
        self.returns: dict[str, Window] = {}
        self.spreads: dict[str, Window] = {}
        self.alarms: list[Alarm] = []

    def watches(self, stream: str) -> bool:
        return stream in self.detector.streams

    def _channel(self, stream: str, symbol: str) -> Channel:
        key = (stream, symbol)
        if key not in self.channels:
            d = self.detector
            baseline = Baseline(d.warmup, flag=stream == "loss")
            if stream in d.reference:
                baseline.fix(*d.reference[stream])
            self.channels[key] = Channel(baseline, d.make())
        return self.channels[key]

    def observe(self, stream: str, symbol: str, value: float, time_ms: int) -> Alarm | None:
        if not self.watches(stream) or value != value:
            return None
        channel = self._channel(stream, symbol)
        z = channel.baseline.z(value)
        if z is None:
            return None
        channel.seen += 1
        channel.detector.update(self.detector.fed(stream, value, z))
        if not channel.detector.drift_detected:
            return None
        channel.alarms += 1
        alarm = Alarm(time_ms, stream, symbol, z)
        self.alarms.append(alarm)
        return alarm

    def bar(self, symbol: str, close: float, time_ms: int) -> Alarm | None:
        """A closed bar: every `window` log returns make one realised-volatility value."""
        if not self.watches("volatility"):
            return None
        last = self.last_close.get(symbol)
        self.last_close[symbol] = close
        if last is None or not (last > 0 and close > 0):
            return None
        window = self.returns.setdefault(symbol, Window(self.detector.window))
        full = window.add(math.log(close / last))
        if full is None:
            return None
        mean = sum(full) / len(full)
        var = sum((r - mean) ** 2 for r in full) / (len(full) - 1) if len(full) > 1 else 0.0
        return self.observe("volatility", symbol, math.log(math.sqrt(var) + _MIN_STD), time_ms)

    def quote(self, symbol: str, bid: float, ask: float, time_ms: int) -> Alarm | None:
        """A book top: every `window` quotes make one mean relative spread."""
        if not self.watches("spread") or not (bid > 0 and ask >= bid):
            return None
        window = self.spreads.setdefault(symbol, Window(self.detector.window))
        full = window.add((ask - bid) / ((ask + bid) / 2))
        return (
            None if full is None else self.observe("spread", symbol, sum(full) / len(full), time_ms)
        )

    def trade_closed(self, symbol: str, ret: float, time_ms: int) -> list[Alarm]:
        """A closed trade's return, and its loss flag."""
        found = [
            self.observe("trade_return", symbol, ret, time_ms),
            self.observe("loss", symbol, float(ret < 0), time_ms),
        ]
        return [a for a in found if a is not None]
