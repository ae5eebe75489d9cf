"""A link on an accelerated market counts its back-off and stall watchdog in market time:
on a stand-in at 1,800x a minute's back-off in real seconds would be 30 market hours
without candles; on the host's clock (a real venue) nothing changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from thunes.exchange.stream import StreamLost
from thunes.feeds.link import FeedHealth, Link, Resilience

MINUTE_BACKOFF = {"backoff_s": 60.0, "max_backoff_s": 60.0}


class Socket:
    """A connection the link resets; it fails `failures` times, then delivers once."""

    def __init__(self, failures: int) -> None:
        self.failures, self.resets = failures, 0

    async def reset(self) -> None:
        self.resets += 1

    async def close(self) -> None:
        return None

    async def session(self) -> AsyncIterator[str]:
        if self.resets < self.failures:
            raise StreamLost("dropped")
        yield "candle"


async def _first(link: Link, socket: Socket) -> str:
    async for item in link.run(socket.session):
        return item
    raise AssertionError("the link ended")


def _link(socket: Socket, clock: str, pace: float) -> Link:
    resilience = Resilience(reconnect_clock=clock, **MINUTE_BACKOFF)  # type: ignore[arg-type]
    return Link(socket, resilience, FeedHealth(), lambda: 0, "market stream", pace)


def test_an_accelerated_market_link_backs_off_in_market_seconds() -> None:
    socket = Socket(failures=3)
    link = _link(socket, "market", 1800.0)
    began = time.monotonic()
    assert asyncio.run(_first(link, socket)) == "candle"
    assert time.monotonic() - began < 2.0  # three back-offs of up to 60 market seconds
    assert link.health.reconnects == 3
    assert link.stall_s == 2.0  # 30 market seconds, but never under 2 real ones


def test_a_real_time_link_keeps_its_real_seconds() -> None:
    assert _link(Socket(0), "monotonic", 1800.0).stall_s == 30.0
    assert _link(Socket(0), "market", 1.0).stall_s == 30.0
