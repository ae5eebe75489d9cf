"""Secrets never leave the process: redact them from anything logged, saved or printed.

Two nets. By key: a config key that names a secret (key, secret, token, password, url...)
has its value masked wherever the config is saved or tracked. By value: every secret the
process knows (`remember`: the environment's keys and tokens, the parts of notifier URLs)
is masked inside any text: config values under innocent keys, log records (every logger,
every handler: `hook_logging`), error lines and tracebacks (`hook_tracebacks`).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any

_SECRET_KEY = re.compile(r"key|secret|token|password|passphrase|chat_id|url", re.IGNORECASE)
REDACTED = "***"
MIN_LENGTH = 6
"""Shorter values are not masked by value: `true` or `1` would mask half of every line."""

_known: tuple[str, ...] = ()
"""Longest first (a URL before its parts); replaced whole, never changed in place: other
threads log while it grows."""


def remember(secrets: Iterable[str]) -> None:
    """Mask these values (those of MIN_LENGTH or more) in everything from now on."""
    global _known
    new = {s for s in secrets if len(s) >= MIN_LENGTH} - set(_known)
    if new:
        _known = tuple(sorted({*_known, *new}, key=len, reverse=True))


def scrub(text: str) -> str:
    """`text` with every remembered secret masked."""
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(node: Any) -> Any:
    """A copy of a plain (dict/list) config with every secret-looking key's value masked,
    and every remembered secret masked in the other strings."""
    if isinstance(node, dict):
        return {
            key: REDACTED if _SECRET_KEY.search(str(key)) and value is not None else redact(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [redact(item) for item in node]
    if isinstance(node, str):
        return scrub(node)
    return node


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Dotted keys to string values, as MLflow params want them."""
    if isinstance(node, dict):
        flat: dict[str, str] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): str(node)}


_base_factory = logging.getLogRecordFactory()


def _scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """A log record whose message, traceback and stack carry no remembered secret: masked
    when the record is made, before any handler or formatter (any library's) sees it."""
    record = _base_factory(*args, **kwargs)
    if not _known:
        return record
    if isinstance(record.msg, dict):  # structlog's event dict: its own processors scrub it
        record.msg = {k: scrub(v) if isinstance(v, str) else v for k, v in record.msg.items()}
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format: logging reports it later, as it always does
        return record
    record.msg, record.args = scrub(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def hook_logging() -> None:
    """Scrub every log record from now on, whatever logger, level or handler."""
    if logging.getLogRecordFactory() is not _scrubbed_record:
        logging.setLogRecordFactory(_scrubbed_record)


def _print_scrubbed(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    text = "".join(traceback.format_exception(kind, error, tb))
    print(scrub(text), end="", file=sys.stderr)


def _thread_scrubbed(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        print(f"Exception in thread {getattr(args.thread, 'name', '?')}:", file=sys.stderr)
        _print_scrubbed(args.exc_type, args.exc_value, args.exc_traceback)


def hook_tracebacks() -> None:
    """Tracebacks that reach the top of the process (or of a thread) are printed scrubbed."""
    sys.excepthook = _print_scrubbed
    threading.excepthook = _thread_scrubbed
