"""A dead-man's switch: a crashed or hung bot cannot report its own death, so it proves it is
alive instead, and something outside notices the silence. From the engine's own event loop
(a blocked loop stops it), while the session is healthy (a feed gone quiet stops it too):
- `ops.ping_url` (healthchecks.io, Uptime Kuma's push URL) every `ops.ping_every_s` host
  seconds, sent from a thread so a slow server never holds the loop;
- systemd's watchdog (`WatchdogSec=` in the unit, `Type=notify`): READY=1 at the start,
  WATCHDOG=1 at half the interval systemd asks for (WATCHDOG_USEC), STOPPING=1 at the end,
  over the unix datagram socket in NOTIFY_SOCKET (sd_notify's protocol; no library).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import urllib.request

import structlog

from thunes.ops.status import Session

log = structlog.get_logger("thunes.ops.deadman")
PING_TIMEOUT_S = 10.0


def sd_notify(state: str, address: str | None = None) -> bool:
    """Tell systemd `state` (READY=1, WATCHDOG=1, ...); False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET") if address is None else address
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(state.encode(), address)
    except OSError as error:
        log.warning("sd_notify_failed", state=state, error=str(error))
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half the watchdog timeout systemd set for this process, or None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2


class DeadMan:
    """`await dead_man.run()` beside the engine (cancelled when it stops)."""

    def __init__(self, session: Session, url: str | None, every_s: float) -> None:
        self.session, self.url, self.every_s = session, url, every_s
        self.pings = self.failures = 0
        self._in_flight = threading.Event()

    async def run(self) -> None:
        watchdog = watchdog_interval_s()
        tick = min(self.every_s, watchdog or self.every_s)
        sd_notify("READY=1")
        last_ping = -float("inf")
        try:
            while True:
                ok, why = self.session.healthy()
                if ok:
                    if watchdog is not None:
                        sd_notify("WATCHDOG=1")
                    if self.url and time.monotonic() - last_ping >= self.every_s:
                        last_ping = time.monotonic()
                        self._ping()
                else:
                    log.warning("dead_man_silent", why=why)
                await asyncio.sleep(tick)
        finally:
            sd_notify("STOPPING=1")

    def _ping(self) -> None:
        """One ping, in a thread; skipped while the last one is still out."""
        if self._in_flight.is_set():
            return
        self._in_flight.set()
        threading.Thread(target=self._send, daemon=True, name="thunes-ping").start()

    def _send(self) -> None:
        assert self.url is not None
        try:
            with urllib.request.urlopen(self.url, timeout=PING_TIMEOUT_S) as answer:
                answer.read(256)
            self.pings += 1
        except OSError as error:
            self.failures += 1
            log.warning("ping_failed", error=str(error))
        finally:
            self._in_flight.clear()
