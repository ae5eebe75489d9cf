"""A local HTTP server that records what Apprise's `json://` (or a Telegram stand-in) posts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    at: float  # monotonic time it arrived
    path: str
    body: dict[str, Any]
    authorization: str = ""  # the header as sent (json://user:password@... gives Basic)


@dataclass
class Inbox:
    posts: list[Post] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [post.body for post in self.posts]

    def wait(self, until: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60) -> bool:
        """Whether `until(bodies)` came true within `timeout_s` (a bound, not a measure)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if until(self.bodies()):
                return True
            time.sleep(0.02)
        return until(self.bodies())


@contextmanager
def listening(inbox: Inbox, port: int = 0) -> Iterator[int]:
    """Serve on 127.0.0.1:`port` (0: any free one) until the block ends; yields the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with inbox.lock:
                body = json.loads(raw or b"{}")
                auth = self.headers.get("Authorization", "")
                inbox.posts.append(Post(time.monotonic(), self.path, body, auth))
            reply = b'{"ok": true, "result": {"message_id": 1}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    """A port nothing listens on (the server down), that `listening` can take later."""
    with listening(Inbox()) as port:
        return port
