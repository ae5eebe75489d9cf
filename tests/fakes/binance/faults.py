"""Faults a test switches on while clients are connected, as a live venue produces them."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from tests.fakes.binance.errors import RATE_LIMIT_MSG, UNKNOWN_STATUS_MSG, BinanceApiError


@dataclass
class Faults:
    """Switches read by the HTTP and websocket layers of the stand-in.

    `drop_every`: drop every Nth websocket message (0: none). `stalled`: sockets stay open and
    nothing is sent on them. `retry_after_s`: the Retry-After header sent with a 429.
    """

    drop_every: int = 0
    stalled: bool = False
    retry_after_s: int = 1
    dropped: int = 0
    _sent: int = 0
    _http: dict[str, deque[BinanceApiError | None]] = field(default_factory=dict)
    _lost: deque[bool] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self, path: str, times: int, status: int, code: int, msg: str, after: int = 0
    ) -> None:
        """The next `times` requests to `path` (once `after` more have been answered)
        answer this Binance error instead."""
        with self._lock:
            queue = self._http.setdefault(path, deque())
            queue.extend(None for _ in range(after))
            queue.extend(BinanceApiError(status, code, msg) for _ in range(times))

    def rate_limit_next(
        self, times: int, path: str = "/api/v3/klines", retry_after_s: int = 1
    ) -> None:
        """Binance's real 429 answer to a client over its request-weight limit."""
        self.retry_after_s = retry_after_s
        self.fail_next(path, times, 429, -1003, RATE_LIMIT_MSG)

    def server_error_next(
        self, path: str, times: int = 1, status: int = 502, after: int = 0
    ) -> None:
        """A gateway's 5xx HTML page: the request never reached the matching engine (the
        next `times` requests to `path`, once `after` more have been answered)."""
        page = f"<html><body><h1>{status} Bad Gateway</h1></body></html>"
        with self._lock:
            queue = self._http.setdefault(path, deque())
            queue.extend(None for _ in range(after))
            queue.extend(BinanceApiError(status, 0, "", page) for _ in range(times))

    def lose_order_replies(self, times: int = 1, after: int = 0) -> None:
        """The next `times` new orders (once `after` more have been booked and answered)
        are booked, but answered 503 -1007 (status unknown)."""
        with self._lock:
            self._lost.extend([False] * after + [True] * times)

    def take_http_fault(self, path: str) -> BinanceApiError | None:
        with self._lock:
            queue = self._http.get(path)
            return queue.popleft() if queue else None

    def take_lost_reply(self) -> BinanceApiError | None:
        with self._lock:
            if not self._lost or not self._lost.popleft():
                return None
        return BinanceApiError(503, -1007, UNKNOWN_STATUS_MSG)

    def allow_send(self) -> bool:
        """Whether the next websocket message goes out (stall and drop-every-N applied)."""
        with self._lock:
            if self.stalled:
                return False
            self._sent += 1
            if self.drop_every and self._sent % self.drop_every == 0:
                self.dropped += 1
                return False
            return True
