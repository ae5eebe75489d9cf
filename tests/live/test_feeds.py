"""Feeds and the market clock: a candle leaves a feed only once closed on market time, the
warm-up history ends where the stream begins, and the clock runs at `speed`."""

from __future__ import annotations

import asyncio

import pandas as pd

from thunes.exchange.sim import SimExchange
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import CandleClosed
from thunes.feeds.sim import SimFeed

START = int(pd.Timestamp("2024-03-01 00:30", tz="UTC").value // 1_000_000)
HOUR = 3_600_000


def _take(feed: SimFeed, n: int) -> list[tuple[CandleClosed, int]]:
    """The first n events, each with the market time at which it was handed over."""

    async def take() -> list[tuple[CandleClosed, int]]:
        out: list[tuple[CandleClosed, int]] = []
        async for event in feed:
            assert isinstance(event, CandleClosed)
            out.append((event, feed.clock.now_ms()))
            if len(out) == n:
                return out
        return out

    return asyncio.run(take())


def test_the_sim_stream_releases_each_candle_once_closed_after_its_history() -> None:
    sim = SimExchange(seed=7)
    feed = SimFeed(sim, ["BTC/USDT", "ETH/USDT"], "1h", MarketClock(START, speed=0))
    history = feed.history("BTC/USDT", 3)
    assert [c.close_ms for c in history] == [START - HOUR // 2 - k * HOUR for k in (2, 1, 0)]
    events = _take(feed, 6)
    assert all(event.close_ms <= now for event, now in events)  # never a forming candle
    assert [e.symbol for e, _ in events] == ["BTC/USDT", "ETH/USDT"] * 3  # time, then symbol
    assert events[0][0].time_ms == history[-1].close_ms  # no gap, no overlap with warm-up
    stored = sim.candles("BTC/USDT", "1h", events[0][0].time_ms, events[-1][0].close_ms)
    assert [e.close for e, _ in events if e.symbol == "BTC/USDT"] == stored["close"].tolist()


def test_the_clock_runs_speed_market_seconds_per_real_second() -> None:
    real = [100.0]
    clock = MarketClock(START, speed=60, real=lambda: real[0])
    real[0] += 2.5
    assert clock.now_ms() == START + 150_000
    clock.advance(START + 10 * HOUR)  # the feed saw a later exchange time: now follows it
    assert clock.now_ms() == START + 10 * HOUR
    frozen = MarketClock(START, speed=0)  # as fast as it can: only the feed moves it
    asyncio.run(frozen.until(START + HOUR))
    assert frozen.now_ms() == START + HOUR


def test_a_backlog_on_a_fast_clock_still_lets_other_tasks_run() -> None:
    """A clock far ahead of the engine (144,000x on a loaded host) hands out a backlog of due
    candles without waiting: a stop or a deadline must still get to run between them."""
    real = [100.0]
    clock = MarketClock(START, speed=144_000, real=lambda: real[0])
    real[0] += 3_600.0  # the market is 16 years ahead: every candle below is already due

    async def race() -> tuple[int, int]:
        ran = asyncio.Event()
        handed = 0

        async def other() -> None:
            ran.set()

        task = asyncio.ensure_future(other())
        while not ran.is_set() and handed < 5_000:
            await clock.until(START + handed * HOUR)
            handed += 1
        await task
        return handed, clock.now_ms()

    handed, now = asyncio.run(race())
    assert handed <= 512  # the other task ran within 512 due events
    assert now >= START + 144_000 * HOUR  # the clock itself was not slowed
