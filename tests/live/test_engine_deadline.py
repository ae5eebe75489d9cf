"""paper.duration on a running market clock: the closes due by the end are stepped even when
they come after the clock passed it (a loaded machine, a back-fill after a restart), and a
feed gone silent still ends the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.config.compose import composed
from thunes.components import build
from thunes.engine.lane import simulated_lanes
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import CandleClosed, MarketEvent
from thunes.feeds.recorded import candle_events
from thunes.live import engine as live_engine
from thunes.live.engine import LiveEngine, Stopped

TF_MS = 3_600_000
WARM = 60  # candles of history before the clock's start
SPEED = 3_600_000.0  # a market hour every millisecond: the clock outruns any feed


class LateFeed:
    """Each candle after `lag_s` real seconds, `silent_after` of them and then nothing."""

    def __init__(self, candles: list[CandleClosed], lag_s: float, silent_after: int) -> None:
        self.symbols, self.timeframe = [candles[0].symbol], "1h"
        self.clock = MarketClock(candles[WARM - 1].close_ms, SPEED)
        self._candles, self._lag_s, self._silent_after = candles, lag_s, silent_after

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        return self._candles[:WARM][-bars:]

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        for candle in self._candles[WARM : WARM + self._silent_after]:
            await asyncio.sleep(self._lag_s)
            self.clock.advance(candle.close_ms)
            yield candle
        await asyncio.sleep(3600)  # silent, not ended


def _engine(lag_s: float, silent_after: int, hours: int) -> LiveEngine:
    with composed("data=sim", "data.since=2024-01-01", "data.until=2024-01-10") as cfg:
        parts = build(cfg)
    frames = [parts.data.load(parts.exchange, m).frame for m in parts.markets]
    candles = candle_events(parts.markets[0].symbol, frames[0], TF_MS)
    lanes, _ = simulated_lanes(parts, frames, whole_history=False)
    feed = LateFeed(candles, lag_s, silent_after)
    return LiveEngine(lanes, feed, feed.clock.start_ms + hours * TF_MS)


def test_the_closes_due_by_the_end_are_stepped_though_they_come_after_it() -> None:
    engine = _engine(lag_s=0.05, silent_after=12, hours=5)
    assert asyncio.run(engine.run()) is Stopped.DURATION
    assert engine.health.steps == 5  # the clock passed the end before the first came
    assert engine.health.last_event_ms == engine.until_ms


def test_a_feed_silent_past_the_end_stops_the_session_with_what_it_stepped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_engine, "QUIET_S", 0.5)
    engine = _engine(lag_s=0.05, silent_after=2, hours=5)
    assert asyncio.run(asyncio.wait_for(engine.run(), 30)) is Stopped.DURATION
    assert engine.health.steps == 2
