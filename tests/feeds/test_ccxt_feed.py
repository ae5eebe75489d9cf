"""The ccxt.pro feed on the Binance stand-in: every closed candle once, in order, never a
forming one, equal to the exchange's REST klines, across the faults a live socket has."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterator

import pytest

from tests.fakes.binance import FakeBinance
from thunes.errors import ExchangeError
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_stream import CcxtStream
from thunes.feeds.ccxt_feed import CcxtFeed, open_feed
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import BookTicked, CandleClosed, MarketEvent
from thunes.feeds.link import Resilience

FAST = 300.0  # market seconds per real second: a 1m candle every 0.2 s
MINUTE = 60_000
T0 = 1_704_067_200_000 + 30_000  # mid-candle
SYMBOLS = ["BTC/USDT", "ETH/USDT"]
QUICK = Resilience(stall_s=0.3, connect_s=1.0, backoff_s=0.1, max_backoff_s=0.4)
# For a test of no fault: a watchdog slack enough that a loaded host cannot trip it (a stall
# would back-fill more and reconnect, which such a test counts); the stand-in ticks every 20 ms.
SLACK = Resilience(stall_s=10.0, connect_s=10.0)

Received = list[tuple[MarketEvent, int]]
"""Each event with the stand-in's market time when it arrived."""
Scenario = Callable[[FakeBinance, CcxtFeed], Awaitable[None]]


@pytest.fixture
def live() -> Iterator[FakeBinance]:
    with FakeBinance(start_ms=T0, speed=FAST, tick_s=0.02) as server:
        yield server


def rest(server: FakeBinance) -> CcxtExchange:
    fees = {"maker": 0.001, "taker": 0.001, "from_received": True}
    return CcxtExchange(exchange_id="binance", base_url=server.url, fees=fees, slippage=0.0)


def feed_on(
    server: FakeBinance,
    resilience: Resilience = QUICK,
    timeframe: str = "1m",
    since_ms: int | None = None,
) -> CcxtFeed:
    """The feed as the live engine opens it, on the stand-in's accelerated clock."""
    speed = server.clock.speed
    return open_feed(
        rest(server),
        SYMBOLS,
        timeframe,
        book=True,
        resilience=resilience,
        speed=speed,
        since_ms=since_ms,
    )


async def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait for `condition` (a bound, not a measure: a loaded host is slow to connect)."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def candles(received: Received) -> list[CandleClosed]:
    return [event for event, _ in received if isinstance(event, CandleClosed)]


def run(server: FakeBinance, feed: CcxtFeed, scenario: Scenario) -> Received:
    """Candles before the fault, the fault, then six more closes of every symbol."""

    async def main() -> Received:
        received: Received = []

        async def consume() -> None:
            async for event in feed:
                received.append((event, server.clock.now_ms()))

        task = asyncio.create_task(consume())
        try:
            await until(lambda: len(candles(received)) >= 3 * len(SYMBOLS))
            await scenario(server, feed)
            target = len(candles(received)) + 6 * len(SYMBOLS)
            await until(lambda: len(candles(received)) >= target)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return received

    return asyncio.run(main())


def assert_every_candle_once(
    server: FakeBinance, feed: CcxtFeed, received: Received, first: int | None = None
) -> None:
    """From `first` on (None: the first candle to close after the feed's start)."""
    got, tf = candles(received), feed.tf
    first = feed.clock.start_ms // tf * tf if first is None else first
    assert got[0].time_ms == first
    order = [(c.time_ms, SYMBOLS.index(c.symbol)) for c in got]
    assert order == sorted(order), "out of market-time order"
    assert all(c.close_ms <= seen for c, seen in received if isinstance(c, CandleClosed))
    exchange = rest(server)
    for symbol in SYMBOLS:
        mine = [c for c in got if c.symbol == symbol]
        opens = [c.time_ms for c in mine]
        assert opens == list(range(first, first + len(mine) * tf, tf)), "gap or double"
        klines = exchange.fetch_ohlcv(symbol, feed.timeframe, first, len(mine))
        assert [[c.time_ms, c.open, c.high, c.low, c.close, c.volume] for c in mine] == klines
    assert feed.health.missing == 0
    assert feed.health.delivered == len(got)
    ticks = [e for e, _ in received if isinstance(e, BookTicked)]
    assert ticks and all(t.ask == pytest.approx(t.bid + 0.01) for t in ticks)
    assert all(a.time_ms <= b.time_ms for a, b in itertools.pairwise(ticks))


async def abrupt_close(server: FakeBinance, feed: CcxtFeed) -> None:
    for _ in range(3):
        server.close_sockets()
        await asyncio.sleep(0.4)


async def silent_stall(server: FakeBinance, feed: CcxtFeed) -> None:
    server.faults.stalled = True
    await asyncio.sleep(1.2)  # six closes unheard
    server.faults.stalled = False


async def drop_every_5th(server: FakeBinance, feed: CcxtFeed) -> None:
    server.faults.drop_every = 5
    await asyncio.sleep(1.5)
    server.faults.drop_every = 0


async def server_error_during_backfill(server: FakeBinance, feed: CcxtFeed) -> None:
    server.faults.stalled = True
    await until(lambda: feed.health.stalls >= 1)
    server.faults.server_error_next("/api/v3/klines", times=2)  # the next back-fills fail
    await asyncio.sleep(0.5)
    server.faults.stalled = False


@pytest.mark.parametrize(
    "scenario", [abrupt_close, silent_stall, drop_every_5th, server_error_during_backfill]
)
def test_every_closed_candle_arrives_once_in_order_across_a_fault(
    live: FakeBinance, scenario: Scenario
) -> None:
    feed = feed_on(live)
    received = run(live, feed, scenario)
    assert_every_candle_once(live, feed, received)
    health = feed.health
    if scenario is drop_every_5th:
        assert live.faults.dropped > 0
    else:
        assert health.reconnects >= 1
    if scenario in (silent_stall, server_error_during_backfill):
        assert health.stalls >= 1 and health.backfilled >= 3
    if scenario is server_error_during_backfill:
        failed = [r for r in live.requests_to("/api/v3/klines") if r.status == 502]
        assert len(failed) == 2
        assert health.reconnects >= 3 and "ExchangeNotAvailable" in health.last_error


def test_a_planned_reconnect_every_five_market_minutes_loses_nothing(live: FakeBinance) -> None:
    # No fault here, and a watchdog slack enough that a loaded host cannot trip it.
    planned = Resilience(
        stall_s=1.0, connect_s=2.0, reconnect_every_s=300, reconnect_clock="market"
    )
    feed = feed_on(live, planned)

    async def wait_two_reconnects(server: FakeBinance, feed: CcxtFeed) -> None:
        await until(lambda: feed.health.reconnects >= 2)

    received = run(live, feed, wait_two_reconnects)
    assert_every_candle_once(live, feed, received)
    assert (feed.health.stalls, feed.health.state) == (0, "closed")


def test_a_restart_back_fills_every_candle_from_its_last_close(live: FakeBinance) -> None:
    last_close = live.clock.now_ms() // MINUTE * MINUTE - 7 * MINUTE  # down for 7 minutes
    feed = feed_on(live, SLACK, since_ms=last_close)
    assert [c.close_ms for c in feed.history("BTC/USDT", 3)][-1] == last_close  # its window

    async def nothing(server: FakeBinance, feed: CcxtFeed) -> None:
        return None

    received = run(live, feed, nothing)
    assert_every_candle_once(live, feed, received, first=last_close)
    missed = [c for c in candles(received) if c.close_ms <= feed.clock.start_ms]
    assert len(missed) >= 7 * len(SYMBOLS)
    assert feed.health.backfilled == len(missed)


def test_history_is_the_closed_candles_before_the_start(live: FakeBinance) -> None:
    feed = feed_on(live)
    bars = feed.history("ETH/USDT", 5)
    first = feed.clock.start_ms // MINUTE * MINUTE
    assert [c.time_ms for c in bars] == [first - k * MINUTE for k in range(5, 0, -1)]
    assert all(c.close_ms <= feed.clock.start_ms for c in bars)
    assert feed.history("ETH/USDT", 0) == []


def test_an_unknown_symbol_ends_the_feed_with_one_line(live: FakeBinance) -> None:
    exchange = rest(live)
    clock = MarketClock(live.clock.now_ms(), FAST)
    feed = CcxtFeed(exchange, CcxtStream(exchange), ["NOPE/USDT"], "1m", clock, resilience=QUICK)

    async def first() -> MarketEvent:
        return await anext(aiter(feed))

    with pytest.raises(ExchangeError, match=r"^binance stream: .*NOPE/USDT"):
        asyncio.run(first())
    assert feed.health.reconnects == 0


def test_a_bad_resilience_setting_names_itself() -> None:
    with pytest.raises(ValueError, match="stall_s should be > 0, is 0"):
        Resilience(stall_s=0)
