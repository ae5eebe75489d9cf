"""A soak of the ccxt.pro feed on the stand-in: market days at high speed under a random fault
every few candles; it reports what it rode out (run with -s to see the counts)."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.fakes.binance import FakeBinance
from tests.feeds.test_ccxt_feed import T0, assert_every_candle_once, candles, feed_on, run
from thunes.feeds.ccxt_feed import CcxtFeed


@pytest.mark.slow
def test_soak_three_market_days_with_a_fault_every_hundred_market_minutes() -> None:
    """30m candles at 12,000x (a market day in 7 s), a random fault every 0.5 s real."""
    faults: dict[str, int] = {}
    chance = random.Random(1)

    async def faulty(server: FakeBinance, feed: CcxtFeed) -> None:
        end = server.clock.start_ms + 3 * 86_400_000
        while server.clock.now_ms() < end:
            await asyncio.sleep(0.5)
            kind = chance.choice(["close", "stall", "drops", "5xx", "429"])
            faults[kind] = faults.get(kind, 0) + 1
            if kind == "stall":
                server.faults.stalled = True
                await asyncio.sleep(chance.uniform(0.4, 0.8))
                server.faults.stalled = False
            elif kind == "drops":
                server.faults.drop_every = 3
                await asyncio.sleep(0.5)
                server.faults.drop_every = 0
            else:
                if kind == "5xx":
                    server.faults.server_error_next("/api/v3/klines")
                if kind == "429":
                    server.faults.rate_limit_next(1, retry_after_s=0)
                server.close_sockets()

    with FakeBinance(start_ms=T0, speed=12_000, tick_s=0.02) as server:
        feed = feed_on(server, timeframe="30m")
        received = run(server, feed, faulty)
        assert_every_candle_once(server, feed, received)
    health = feed.health
    print(
        f"\nsoak: faults {faults}; {health.delivered} candles, {health.reconnects} reconnects, "
        f"{health.stalls} stalls, {health.backfilled} back-filled, {health.missing} missing"
    )
    assert candles(received)[-1].close_ms >= T0 + 3 * 86_400_000  # from the start, no gap
    cuts = sum(faults.get(kind, 0) for kind in ("close", "5xx", "429"))
    assert health.reconnects >= cuts // 2 > 0  # a cut during a back-off closes nothing
