"""`attach(engine, risk, parts, cfg, store_path)`: what a paper or venue session (testnet
or live) needs to be operated, in one call after its engine is built: the notifications
(live/alerts.py), the drift watch, the metrics, the logs, the dead-man's switch and the
control API. Logs are installed at once;
the servers (metrics, control API) and the dead-man's switch run with the engine
(`engine.run`, on its loop) and stop with it, so a `paper.once` run opens no port. FastAPI
(thunes/ops/api.py) and python-telegram-bot are imported only by a session that serves them:
a `paper.once` run, or one with `ops.api=false`, never loads them (a second of start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console

from thunes.components import Components
from thunes.domain.timeframes import utc_minute
from thunes.drift.watch import DriftWatch
from thunes.errors import ConfigError
from thunes.live.alerts import Alerts
from thunes.live.engine import LiveEngine, Stopped
from thunes.notify.secrets import url_secrets
from thunes.ops import logs as logs_
from thunes.ops.control import Control
from thunes.ops.deadman import DeadMan
from thunes.ops.metrics import Metrics
from thunes.ops.reload import Reloader
from thunes.ops.status import Session
from thunes.ops.tap import Tap
from thunes.ops.telegram import from_config as telegram_commands
from thunes.risk.engine import RiskEngine

if TYPE_CHECKING:
    import uvicorn

log = structlog.get_logger("thunes.ops")
_STOP_S = 5.0
TOKEN_ENV = "THUNES_API_TOKEN"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_exposure(host: str, token: str | None) -> None:
    """No token, no API beyond this machine: refused before anything starts."""
    if host not in LOOPBACK and not token:
        raise ConfigError(
            f"ops.api_host={host} exposes the control API: set a token in {TOKEN_ENV}, "
            "or keep ops.api_host=127.0.0.1"
        )


def run_dir() -> Path | None:
    """Hydra's folder for this run (experiments/<mode>/<date>/<time>/), if Hydra runs it."""
    return Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else None


class Ops:
    """The session's operator tools. `metrics_port` and `api_port` are the ports bound once
    the engine runs (None: off, or the port was busy)."""

    def __init__(
        self,
        engine: LiveEngine,
        risk: RiskEngine,
        parts: Components,
        cfg: DictConfig,
        drift: DriftWatch | None = None,
    ) -> None:
        ops = cfg.ops
        self.cfg, self.engine = ops, engine
        self.token = os.environ.get(TOKEN_ENV) or None
        if ops.api:
            check_exposure(str(ops.api_host), self.token)
        self.alerts = Alerts.watch(engine, risk, parts.notifier)
        self.control = Control(engine, risk)
        self.metrics = Metrics()
        self.tap = Tap.watch(engine, self.control, self.metrics.latency.observe)
        self.session = Session(
            engine, risk, self.control, self.tap, ops.stale_after_s, parts.exchange.latency
        )
        self.dead_man = DeadMan(self.session, ops.ping_url, float(ops.ping_every_s))
        self.reloader = Reloader(cfg, self.control, self._apply_ops)
        # notifier.commands: the API's commands, its reload included, from Telegram
        self.telegram = bot = telegram_commands(cfg.notifier, self.session, self.reloader)
        ignored = None if bot is None else (lambda: bot.ignored)
        self.metrics.watch(self.session, parts.notifier, drift, ignored)
        ids = getattr(engine.lanes[0].broker, "ids", None) if engine.lanes else None
        folder = run_dir()
        secrets = url_secrets(ops.ping_url) if ops.ping_url else set()
        self.logs = logs_.install(
            folder,
            getattr(ids, "run", None) or (folder.name if folder else "session"),
            lambda: utc_minute(engine.now_ms),
            str(ops.log_level),
            str(ops.console_log_level),
            secrets | ({self.token} if self.token else set()),
        )
        self.metrics_port: int | None = None
        self.api_port: int | None = None
        self._sockets: list[socket.socket] = []
        original = engine.run

        async def run() -> Stopped:
            async with self.serving():
                return await original()

        engine.run = run  # type: ignore[method-assign]
        act_once = engine.once

        def once() -> Stopped:  # paper.once: no loop, no server; the logs end with it
            try:
                return act_once()
            finally:
                self.logs.close()

        engine.once = once  # type: ignore[method-assign]

    def _apply_ops(self, cfg: DictConfig) -> None:
        self.dead_man.url, self.dead_man.every_s = cfg.ops.ping_url, float(cfg.ops.ping_every_s)
        self.session.stale_after_s = cfg.ops.stale_after_s

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Metrics, the API, the dead-man's switch and Telegram's commands while the engine
        runs; logs closed after."""
        say = Console(stderr=True).print
        ops, tasks = self.cfg, []
        api = None
        try:
            if ops.metrics_port is not None:
                try:
                    self.metrics_port = self.metrics.serve(str(ops.metrics_host), ops.metrics_port)
                    say(f"metrics: http://{ops.metrics_host}:{self.metrics_port}/metrics")
                except OSError as error:
                    say(f"metrics: not served ({error}); the session goes on")
            if ops.api:
                api = self._api(say)
                if api is not None:
                    tasks.append(asyncio.ensure_future(api.serve(sockets=self._sockets)))
            tasks.append(asyncio.ensure_future(self.dead_man.run()))
            if self.telegram is not None:
                tasks.append(asyncio.ensure_future(self.telegram.run()))
            log.info("session_started", metrics_port=self.metrics_port, api_port=self.api_port)
            yield
        finally:
            if api is not None:
                api.should_exit = True  # uvicorn finishes what it answers, then stops
            for task in tasks[1 if api is not None else 0 :]:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=_STOP_S)
            self.metrics.close()
            for sock in self._sockets:
                sock.close()
            log.info("session_stopped", stopped=self.engine.stopped and self.engine.stopped.value)
            self.logs.close()

    def _api(self, say: Callable[[str], None]) -> uvicorn.Server | None:
        """The control API's server on its socket, bound now; None when the port is busy
        (one line: the session goes on without it)."""
        from thunes.ops.api import bind, build_app, server

        host, port = str(self.cfg.api_host), int(self.cfg.api_port)
        try:
            sock = bind(host, port)
        except OSError as error:
            say(f"control API: not served on {host}:{port} ({error}); the session goes on")
            return None
        self._sockets = [sock]
        self.api_port = int(sock.getsockname()[1])
        app = build_app(self.session, self.reloader, self.logs.recent.records, self.token)
        say(f"control API and status page: http://{host}:{self.api_port}/")
        return server(app)


def attach(
    engine: LiveEngine,
    risk: RiskEngine,
    parts: Components,
    cfg: DictConfig,
    store_path: Path | None = None,
) -> Ops:
    """Operate this session: see the module's docstring. `store_path`: the state file the
    drift watch keeps its detectors beside (None, or no candle lane: no drift watch). A
    control API asked on a public address without a token raises ConfigError (exit 2) here,
    before anything runs."""
    drift = None
    if store_path is not None and engine.lanes:
        drift = DriftWatch.watch(engine, risk, parts, store_path)
    return Ops(engine, risk, parts, cfg, drift)
