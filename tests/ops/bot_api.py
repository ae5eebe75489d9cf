"""A local stand-in of Telegram's Bot API on 127.0.0.1: getMe, deleteWebhook, getUpdates
answering the updates a test queues (long polling cut to 0.1 s), and sendMessage recording
what the bot (python-telegram-bot's form posts, Apprise's JSON) says."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class BotApi:
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # sendMessage bodies
    polls: int = 0  # getUpdates calls
    next_id: int = 1
    news: threading.Condition = field(default_factory=threading.Condition)

    def say(self, chat: int, text: str) -> None:
        """Queue a message `text` from user `chat` in their private chat with the bot."""
        with self.news:
            command = text.split()[0]
            message = {
                "message_id": self.next_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": f"user{chat}"},
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
            }
            self.updates.append({"update_id": self.next_id, "message": message})
            self.next_id += 1
            self.news.notify_all()

    def wait_reply(self, chat: int, count: int, timeout_s: float = 60) -> str:
        """The `count`-th message sent to `chat`, waited for (a bound, not a measure)."""
        deadline = time.monotonic() + timeout_s
        with self.news:
            while len(self._replies(chat)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"no reply #{count} to {chat}: {self.sent}"
                self.news.wait(left)
            return self._replies(chat)[count - 1]

    def _replies(self, chat: int) -> list[str]:
        """What the bot answered `chat` (the notifier's events, posted as JSON, left out)."""
        return [str(b["text"]) for b in self.sent if b.get("form") and b["chat_id"] == str(chat)]

    def wait_polling(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        with self.news:
            while self.polls == 0:
                left = deadline - time.monotonic()
                assert left > 0, "the bot never polled getUpdates"
                self.news.wait(left)

    def answer(self, method: str, body: dict[str, Any]) -> Any:
        with self.news:
            if method == "getMe":
                return {"id": 1, "is_bot": True, "first_name": "thunes", "username": "thunes_bot"}
            if method == "deleteWebhook":
                if str(body.get("drop_pending_updates")).lower() == "true":
                    self.updates.clear()
                return True
            if method == "getUpdates":
                self.polls += 1
                self.news.notify_all()
                offset = int(body.get("offset") or 0)
                if not any(u["update_id"] >= offset for u in self.updates):
                    self.news.wait(0.1)
                return [u for u in self.updates if u["update_id"] >= offset]
            if method == "sendMessage":
                self.sent.append(body)
                self.news.notify_all()
                chat = {"id": int(body["chat_id"]), "type": "private"}
                return {"message_id": 1000 + len(self.sent), "date": 0, "chat": chat}
            return True


@contextmanager
def serving(api: BotApi) -> Iterator[str]:
    """Serve `api` until the block ends; yields its base URL (`.../bot`, the token follows)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if "json" in self.headers.get("Content-Type", ""):
                body = json.loads(raw or "{}")
            else:
                body = {**dict(parse_qsl(raw)), "form": True}  # python-telegram-bot's
            result = api.answer(self.path.rsplit("/", 1)[-1], body)
            reply = json.dumps({"ok": True, "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            with contextlib.suppress(ConnectionError):  # a poll cut short: the bot stopped
                self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/bot"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
