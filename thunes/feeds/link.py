"""How a live stream rides out what a socket does: drops and abrupt closes (back-off with
jitter, then a new connection), silent stalls (a watchdog), and the exchange's daily cut (a
planned reconnect before it). Shared by the market feed (ccxt_feed.py) and the account's
own stream (user_feed.py), which differ only in what silence means: a market stream that
stops talking is stalled; a private one may be quiet for hours, so it is asked (`probe`)
whether it still answers, and only a probe left unanswered counts as a stall.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from thunes.exchange.stream import StreamClosed, StreamLost

log = logging.getLogger(__name__)


class StreamStalled(StreamLost):
    """The socket stayed open and went silent: watching again would not revive it."""


class Resettable(Protocol):
    """A connection the link can drop (the next call opens a new one) and close."""

    async def reset(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Resilience:
    """How a stream rides out a failing link.

    `stall_s`: silence that counts as a stall (Binance pushes a kline every ~2 s, trades or
    not), or, on a private stream, after which it is probed; `connect_s`: the wait for a new
    connection's first message (markets loaded, subscribed) or a probe's answer. Back-off after
    a failure: `backoff_s` doubling up to `max_backoff_s`, with jitter. `reconnect_every_s`: a
    planned reconnect, before Binance cuts the link at 24 h; counted on the host's monotonic
    clock, or on the market clock (an accelerated market's "day"). On the market clock the
    back-off and the stall watchdog are market time too: on a stand-in at 1,800x a 60 s
    back-off in real seconds would be 30 market hours without candles (see `Link.pace`).
    """

    stall_s: float = 30.0
    connect_s: float = 30.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    reconnect_every_s: float = 23 * 3600.0
    reconnect_clock: Literal["market", "monotonic"] = "monotonic"

    def __post_init__(self) -> None:
        for name in ("stall_s", "connect_s", "backoff_s", "max_backoff_s", "reconnect_every_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} should be > 0, is {getattr(self, name)}")
        if self.reconnect_clock not in ("market", "monotonic"):
            raise ValueError(
                f"reconnect_clock should be 'market' or 'monotonic', is {self.reconnect_clock!r}"
            )

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after `failures` in a row: capped exponential, jittered in [½, 1]."""
        cap = min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1))
        return cap * rng.uniform(0.5, 1.0)


@dataclass
class FeedHealth:
    """What the live view shows about a link; counters only grow."""

    state: Literal["connecting", "connected", "reconnecting", "stalled", "closed"] = "connecting"
    reconnects: int = 0
    stalls: int = 0
    delivered: int = 0
    backfilled: int = 0  # candles read back after a reconnect
    missing: int = 0  # candles the exchange itself does not have (a halt): a visible gap
    last_message_real: float | None = None  # host monotonic time of the last stream message
    last_error: str = ""

    def message_age_s(self) -> float | None:
        if self.last_message_real is None:
            return None
        return time.monotonic() - self.last_message_real

    def describe(self) -> str:
        """One line for the live view: the link's state and what the faults cost."""
        age = self.message_age_s()
        heard = "nothing heard yet" if age is None else f"last message {age:.1f}s ago"
        error = f"; last error: {self.last_error}" if self.last_error else ""
        return (
            f"link {self.state}, {heard}; {self.reconnects} reconnects, {self.stalls} stalls, "
            f"{self.backfilled} back-filled, {self.missing} missing{error}"
        )


_ALIVE = object()
"""A probe's answer: the link is alive, nothing to deliver."""


_FLOOR_S = {"backoff": 0.05, "stall": 2.0}
"""The shortest real waits on an accelerated market clock: a reconnect loop must not spin,
and a socket is silent for real seconds (a stand-in pushes on its own real-time ticks)."""


class Watching[T]:
    """The messages of one connection's watches, in arrival order (see Link.watching)."""

    def __init__(self, link: Link, queue: asyncio.Queue[object], watchdog_s: float | None) -> None:
        self._link, self._queue, self._watchdog_s = link, queue, watchdog_s
        self._started = (link.market_ms(), time.monotonic())

    async def next(self) -> T | None:
        """The next message, or None once this connection's planned reconnect is due.
        StreamLost (StreamStalled) when the link fails; any other error ends the stream."""
        silent_s, step = 0.0, self._link.stall_s
        while not self._link.due(*self._started):
            try:
                item = await asyncio.wait_for(self._queue.get(), step)
            except TimeoutError:
                silent_s += step
                if self._watchdog_s is not None and silent_s >= self._watchdog_s:
                    raise StreamStalled(f"no message and no failure for {silent_s:g}s") from None
                continue
            if isinstance(item, BaseException):
                raise item
            self._link.alive()
            if item is not _ALIVE:
                return cast("T", item)
        return None


class Link:
    """The reconnect loop around one stream (`run`) and its watchdogs (`watching`)."""

    def __init__(
        self,
        stream: Resettable,
        resilience: Resilience,
        health: FeedHealth,
        market_ms: Callable[[], int],
        what: str,
        pace: float = 1.0,
    ) -> None:
        """`pace`: market seconds per real second of the clock `market_ms` reads, by which
        a market-clock link (`reconnect_clock="market"`) shortens its back-off and stall
        watchdog, down to a real floor."""
        self.stream, self.resilience, self.health = stream, resilience, health
        self.market_ms, self.what = market_ms, what
        self.pace = pace if resilience.reconnect_clock == "market" and pace > 1 else 1.0
        self._rng = random.Random()
        self._failures = 0

    def _real_s(self, market_s: float, floor: str) -> float:
        """A wait of `market_s` seconds of the link's clock, in real seconds."""
        if self.pace == 1.0:
            return market_s
        return max(min(_FLOOR_S[floor], market_s), market_s / self.pace)

    @property
    def stall_s(self) -> float:
        """The silence (real seconds) that counts as a stall, or after which to probe."""
        return self._real_s(self.resilience.stall_s, "stall")

    async def run[T](self, session: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """What `session()` yields, connection after connection: a session that fails
        (StreamLost) is followed by a back-off and a new connection, one that ends (its planned
        reconnect) by a new connection at once. Any other error ends the stream."""
        try:
            while True:
                try:
                    async for item in session():
                        yield item
                except StreamLost as lost:
                    await self._recover(lost)
                else:
                    await self.stream.reset()  # the planned reconnect: no back-off
                self.health.reconnects += 1
        finally:
            self.health.state = "closed"
            await self.stream.close()

    @asynccontextmanager
    async def watching[T](
        self,
        watches: Sequence[Callable[[], Awaitable[T]]],
        probe: Callable[[], Awaitable[object]] | None = None,
    ) -> AsyncIterator[Watching[T]]:
        """Each watch called again and again while the block runs, its results (and failures)
        read through `Watching.next`. Without `probe`, a watch silent for `stall_s` (at first
        `connect_s`) is a stall; with it, a silence of `stall_s` is answered by `probe()`, and
        only a probe unanswered within `connect_s` is."""
        queue: asyncio.Queue[object] = asyncio.Queue()
        pumps = [asyncio.create_task(self._pump(w, queue, probe is None)) for w in watches]
        if probe is not None:
            pumps.append(asyncio.create_task(self._probe(probe, queue)))
        watchdog = None if probe else self.resilience.connect_s + self.stall_s
        try:
            yield Watching(self, queue, watchdog)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.wait(pumps, timeout=1.0)  # a watch deaf to cancelling is left behind

    def alive(self) -> None:
        self._failures = 0
        self.health.state = "connected"
        self.health.last_message_real = time.monotonic()

    def due(self, market_ms: int, real_s: float) -> bool:
        """Whether the planned reconnect of a connection opened at these times is due."""
        every = self.resilience.reconnect_every_s
        if self.resilience.reconnect_clock == "market":
            return self.market_ms() - market_ms >= every * 1000
        return time.monotonic() - real_s >= every

    async def _recover(self, lost: StreamLost) -> None:
        self._failures += 1
        stalled = isinstance(lost, StreamStalled)
        self.health.stalls += stalled
        self.health.state = "stalled" if stalled else "reconnecting"
        self.health.last_error = str(lost)
        delay = self._real_s(self.resilience.backoff(self._failures, self._rng), "backoff")
        log.warning("%s lost (%s); reconnecting in %.2fs", self.what, lost, delay)
        await self.stream.reset()
        await asyncio.sleep(delay)

    async def _pump[T](
        self, watch: Callable[[], Awaitable[T]], queue: asyncio.Queue[object], timed: bool
    ) -> None:
        """Watch until the link fails; if `timed`, a silence longer than `stall_s` is a
        failure too."""
        wait: float | None = self.resilience.connect_s if timed else None
        while True:
            try:
                queue.put_nowait(await asyncio.wait_for(watch(), wait))
            except TimeoutError:
                queue.put_nowait(StreamStalled(f"silent for {wait:g}s"))
                return
            except StreamClosed:
                return
            except Exception as error:  # StreamLost reconnects; anything else ends the stream
                queue.put_nowait(error)
                return
            wait = self.stall_s if timed else None

    async def _probe(
        self, probe: Callable[[], Awaitable[object]], queue: asyncio.Queue[object]
    ) -> None:
        """Ask a quiet link whether it still answers, after every `stall_s` of silence."""
        stall_s, answer_s = self.stall_s, self.resilience.connect_s
        answered = time.monotonic()  # the connection has just opened
        while True:
            heard = max(answered, self.health.last_message_real or 0.0)
            quiet = heard + stall_s - time.monotonic()
            if quiet > 0:
                await asyncio.sleep(quiet)
                continue
            try:
                await asyncio.wait_for(probe(), answer_s)
            except TimeoutError:
                queue.put_nowait(StreamStalled(f"quiet for {stall_s:g}s, probe unanswered"))
                return
            except StreamClosed:
                return
            except Exception as error:
                queue.put_nowait(error)
                return
            answered = time.monotonic()
            queue.put_nowait(_ALIVE)
