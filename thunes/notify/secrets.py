"""Notification URLs are secrets (a Telegram URL holds the bot's token, a mail URL its
password): none of their parts may reach a log line, an error or a saved config.

Apprise logs request URLs at debug level, and urllib3 logs every request's path (Telegram's
holds the token): a filter on those loggers masks every secret part of the configured URLs,
whatever level or handler the logs go to.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
_HOST = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")  # a host name or IPv4: not secret
_NOISY = ("apprise", "urllib3.connectionpool")


def url_secrets(url: str) -> set[str]:
    """The parts of `url` that may be secret: user, password, host (Telegram's token is
    there), path segments and query values of 6 characters or more."""
    parts = urlsplit(url)
    pieces = re.split(r"[:@/]", unquote(parts.netloc + parts.path))
    pieces += [value for _, value in parse_qsl(parts.query)]
    found = {piece for piece in pieces if len(piece) >= 6 and not _HOST.fullmatch(piece)}
    return found | {url}


def scrub(text: str, secrets: set[str]) -> str:
    """`text` with every secret masked, longest first (a URL before its parts)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class _Scrubber(logging.Filter):
    def __init__(self) -> None:
        super().__init__("thunes.notify.secrets")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = scrub(record.getMessage(), self.secrets), None
        return True


_SCRUBBER = _Scrubber()


def guard(urls: list[str]) -> None:
    """Mask these URLs' secrets in the logs of Apprise and urllib3 from now on."""
    for url in urls:
        _SCRUBBER.secrets |= url_secrets(url)
    for name in _NOISY:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
