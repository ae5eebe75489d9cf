"""The dead-man's switch as the outside sees it: pings reach a local HTTP server while the
session is healthy and stop when it is not; systemd hears READY, WATCHDOG and STOPPING."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from thunes.ops.deadman import DeadMan, sd_notify


@pytest.fixture
def pinged() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc-123", hits
    server.shutdown()


async def _run_for(dead_man: DeadMan, seconds: float) -> None:
    task = asyncio.ensure_future(dead_man.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_pings_while_healthy_and_falls_silent_when_not(pinged: tuple[str, list[str]]) -> None:
    url, hits = pinged
    health = SimpleNamespace(ok=True)
    session = SimpleNamespace(healthy=lambda: (health.ok, "test"))
    dead_man = DeadMan(session, url, every_s=0.2)  # type: ignore[arg-type]
    asyncio.run(_run_for(dead_man, 1.1))
    assert 3 <= len(hits) <= 7 and set(hits) == {"/ping/abc-123"}
    time.sleep(0.5)  # a ping still on its way lands
    health.ok, before = False, len(hits)  # a stalled feed: the outside must notice
    asyncio.run(_run_for(dead_man, 0.8))
    assert len(hits) == before


def test_a_down_ping_server_never_stops_the_loop() -> None:
    session = SimpleNamespace(healthy=lambda: (True, "ok"))
    dead_man = DeadMan(session, "http://127.0.0.1:9/none", every_s=0.1)  # type: ignore[arg-type]
    asyncio.run(_run_for(dead_man, 0.6))  # returns on time: pings go from a thread
    assert dead_man.pings == 0


def test_systemd_hears_ready_watchdog_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # 0.4 s: notify every 0.2 s
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        session = SimpleNamespace(healthy=lambda: (True, "ok"))
        asyncio.run(_run_for(DeadMan(session, None, every_s=60), 0.7))  # type: ignore[arg-type]
        heard = []
        listener.settimeout(0.2)
        while True:
            try:
                heard.append(listener.recv(64).decode())
            except TimeoutError:
                break
    assert heard[0] == "READY=1" and heard[-1] == "STOPPING=1"
    assert 3 <= heard.count("WATCHDOG=1") <= 5


def test_outside_systemd_sd_notify_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False
