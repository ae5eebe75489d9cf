"""How long the venue takes to answer a REST request, measured around the HTTP call itself
(ccxt's `fetch`), so a cached market read or a back-off sleep never counts: what /health
and `thunes_exchange_latency_seconds` show. A request that got no answer (a timeout, a
dropped connection) has no latency to show; it counts in `unanswered`."""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

RECENT = 50  # the median is over this many answers


class RestLatency:
    """The venue's last answers' round trips, host seconds (thread-safe: the brokers' work
    runs off the event loop)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.recent: deque[float] = deque(maxlen=RECENT)
        self.answered = self.unanswered = 0
        self.last_at: float | None = None  # host monotonic time of the last answer
        self._lock = threading.Lock()

    def timed(
        self, fetch: Callable[..., Any], no_answer: type[BaseException]
    ) -> Callable[..., Any]:
        """`fetch` (one HTTP request) measured: an answer, an error the venue sent included;
        `no_answer` (ccxt's NetworkError: a timeout, a 5xx) is not one."""

        def measured(*args: Any, **kwargs: Any) -> Any:
            sent = self.clock()
            try:
                result = fetch(*args, **kwargs)
            except no_answer:
                with self._lock:
                    self.unanswered += 1
                raise
            except BaseException:
                self._took(self.clock() - sent)
                raise
            self._took(self.clock() - sent)
            return result

        return measured

    def _took(self, seconds: float) -> None:
        with self._lock:
            self.recent.append(seconds)
            self.answered += 1
            self.last_at = self.clock()

    @property
    def last_s(self) -> float | None:
        with self._lock:
            return self.recent[-1] if self.recent else None

    def report(self) -> dict[str, Any]:
        """For /health: the last round trip, the median of the recent ones, the counts."""
        with self._lock:
            recent, at = list(self.recent), self.last_at
            answered, unanswered = self.answered, self.unanswered
        return {
            "last_s": round(recent[-1], 4) if recent else None,
            "median_s": round(statistics.median(recent), 4) if recent else None,
            "answered": answered,
            "unanswered": unanswered,
            "last_answer_age_s": None if at is None else round(self.clock() - at, 3),
        }
