"""Notification URLs are secrets (a Telegram URL holds the bot's token, a mail URL its
password): none of their parts may reach a log line, an error or a saved config.

Apprise logs request URLs at debug level, and urllib3 logs every request's path (Telegram's
holds the token): every secret part of the configured URLs is remembered by the process's
redaction (thunes/tracking/redact.py), which masks it in every log record, whatever level or
handler the logs go to, and in errors, tracebacks and saved configs.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from thunes.tracking.redact import hook_logging, remember

_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")  # a host name or IPv4: not secret


def url_secrets(url: str) -> set[str]:
    """The parts of `url` that may be secret: user, password, host (Telegram's token is
    there), path segments and query values of 6 characters or more."""
    parts = urlsplit(url)
    pieces = re.split(r"[:@/]", unquote(parts.netloc + parts.path))
    pieces += [value for _, value in parse_qsl(parts.query)]
    found = {piece for piece in pieces if len(piece) >= 6 and not _HOST.fullmatch(piece)}
    return found | {url}


def guard(urls: list[str]) -> None:
    """Mask these URLs' secrets in every log record (and error) from now on."""
    for url in urls:
        remember(url_secrets(url))
    hook_logging()
