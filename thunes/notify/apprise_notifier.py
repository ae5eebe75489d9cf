"""notifier=apprise and notifier=telegram: any Apprise URL (Telegram, Discord, Slack, mail,
ntfy, a JSON webhook...), each its own channel with a tag (its name in logs: a URL never
is) and a minimum level, behind a queue that never blocks trading (channel.py).

`notifier=telegram` builds `tgram://` from the environment; `critical_url` adds a second
channel for critical events, so that a Telegram outage or ban is not the only path.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from thunes.errors import ConfigError
from thunes.notify.channel import Channel, Counts, Limits, Send
from thunes.notify.events import Event, Level, Policy, level_of, policies
from thunes.notify.secrets import apprise_plugin, guard
from thunes.tracking.redact import scrub

log = logging.getLogger(__name__)


def _apprise_sender(key: str, url: str, timeout_s: float) -> Send:
    """A channel's `send` on one Apprise URL; a second, silenced copy of it (Telegram's
    `silent=yes`) for `silent` events where the service supports it."""
    import apprise

    loud = apprise_plugin(url)
    if loud is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise ConfigError(
            f"{key}: Apprise cannot use this URL ({scheme}://..., not shown: it may hold a "
            "secret); see https://github.com/caronc/apprise/wiki"
        )
    quiet = None
    if "silent" in type(loud).template_args:
        quiet = apprise_plugin(url + ("&" if "?" in url else "?") + "silent=yes")
    sound, silence = apprise.Apprise(), apprise.Apprise()
    sound.add(loud)
    silence.add(quiet or loud)
    types = {
        Level.INFO: apprise.NotifyType.INFO,
        Level.WARNING: apprise.NotifyType.WARNING,
        Level.CRITICAL: apprise.NotifyType.FAILURE,
    }

    def send(title: str, body: str, level: Level, silent: bool) -> bool:
        target = silence if silent else sound  # an error's text may quote a secret: masked
        return bool(target.notify(scrub(body), scrub(title), types[level], timeout=timeout_s))

    return send


class AppriseNotifier:
    """`urls`: [{url, tag, min_level}]; `events`: {kind: on | silent | off}. Channels start
    their thread at their first event; `close` (also run at exit) flushes them within
    `flush_timeout_s`."""

    def __init__(
        self,
        urls: Sequence[Mapping[str, Any]],
        events: Mapping[str, Any] | None = None,
        rate_per_s: float = 1.0,
        queue_size: int = 100,
        retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        send_timeout_s: float = 10.0,
        flush_timeout_s: float = 10.0,
    ) -> None:
        if not urls:
            raise ConfigError("notifier.urls: give at least one {url, tag, min_level}")
        guard([str(entry["url"]) for entry in urls])
        if not logging.getLogger("apprise").level:  # a line per message sent: noise; the
            logging.getLogger("apprise").setLevel(logging.WARNING)  # channels log failures
        limits = Limits(rate_per_s, queue_size, retries, backoff_s, max_backoff_s)
        self.policies = policies(events or {})
        self.flush_timeout_s = flush_timeout_s
        self.channels = []
        for i, entry in enumerate(urls):
            key = f"notifier.urls[{i}]"
            send = _apprise_sender(f"{key}.url", str(entry["url"]), send_timeout_s)
            tag = str(entry.get("tag") or f"channel{i}")
            level = level_of(f"{key}.min_level", str(entry.get("min_level", "info")))
            self.channels.append(Channel(tag, send, limits, level))
        self._exit_hooked = False

    def publish(self, event: Event) -> None:
        """Queue `event` for every channel whose level it reaches; returns at once."""
        policy = self.policies[event.kind]
        if policy is Policy.OFF:
            return
        if not self._exit_hooked:
            self._exit_hooked = True
            atexit.register(self.close)
        for channel in self.channels:
            if event.urgency >= channel.min_level:
                channel.put(event, policy is Policy.SILENT)

    def close(self, timeout_s: float | None = None) -> None:
        """Send what is queued, for at most `timeout_s` (default `flush_timeout_s`) in all."""
        deadline = time.monotonic() + (self.flush_timeout_s if timeout_s is None else timeout_s)
        for channel in self.channels:
            channel.close(deadline)

    def counts(self) -> dict[str, Counts]:
        """What became of the events, by channel tag (for metrics and the status page)."""
        return {channel.name: channel.counts for channel in self.channels}


def required_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"notifier=telegram: {name} is not set in the environment ({what})")
    return value


class TelegramNotifier(AppriseNotifier):
    """Telegram from TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID (the variables' names are
    settings), plus `critical_url` if given: another service, for critical events.
    `commands` is the session's to read (thunes/ops/telegram.py), not the notifier's."""

    def __init__(
        self,
        bot_token_env: str = "TELEGRAM_BOT_TOKEN",
        chat_id_env: str = "TELEGRAM_CHAT_ID",
        min_level: str = "info",
        critical_url: str | None = None,
        commands: bool = False,
        **settings: Any,
    ) -> None:
        token = required_env(bot_token_env, "the bot's token, from @BotFather")
        if not re.fullmatch(r"\d+:[\w-]+", token):
            raise ConfigError(
                f"notifier=telegram: {bot_token_env} is not a bot token (digits:letters, "
                "as @BotFather gives it; its value is not shown)"
            )
        chat = required_env(chat_id_env, "the chat the bot writes to")
        urls = [{"url": f"tgram://{token}/{chat}", "tag": "telegram", "min_level": min_level}]
        if critical_url:
            urls.append({"url": critical_url, "tag": "critical", "min_level": "critical"})
        super().__init__(urls, **settings)
