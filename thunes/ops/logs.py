"""Structured logs: one JSON object a line in `<run dir>/logs/thunes.jsonl` (time, level,
event, logger, run id, market time, and symbol and client order id where an order is
concerned), ready for Loki; readable text on the terminal. THUNES's structlog loggers and
every stdlib logger (ccxt, APScheduler, uvicorn, Apprise) go through the same processors,
so nothing is written that a secret scrubber has not seen first.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from thunes.config.env import protect
from thunes.tracking.redact import remember, scrub

LOG_NAME = "thunes.jsonl"
_QUIET = {"uvicorn.access": logging.WARNING}  # the status page polls: a line a request


class _Recent(logging.Handler):
    """The last `keep` records, rendered as the file has them (GET /logs)."""

    def __init__(self, keep: int) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]


class Logs:
    """Installed on the root logger by `install`; `close` gives back what was there."""

    def __init__(self, handlers: list[logging.Handler], recent: _Recent, path: Path | None):
        self.handlers, self.recent, self.path = handlers, recent, path
        root = logging.getLogger()
        self._before = (root.handlers[:], root.level)
        root.handlers = handlers
        root.setLevel(min(h.level for h in handlers))
        for name, level in _QUIET.items():
            logging.getLogger(name).setLevel(level)

    def close(self) -> None:
        root = logging.getLogger()
        root.handlers, level = self._before
        root.setLevel(level)
        for handler in self.handlers:
            handler.close()
        structlog.reset_defaults()


def install(
    run_dir: Path | None,
    run_id: str,
    market_time: Callable[[], str],
    file_level: str = "info",
    console_level: str = "warning",
    secrets: Iterable[str] = (),
    keep: int = 200,
) -> Logs:
    """JSON lines to `run_dir/logs/thunes.jsonl` (None: no file), text to stderr."""
    protect()  # the environment's secrets, as every entry point masks them
    remember(secrets)

    def context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.pop("color_message", None)  # uvicorn's terminal escapes
        event.setdefault("run_id", run_id)
        event.setdefault("market_time", market_time())
        return event

    def scrubbed(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = scrub(value)
        return event

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        context,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    def formatter(render: Processor) -> structlog.stdlib.ProcessorFormatter:
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrubbed,
                render,
            ],
        )

    as_json = formatter(structlog.processors.JSONRenderer(default=str))
    console = logging.StreamHandler()  # stderr
    console.setFormatter(formatter(structlog.dev.ConsoleRenderer(colors=False)))
    console.setLevel(console_level.upper())
    recent = _Recent(keep)
    recent.setFormatter(as_json)
    recent.setLevel(file_level.upper())
    handlers: list[logging.Handler] = [console, recent]
    path = None
    if run_dir is not None:
        path = run_dir / "logs" / LOG_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(path, encoding="utf-8")
        file.setFormatter(as_json)
        file.setLevel(file_level.upper())
        handlers.append(file)
    return Logs(handlers, recent, path)
