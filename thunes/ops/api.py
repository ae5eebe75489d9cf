"""The control API and status page (FastAPI), served by uvicorn on the engine's own event
loop: a command runs between two steps of the engine, never during one.

Reads: GET /health (no token: for a container's healthcheck; 503 when unhealthy), /status,
/positions, /orders, /balance, /profit, /trades, /logs. Commands: POST /pause, /resume,
/flatten and /reset-kill-switch (both with `{"confirm": true}`), /reload. With a token (env
THUNES_API_TOKEN) every read but /health and the page itself asks `Authorization: Bearer`;
the page takes it once as `/#token=...` (a fragment never leaves the browser).
"""

from __future__ import annotations

import contextlib
import hmac
import socket
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

import structlog
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from thunes.errors import ConfigError
from thunes.ops.reload import Reloader
from thunes.ops.status import Session

log = structlog.get_logger("thunes.ops.api")


class Confirm(BaseModel):
    confirm: bool = False


class Reload(BaseModel):
    overrides: list[str] = []


def build_app(
    session: Session,
    reloader: Reloader | None,
    recent_logs: Callable[[], list[dict[str, Any]]],
    token: str | None,
) -> FastAPI:
    app = FastAPI(title="THUNES", docs_url=None, redoc_url=None, openapi_url=None)
    control = session.control

    def authorised(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "a bearer token is needed", {"WWW-Authenticate": "Bearer"})

    guard = [Depends(authorised)]

    def confirmed(body: Confirm, what: str) -> None:
        if not body.confirm:
            raise HTTPException(400, f'{what}: send {{"confirm": true}} to do it')

    def command(name: str, **fields: Any) -> dict[str, Any]:
        log.warning("command", command=name, **fields)
        return {"command": name, **fields, "trading_state": control.state().name.lower()}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return files("thunes.ops").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/health")
    async def health() -> JSONResponse:
        state = session.health()
        return JSONResponse(state, status_code=200 if state["ok"] else 503)

    @app.get("/status", dependencies=guard)
    async def status() -> dict[str, Any]:
        return session.status()

    @app.get("/positions", dependencies=guard)
    async def positions() -> list[dict[str, Any]]:
        return session.positions()

    @app.get("/orders", dependencies=guard)
    async def orders() -> list[dict[str, Any]]:
        return session.orders()

    @app.get("/balance", dependencies=guard)
    async def balance() -> dict[str, Any]:
        return session.balance()

    @app.get("/profit", dependencies=guard)
    async def profit() -> list[dict[str, Any]]:
        return session.profit()

    @app.get("/trades", dependencies=guard)
    async def trades() -> list[dict[str, Any]]:
        return list(session.tap.trades)

    @app.get("/logs", dependencies=guard)
    async def logs(limit: int = 100) -> list[dict[str, Any]]:
        return recent_logs()[-limit:]

    @app.post("/pause", dependencies=guard)
    async def pause() -> dict[str, Any]:
        return command("pause", changed=control.pause())

    @app.post("/resume", dependencies=guard)
    async def resume() -> dict[str, Any]:
        return command("resume", changed=control.resume())

    @app.post("/flatten", dependencies=guard)
    async def flatten(body: Confirm) -> dict[str, Any]:
        confirmed(body, "flatten")
        return command("flatten", selling=control.flatten())

    @app.post("/reset-kill-switch", dependencies=guard)
    async def reset_kill_switch(body: Confirm) -> dict[str, Any]:
        confirmed(body, "reset-kill-switch")
        return command("reset-kill-switch", changed=control.reset_kill_switch())

    @app.post("/reload", dependencies=guard)
    async def reload(body: Reload) -> dict[str, Any]:
        if reloader is None:
            raise HTTPException(409, "this session cannot reload its config")
        try:
            result = reloader.reload(body.overrides)
        except ConfigError as error:
            raise HTTPException(422, f"config error: {error}") from None
        log.warning("command", command="reload", applied=result["applied"])
        return result

    return app


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the session owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a busy port is known before the session starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    sock.setblocking(False)
    return sock


def server(app: FastAPI) -> uvicorn.Server:
    """A uvicorn server for `app` whose logs go through the session's (log_config=None)."""
    config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=True)
    return _Server(config)
