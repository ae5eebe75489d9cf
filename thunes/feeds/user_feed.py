"""The account's own trades and order updates from the exchange's private stream, handed to
the broker as they come, with the market feed's resilience (link.py): back-off with jitter
and a new subscription after a failure, a planned reconnect before the exchange's daily cut.

REST stays the truth; the stream only brings news sooner. A private stream may be quiet for
hours, so silence is answered by a probe over the same socket, and only an unanswered probe
is a stall (no flapping on a quiet account). Whatever happened while the link was down is
read by REST: after every subscription, the first included, `on_resume` asks the broker to
look its orders up. A trade both streamed and polled is booked once, by trade id (the
broker's rule). A refused key ends the stream with one line (ExchangeError, or ConfigError
for a missing key), never a reconnect loop.

    feed = UserFeed(CcxtUserStream(exchange, [symbol]), broker.report,
                    on_orders=ended_to(broker.recheck), on_resume=broker.recheck)
    task = feed.start()   # in the running event loop
    ...
    await feed.stop()     # at the session's end; `await task` raises a fatal error
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from thunes.domain.orders import Fill
from thunes.exchange.stream import UserStream
from thunes.feeds.clock import MarketClock
from thunes.feeds.link import FeedHealth, Link, Resilience, StreamStalled
from thunes.state.reconcile import VenueOrder
from thunes.state.records import OPEN

log = logging.getLogger(__name__)

Update = tuple[list[Fill], list[VenueOrder]]
QUIET = Resilience(stall_s=60.0, connect_s=30.0)
"""A private stream's: probed after a minute of silence (Binance's WebSocket API closes an
idle connection only after far longer), with the market feed's back-off and daily reconnect."""


def ended_to(recheck: Callable[[Iterable[str]], None]) -> Callable[[list[VenueOrder]], None]:
    """An `on_orders` that hands `recheck` the client ids of the orders no longer open
    (filled, canceled, expired, rejected): their final state and fills are then read by REST."""

    def on_orders(orders: list[VenueOrder]) -> None:
        ended = [o.client_id for o in orders if o.status not in OPEN and o.client_id]
        if ended:
            recheck(ended)

    return on_orders


class UserFeed:
    """`stream`'s fills to `on_fills` (an ExchangeBroker's `report`), its order updates to
    `on_orders`, and `on_resume()` after each subscription. The callbacks run on the event
    loop: they must be quick (report and recheck are). `clock` is needed only for a planned
    reconnect counted in market time."""

    def __init__(
        self,
        stream: UserStream,
        on_fills: Callable[[list[Fill]], None],
        *,
        on_orders: Callable[[list[VenueOrder]], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        resilience: Resilience = QUIET,
        clock: MarketClock | None = None,
    ) -> None:
        if resilience.reconnect_clock == "market" and clock is None:
            raise ValueError("a reconnect counted on the market clock needs the clock")
        self.health = FeedHealth()
        self._stream = stream
        self._on_fills, self._on_orders, self._on_resume = on_fills, on_orders, on_resume
        market_ms, pace = (clock.now_ms, clock.speed) if clock is not None else (lambda: 0, 1.0)
        self._link = Link(stream, resilience, self.health, market_ms, "private stream", pace)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Run in the background on the running loop. The task ends only by `stop`, or with
        a fatal error (ExchangeError, ConfigError) that awaiting it raises."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="private stream")
        return self._task

    async def stop(self) -> None:
        """Stop and close the connection (a fatal error the task ended with is not raised)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run(self) -> None:
        """Deliver until cancelled, or until a fatal error, which is raised."""
        async for fills, orders in self._link.run(self._session):
            if fills:
                self.health.delivered += len(fills)
                self._on_fills(fills)
            if orders and self._on_orders is not None:
                self._on_orders(orders)

    async def _session(self) -> AsyncIterator[Update]:
        """One connection: subscribe, have the broker poll what the stream may have missed,
        then pass on what it says, until it fails or its planned reconnect is due."""
        connect_s = self._link.resilience.connect_s
        try:
            await asyncio.wait_for(self._stream.connect(), connect_s)
        except TimeoutError:
            raise StreamStalled(f"no answer to the subscription in {connect_s:g}s") from None
        self._link.alive()
        if self._on_resume is not None:
            self._on_resume()
        watches = [self._fills, self._orders]
        async with self._link.watching(watches, probe=self._stream.probe) as watching:
            while (update := await watching.next()) is not None:
                yield update

    async def _fills(self) -> Update:
        return await self._stream.watch_fills(), []

    async def _orders(self) -> Update:
        return [], await self._stream.watch_orders()
