"""Notification URLs hold secrets (a Telegram URL the bot's token, a mail URL its password):
none of them may reach a log line, an error or a saved config.

Apprise logs request URLs at debug level, and urllib3 logs every request's path (Telegram's
holds the token): the secret parts of the configured URLs are remembered by the process's
redaction (thunes/tracking/redact.py), which masks them in every log record, whatever level
or handler the logs go to, and in errors, tracebacks and saved configs. Only those parts:
the redaction masks a value everywhere in the process, so an ordinary word of a URL's path
(`/alerts/trading`) remembered as a secret would be masked in every unrelated line too.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from thunes.tracking.redact import hook_logging, remember

if TYPE_CHECKING:
    from apprise import NotifyBase

_SECRET_PARAMETER = re.compile(r"token|key|secret|pass|auth|sig|cred", re.IGNORECASE)
"""A query parameter so named holds a secret (`?token=`, `apikey=`, `password=`...)."""
_GENERATED = re.compile(r"(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_-]{16,}")
"""A path segment a service generated (letters and digits, 16 or more: a ping URL's UUID, a
webhook's token), where no Apprise plugin says which part is secret; words are not."""


def apprise_plugin(url: str) -> NotifyBase | None:
    """Apprise's plugin for `url`, or None; Apprise's own complaint, which shows the URL, is
    not logged."""
    import apprise  # 1.5 s to load its plugins: only when a URL is read

    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.CRITICAL)
    try:
        return apprise.Apprise.instantiate(url)
    finally:
        apprise_log.setLevel(level)


def _private(url: str) -> set[str] | None:
    """The values Apprise's schema for `url` marks private (Telegram's bot token, Discord's
    webhook token, a password...), or None when no Apprise plugin reads `url`."""
    plugin = apprise_plugin(url)
    if plugin is None:
        return None
    schema = type(plugin)
    parsed: dict[str, Any] = schema.parse_native_url(url) or schema.parse_url(url) or {}
    specs = {**schema.template_tokens, **schema.template_args}
    names = {str(spec.get("map_to") or name) for name, spec in specs.items() if spec.get("private")}
    found: set[str] = set()
    for name in names:
        value = parsed.get(name)
        values = value if isinstance(value, (list, tuple, set)) else [value]
        found.update(str(v) for v in values if v)
    return found


def url_secrets(url: str) -> set[str]:
    """The secret parts of `url`: the URL whole, its user and password, the values of query
    parameters named like token, key, secret or password, and what Apprise's schema for it
    marks private; for a URL Apprise does not read (ops.ping_url), path segments that look
    generated instead. A token `id:secret` is masked whole and its secret alone."""
    parts = urlsplit(url)
    found = {url, unquote(parts.username or ""), unquote(parts.password or "")}
    found |= {value for name, value in parse_qsl(parts.query) if _SECRET_PARAMETER.search(name)}
    private = _private(url)
    if private is None:
        private = {seg for seg in unquote(parts.path).split("/") if _GENERATED.fullmatch(seg)}
    found |= private
    found |= {token.rsplit(":", 1)[1] for token in private if ":" in token}
    return {piece for piece in found if piece}


def guard(urls: list[str]) -> None:
    """Mask these URLs' secrets in every log record (and error) from now on."""
    for url in urls:
        remember(url_secrets(url))
    hook_logging()
