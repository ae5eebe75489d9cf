"""Market time, which the feed drives: the engine never reads the host's clock for a candle's
close or the risk day, so an accelerated market can run days of trading in minutes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class MarketClock:
    """Starts at `start_ms` and runs `speed` market seconds per real second; speed 0 runs as
    fast as the feed can deliver: the clock then jumps to each event's time."""

    def __init__(
        self, start_ms: int, speed: float = 1.0, real: Callable[[], float] = time.monotonic
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, is {speed}")
        self.start_ms = start_ms
        self.speed = speed
        self._real, self._t0 = real, real()
        self._reached = start_ms  # the latest time the feed reported
        self._unyielded = 0  # waits since the event loop last ran (a backlog never sleeps)

    def now_ms(self) -> int:
        if self.speed == 0:
            return self._reached
        running = self.start_ms + int((self._real() - self._t0) * 1000 * self.speed)
        return max(running, self._reached)

    def advance(self, time_ms: int) -> None:
        """The feed saw the market at `time_ms` (an exchange timestamp): now is at least that."""
        if time_ms > self._reached:
            self._reached = time_ms

    async def until(self, time_ms: int) -> None:
        """Wait (in real time, scaled) until the market reaches `time_ms`. A feed with a
        backlog (speed 0, or a clock ahead of a slow engine) never has to wait: it still
        lets the event loop run every 512 events, so the view, a deadline, a stop and
        Ctrl-C land between them."""
        slept = False
        if self.speed:
            while (ahead := time_ms - self.now_ms()) > 0:
                await asyncio.sleep(min(ahead / 1000 / self.speed, 0.5))
                slept = True
        self.advance(time_ms)
        if slept:
            self._unyielded = 0
            return
        self._unyielded += 1
        if self._unyielded >= 512:
            self._unyielded = 0
            await asyncio.sleep(0)
