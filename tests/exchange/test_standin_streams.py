"""The REAL ccxt.pro client on the stand-in's websockets: market streams, user data, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aiohttp
import ccxt.pro
import pytest

from tests.exchange.standin import SYMBOL, stream_client
from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from thunes.exchange.ccxt_exchange import CcxtExchange

FAST = 600.0
"""Market seconds per real second: ten 1m candles a second."""


@pytest.fixture
def live() -> Iterator[FakeBinance]:
    with FakeBinance(speed=FAST, tick_s=0.02) as server:
        yield server


def run[T](test: Callable[[Any], Coroutine[Any, Any, T]], server: FakeBinance, **extra: Any) -> T:
    """Run `test(client)` with a fresh ccxt.pro client on `server`, closed afterwards."""

    async def main() -> T:
        client = stream_client(server, **extra)
        try:
            return await test(client)
        finally:
            await client.close()

    return asyncio.run(main())


async def within[T](awaitable: Awaitable[T], seconds: float = 3.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def test_candles_book_and_trades_stream_on_the_accelerated_clock(live: FakeBinance) -> None:
    async def watch(client: Any) -> None:
        opens: set[int] = set()
        while len(opens) < 3:  # candles open and close within a real second
            candles = await within(client.watch_ohlcv(SYMBOL, "1m"))
            opens.add(candles[-1][0])
        assert sorted(opens)[1] - sorted(opens)[0] == 60_000
        quotes = (await within(client.watch_bids_asks([SYMBOL])))[SYMBOL]
        assert quotes["ask"] == pytest.approx(quotes["bid"] + 0.01)
        trades = await within(client.watch_trades(SYMBOL))
        assert trades[-1]["symbol"] == SYMBOL and trades[-1]["price"] > 0

    run(watch, live)


def test_own_orders_and_trades_arrive_through_the_websocket_api(
    live: FakeBinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_KEY", API_KEY)
    monkeypatch.setenv("STANDIN_SECRET", SECRET)
    exchange = CcxtExchange(
        exchange_id="binance",
        base_url=live.url,
        api_key_env="STANDIN_KEY",
        secret_env="STANDIN_SECRET",
        fees={"maker": 0.001, "taker": 0.001, "from_received": True},
        slippage=0.0,
    )

    async def watch() -> None:
        private, rest = exchange.stream_client(), exchange.stream_client()
        try:
            orders = asyncio.create_task(private.watch_orders(SYMBOL))
            trades = asyncio.create_task(private.watch_my_trades(SYMBOL))
            balance = asyncio.create_task(private.watch_balance())
            while not live.streams.users:  # the stand-in has taken the subscription
                await asyncio.sleep(0.01)
            placed = await rest.create_order(
                SYMBOL, "market", "buy", 0.001, params={"newClientOrderId": "ws-1"}
            )
            seen = await within(orders)
            while seen[-1]["status"] != "closed":  # NEW, then TRADE (one update or two)
                seen = await within(private.watch_orders(SYMBOL))
            assert seen[-1]["clientOrderId"] == "ws-1"
            [fill] = await within(trades)
            assert (fill["order"], fill["fee"]["currency"]) == (placed["id"], "BTC")
            position = await within(balance)  # outboundAccountPosition
            while position["BTC"]["free"] == 0.1:
                position = await within(private.watch_balance())
            assert position["BTC"]["free"] == pytest.approx(0.1 + 0.001 * (1 - 0.001))
        finally:
            await private.close()
            await rest.close()

    asyncio.run(watch())
    assert "ws-api/v3" in exchange.stream_client().urls["api"]["ws"]["ws-api"]["spot"]


def test_a_bad_signature_on_the_websocket_api_fails_the_private_watch(live: FakeBinance) -> None:
    """Binance answers -1022; ccxt 4.5.90 then masks its AuthenticationError with KeyError('spot')
    (`ensure_user_data_stream_ws_subscribe_signature` deletes a subscription already deleted)."""

    async def watch(client: Any) -> None:
        with pytest.raises((ccxt.pro.AuthenticationError, KeyError)):
            await within(client.watch_orders(SYMBOL))

    run(watch, live, secret="wrong")
    assert live.stats.errors == {-1022: 1}


def test_a_stall_leaves_the_socket_open_and_silent(live: FakeBinance) -> None:
    async def watch(client: Any) -> None:
        await within(client.watch_bids_asks([SYMBOL]))
        live.faults.stalled = True
        await asyncio.sleep(0.1)  # what was already on the wire arrives
        with pytest.raises(TimeoutError):
            await within(client.watch_bids_asks([SYMBOL]), 0.5)
        live.faults.stalled = False
        await within(client.watch_bids_asks([SYMBOL]), 1.0)

    run(watch, live)


def test_an_abrupt_close_rejects_the_pending_watch_with_a_network_error(
    live: FakeBinance,
) -> None:
    async def watch(client: Any) -> None:
        await within(client.watch_ohlcv(SYMBOL, "1m"))
        live.faults.stalled = True  # nothing arrives: the watch stays pending
        await asyncio.sleep(0.1)  # what was already on the wire arrives
        pending = asyncio.create_task(client.watch_ohlcv(SYMBOL, "1m"))
        await asyncio.sleep(0.1)
        live.close_sockets()
        with pytest.raises(ccxt.pro.NetworkError):
            await within(pending)
        live.faults.stalled = False
        assert await within(client.watch_ohlcv(SYMBOL, "1m"))  # watching again reconnects

    run(watch, live)


def test_every_nth_message_is_dropped(live: FakeBinance) -> None:
    async def listen() -> list[int]:
        async with aiohttp.ClientSession() as session, session.ws_connect(live.url + "/ws") as ws:
            subscribe = {"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}
            await ws.send_str(json.dumps(subscribe))
            assert json.loads((await ws.receive()).data) == {"result": None, "id": 1}
            live.faults.drop_every = 3
            return [json.loads((await ws.receive()).data)["u"] for _ in range(12)]

    serials = asyncio.run(listen())
    missing = set(range(serials[0], serials[-1] + 1)) - set(serials)
    assert len(missing) == len(range(serials[0], serials[-1] + 1)) - 12 >= 5
    assert all(later - earlier <= 2 for earlier, later in itertools.pairwise(serials))
