"""The account's own stream on the Binance stand-in through the REAL ccxt.pro client, driving
an ExchangeBroker as the live session wires it: fills booked as the stream brings them and
once only (stream and poll), none lost across a drop or a stall, a quiet account left alone,
a refused key in one line, and a venue clock 30 s off (-1021) resynced."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.exchange.conftest import MINUTE, T0, steady_then_dip
from tests.exchange.standin import SYMBOL
from tests.execution.test_exchange_broker import BTC, IDS, Desk, buy, desk_on, limit
from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from thunes.domain.orders import OrderIntent, OrderType, Side
from thunes.errors import ConfigError, ExchangeError
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.exchange.ccxt_orders import CcxtOrders
from thunes.exchange.ccxt_user_stream import CcxtUserStream
from thunes.feeds.link import Resilience
from thunes.feeds.user_feed import UserFeed, ended_to

QUICK = Resilience(stall_s=0.3, connect_s=2.0, backoff_s=0.05, max_backoff_s=0.2)
FEES = {"maker": 0.001, "taker": 0.001, "from_received": True}


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_KEY", API_KEY)
    monkeypatch.setenv("STANDIN_SECRET", SECRET)


@pytest.fixture
def dip(tmp_path: Path) -> Iterator[Desk]:
    """At 100 at T0 + 5 min (pinned); the price dips to 90 at minute 10."""
    with desk_on(tmp_path, steady_then_dip(), 5) as desk:
        yield desk


def wired(desk: Desk, resilience: Resilience = QUICK, orders: bool = True) -> UserFeed:
    """The private stream feeding the desk's broker, as the live session wires it (`orders`:
    an order that ended is looked up at once)."""
    broker = desk.broker
    stream = CcxtUserStream(desk.exchange, [SYMBOL])
    return UserFeed(
        stream,
        broker.report,
        on_orders=ended_to(broker.recheck) if orders else None,
        on_resume=broker.recheck,
        resilience=resilience,
    )


async def until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def session(desk: Desk, feed: UserFeed, scenario: Callable[[], Awaitable[None]]) -> None:
    """`scenario` while the feed runs and the broker works on a timer, as the engine's."""

    async def main() -> None:
        task = feed.start()

        async def timer() -> None:
            while True:
                await desk.broker.work()
                await asyncio.sleep(0.05)

        pump = asyncio.create_task(timer())
        try:
            await until(lambda: feed.health.state == "connected" or task.done())
            await scenario()
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            await feed.stop()
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error

    asyncio.run(main())


def test_a_resting_order_filled_reaches_the_broker_through_the_stream(dip: Desk) -> None:
    feed, broker = wired(dip, orders=False), dip.broker
    dip.send(limit(95.0, 0.1))  # rests; the broker's own check is due only in 5 s (its clock)

    async def fill() -> None:
        await broker.work()  # the look-up asked at the subscription: still open
        dip.server.clock.pin(T0 + 11 * MINUTE)  # the dip to 90 trades through it
        await until(lambda: len(broker.fills) == 1)

    session(dip, feed, fill)
    [booked] = broker.fills
    assert (booked.order_id, booked.price, booked.amount) == (IDS.of(1), 95.0, 0.1)
    assert feed.health.delivered == 1 and broker.working == []
    assert dip.server.requests_to("/api/v3/myTrades") == []  # no poll needed it
    assert len(dip.store.fills()) == 1


def test_a_trade_both_answered_and_streamed_is_booked_once(dip: Desk) -> None:
    feed, broker = wired(dip), dip.broker

    async def market_buy() -> None:
        broker.submit(buy(50.0), 0)
        await broker.work()  # the answer carries the trade; the stream brings it too
        await until(lambda: feed.health.delivered >= 1)
        await broker.work()

    session(dip, feed, market_buy)
    assert [f.order_id for f in broker.fills] == [IDS.of(1)]
    assert len(dip.store.fills()) == 1 and broker.position == 0.49945
    assert dip.server.stats.trades == 1


def stall(server: FakeBinance, feed: UserFeed) -> None:
    server.faults.stalled = True  # open and silent: no event, no answer to the probe


def cut(server: FakeBinance, feed: UserFeed) -> None:
    server.faults.stalled = True  # what was on the wire is lost with the socket
    server.close_sockets()


@pytest.mark.parametrize("fault", [stall, cut])
def test_a_fill_made_while_the_link_was_down_is_read_back_after_the_reconnect(
    dip: Desk, fault: Callable[[FakeBinance, UserFeed], None]
) -> None:
    feed, broker = wired(dip), dip.broker
    dip.send(limit(95.0, 0.1))

    async def fill_while_down() -> None:
        fault(dip.server, feed)
        dip.server.clock.pin(T0 + 11 * MINUTE)  # filled; its executionReport is never sent
        await until(lambda: feed.health.state != "connected")
        dip.server.faults.stalled = False
        await until(lambda: len(broker.fills) == 1 and feed.health.state == "connected")

    session(dip, feed, fill_while_down)
    assert [f.order_id for f in broker.fills] == [IDS.of(1)] and len(dip.store.fills()) == 1
    assert feed.health.reconnects >= 1 and feed.health.delivered == 0  # read back by REST
    assert len(dip.server.requests_to("/api/v3/myTrades")) >= 1
    if fault is stall:
        assert feed.health.stalls >= 1


def test_a_quiet_account_is_probed_not_reconnected(dip: Desk) -> None:
    feed = wired(dip, Resilience(stall_s=0.1, connect_s=10.0))

    async def quiet() -> None:
        first = feed.health.last_message_real
        await until(lambda: (feed.health.last_message_real or 0.0) > (first or 0.0) + 0.5)

    session(dip, feed, quiet)  # probes answered over half a second and more of silence
    health = feed.health
    assert (health.reconnects, health.stalls, health.delivered) == (0, 0, 0)
    assert health.last_error == ""


def test_a_refused_key_ends_the_stream_in_one_line(
    dip: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_SECRET", "not-the-secret")
    exchange = CcxtExchange(
        exchange_id="binance",
        base_url=dip.server.url,
        api_key_env="STANDIN_KEY",
        secret_env="STANDIN_SECRET",
        fees=FEES,
        slippage=0.0,
    )
    feed = UserFeed(CcxtUserStream(exchange, [SYMBOL]), dip.broker.report, resilience=QUICK)

    async def run() -> None:
        await feed.start()

    with pytest.raises(ExchangeError) as refused:
        asyncio.run(run())
    assert str(refused.value) == (
        'binance private stream: the key was refused (binance {"code":-1022,"msg":"Signature '
        'for this request is not valid."}); check STANDIN_KEY (exchange.api_key_env) and '
        "STANDIN_SECRET (exchange.secret_env)"
    )
    assert "not-the-secret" not in str(refused.value)
    assert dip.server.stats.errors[-1022] == 1 and feed.health.reconnects == 0
    assert feed.health.state == "closed"


def test_a_missing_key_is_named_before_any_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STANDIN_SECRET")
    exchange = CcxtExchange(
        exchange_id="binance",
        base_url="http://127.0.0.1:9",
        api_key_env="STANDIN_KEY",
        secret_env="STANDIN_SECRET",
        fees=FEES,
        slippage=0.0,
    )
    with pytest.raises(ConfigError, match=r"^exchange.secret_env: .* STANDIN_SECRET is not set$"):
        CcxtUserStream(exchange, [SYMBOL])


@pytest.fixture
def real_time() -> Iterator[FakeBinance]:
    """A venue whose market runs on its own clock in real time, as Binance's does."""
    with FakeBinance([BTC], balances={"USDT": "1000"}) as server:
        yield server


def venue(server: FakeBinance, **options: bool) -> CcxtExchange:
    return CcxtExchange(
        exchange_id="binance",
        base_url=server.url,
        api_key_env="STANDIN_KEY",
        secret_env="STANDIN_SECRET",
        fees=FEES,
        slippage=0.0,
        options=options,
    )


def test_a_minus_1021_resyncs_the_clock_and_places_the_order_once(real_time: FakeBinance) -> None:
    exchange = venue(real_time)
    exchange.market_filters(SYMBOL)  # markets loaded on the host's clock
    orders = CcxtOrders(exchange.client)
    real_time.skew_clock(30_000)  # the venue's clock is now 30 s ahead of ours
    order = OrderIntent(Side.BUY, OrderType.MARKET, quote=50.0, tag="entry")
    placed = orders.place(SYMBOL, "thunes-skew-1", order)
    assert placed.order.status == "filled" and len(placed.trades) == 1
    sent = real_time.requests_to("/api/v3/order")
    assert [(r.status, r.params["newClientOrderId"]) for r in sent] == [
        (400, "thunes-skew-1"),
        (200, "thunes-skew-1"),
    ]
    assert real_time.stats.errors[-1021] == 1 and real_time.stats.orders == 1
    assert len(real_time.requests_to("/api/v3/time")) == 1  # the resync


def test_a_clock_synced_at_start_is_never_refused(real_time: FakeBinance) -> None:
    real_time.skew_clock(-30_000)
    exchange = venue(real_time, adjustForTimeDifference=True)  # as on a venue by default
    exchange.market_filters(SYMBOL)
    CcxtOrders(exchange.client).balances()
    assert real_time.stats.errors[-1021] == 0


def test_the_private_stream_resubscribes_on_the_venues_clock_after_minus_1021(
    real_time: FakeBinance,
) -> None:
    exchange = venue(real_time)
    exchange.market_filters(SYMBOL)
    orders = CcxtOrders(exchange.client)
    fills: list[object] = []
    feed = UserFeed(CcxtUserStream(exchange, [SYMBOL]), fills.extend, resilience=QUICK)

    async def main() -> None:
        real_time.skew_clock(30_000)
        feed.start()
        await until(lambda: feed.health.state == "connected" and feed.health.reconnects >= 1)
        order = OrderIntent(Side.BUY, OrderType.MARKET, quote=50.0, tag="entry")
        await asyncio.to_thread(orders.place, SYMBOL, "thunes-skew-2", order)
        await until(lambda: len(fills) == 1)
        await feed.stop()

    asyncio.run(main())
    assert "recvWindow" in feed.health.last_error and feed.health.stalls == 0
    assert real_time.stats.errors[-1021] == 2  # the subscription, then the order: each once
    assert real_time.stats.orders == 1


def test_a_clock_still_refused_after_the_resync_rejects_the_order_unplaced(dip: Desk) -> None:
    dip.server.credentials.clock_offset_ms = 30_000  # signatures only: /time shows no skew
    broker = dip.send(buy(50.0))
    # two refusals for the open-orders read before the send (kept the last count), two for
    # the order (tried, resynced, tried once more): never placed
    assert dip.server.stats.errors[-1021] == 4 and dip.server.stats.orders == 0
    record = dip.store.order(IDS.of(1))
    assert record is not None and record.status == "rejected"
    assert "outside of the recvWindow" in record.reason and broker.fills == []
