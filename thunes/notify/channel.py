"""One destination's outbox: a bounded queue and a sender thread, so that a slow, failing or
rate-limited service never holds up trading nor another destination.

Events of one kind and symbol that wait together become one summary message (a burst of 300
refused orders is one message, not 300); the queue holds at most `queue_size` such messages
and drops the oldest on overflow, counting the events lost. Messages leave at most
`rate_per_s` a second (Telegram allows about one a second per chat; Apprise's plugins do not
throttle) and a failed one is retried with exponential back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from thunes.notify.events import Event, Kind, Level

log = logging.getLogger(__name__)

SHOWN = 5  # lines of a summary message; the rest are counted
Send = Callable[[str, str, Level, bool], bool]
"""(title, body, level, silent) -> delivered; may raise: counted as a failure."""


@dataclass(frozen=True)
class Limits:
    rate_per_s: float = 1.0
    queue_size: int = 100
    retries: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0


@dataclass
class Batch:
    """Events of one kind and symbol waiting together: sent as one message."""

    first: Event
    silent: bool
    texts: list[str] = field(default_factory=list)
    count: int = 0
    level: Level = Level.INFO

    def add(self, event: Event, silent: bool) -> None:
        self.count += 1
        self.silent = self.silent and silent  # one loud event makes the summary loud
        self.level = max(self.level, event.urgency)
        if len(self.texts) < SHOWN:
            self.texts.append(event.text)

    def message(self) -> tuple[str, str]:
        """(title, body): the event itself, or a summary of the batch."""
        if self.count == 1:
            return self.first.title, self.first.text
        more = self.count - len(self.texts)
        body = "\n".join(self.texts) + (f"\n... and {more} more" if more else "")
        return f"{self.first.title} (x{self.count})", body


@dataclass
class Counts:
    """What became of the events a channel was given."""

    queued: int = 0
    delivered: int = 0  # events, a summary counting for all it stands for
    messages: int = 0  # messages that arrived
    retries: int = 0
    dropped: int = 0  # the queue overflowed, or the flush at exit ran out of time
    failed: int = 0  # given up on after every retry


class Channel:
    """`send` is called from this channel's own thread only; `put` never blocks on it."""

    def __init__(self, name: str, send: Send, limits: Limits, min_level: Level) -> None:
        self.name, self.send, self.limits, self.min_level = name, send, limits, min_level
        self.counts = Counts()
        self._queue: OrderedDict[tuple[Kind, str], Batch] = OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = self._abandoned = False
        self._next_at = 0.0  # monotonic time the next message may leave

    def put(self, event: Event, silent: bool) -> None:
        with self._cond:
            if self._closing:
                self._drop(1, "the channel is closed")
                return
            key = (event.kind, event.symbol)
            batch = self._queue.get(key)
            if batch is None:
                if len(self._queue) >= self.limits.queue_size:
                    _, oldest = self._queue.popitem(last=False)
                    self._drop(oldest.count, "the queue is full")
                batch = self._queue[key] = Batch(event, silent)
            batch.add(event, silent)
            self.counts.queued += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"notify-{self.name}", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def close(self, deadline: float) -> None:
        """Send what is queued until `deadline` (monotonic), then give up on the rest."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._abandoned = True
            self._cond.notify()
            left = sum(batch.count for batch in self._queue.values())
            self._queue.clear()
        if left:
            self._drop(left, "the flush at exit ran out of time")

    def _drop(self, events: int, why: str) -> None:
        with self._cond:  # the caller's thread and the sender's both count
            if not self.counts.dropped:
                log.warning("notifier channel %r: dropping events (%s)", self.name, why)
            self.counts.dropped += events

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing or self._abandoned)
                if self._abandoned or not self._queue:
                    return
                _, batch = self._queue.popitem(last=False)
            self._deliver(batch)

    def _deliver(self, batch: Batch) -> None:
        title, body = batch.message()
        for attempt in range(self.limits.retries + 1):
            if not self._pause(self._next_at - time.monotonic()):
                self._drop(batch.count, "the flush at exit ran out of time")
                return
            self._next_at = time.monotonic() + 1.0 / self.limits.rate_per_s
            if self._send(title, body, batch):
                with self._cond:
                    self.counts.delivered += batch.count
                    self.counts.messages += 1
                return
            if attempt < self.limits.retries:
                wait = min(self.limits.backoff_s * 2**attempt, self.limits.max_backoff_s)
                self.counts.retries += 1
                log.warning(
                    "notifier channel %r: sending failed (attempt %d of %d), retrying in %gs",
                    self.name,
                    attempt + 1,
                    self.limits.retries + 1,
                    wait,
                )
                self._next_at = max(self._next_at, time.monotonic() + wait)
        log.error(
            "notifier channel %r: gave up on %r after %d attempts (%d events)",
            self.name,
            title,
            self.limits.retries + 1,
            batch.count,
        )
        with self._cond:
            self.counts.failed += batch.count

    def _send(self, title: str, body: str, batch: Batch) -> bool:
        try:
            return bool(self.send(title, body, batch.level, batch.silent))
        except Exception as error:  # a plugin's bug must not end the channel
            log.warning("notifier channel %r: %s", self.name, type(error).__name__)
            return False

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` unless the channel is abandoned meanwhile (False)."""
        with self._cond:
            if seconds > 0:
                self._cond.wait_for(lambda: self._abandoned, timeout=seconds)
            return not self._abandoned
