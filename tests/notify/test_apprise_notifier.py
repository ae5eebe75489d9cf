"""notifier=apprise delivers to real Apprise URLs (`json://` to a local server): the right
content to the right channels, never blocking the caller, through a server outage, and a
burst of 1,000 events bounded, coalesced, paced and accounted for."""

from __future__ import annotations

import logging
import time

import pytest

from tests.notify.server import Inbox, free_port, listening
from thunes.errors import ConfigError
from thunes.notify.apprise_notifier import AppriseNotifier, TelegramNotifier
from thunes.notify.channel import Batch
from thunes.notify.events import Event, Kind, Level

FAST = {"rate_per_s": 50.0, "backoff_s": 0.05, "max_backoff_s": 0.2, "send_timeout_s": 5.0}


def _json(port: int, path: str = "hook") -> str:
    return f"json://127.0.0.1:{port}/{path}"


def test_events_arrive_with_their_content_on_the_channels_their_level_reaches() -> None:
    everything, urgent = Inbox(), Inbox()
    with listening(everything) as a, listening(urgent) as b:
        notifier = AppriseNotifier(
            [
                {"url": _json(a), "tag": "all", "min_level": "info"},
                {"url": _json(b), "tag": "pager", "min_level": "critical"},
            ],
            events={"cooldown": "off"},
            **FAST,
        )
        notifier.publish(Event(Kind.TRADE_OPENED, "buy 0.01 @ 60,000.00 [entry]", "BTC/USDT"))
        notifier.publish(Event(Kind.COOLDOWN, "no new buys until 12:00 UTC"))  # off
        notifier.publish(Event(Kind.KILL_SWITCH_TRIPPED, "day PnL -20.00 reached max_daily_loss"))
        notifier.close(timeout_s=30)
    assert everything.bodies() == [
        {
            "version": "1.0",
            "title": "THUNES trade opened BTC/USDT",
            "message": "buy 0.01 @ 60,000.00 [entry]",
            "attachments": [],
            "type": "info",
        },
        {
            "version": "1.0",
            "title": "THUNES KILL-SWITCH TRIPPED",
            "message": "day PnL -20.00 reached max_daily_loss",
            "attachments": [],
            "type": "failure",
        },
    ]
    assert [body["title"] for body in urgent.bodies()] == ["THUNES KILL-SWITCH TRIPPED"]
    assert notifier.counts()["all"].delivered == 2 and notifier.counts()["pager"].delivered == 1


def test_a_server_down_is_retried_without_blocking_and_delivered_once_it_is_back() -> None:
    port, inbox = free_port(), Inbox()
    notifier = AppriseNotifier(
        [{"url": _json(port), "tag": "hook"}], retries=1000, **{**FAST, "max_backoff_s": 0.1}
    )
    started = time.monotonic()
    for n in range(200):  # trading goes on: each publish returns at once, nothing raises
        notifier.publish(Event(Kind.TRADE_CLOSED, f"trade {n}", "BTC/USDT"))
    publishing = time.monotonic() - started
    channel = notifier.channels[0]
    assert Inbox().wait(lambda _: channel.counts.retries >= 3)
    assert channel.counts.delivered == 0
    with listening(inbox, port):
        assert inbox.wait(lambda bodies: sum(_count(b) for b in bodies) == 200)
        notifier.close(timeout_s=30)
    assert channel.counts.delivered == 200 and channel.counts.dropped == 0
    assert publishing < 5.0, "publishing waited on the network"  # a bound, not a benchmark


def _count(body: dict[str, str]) -> int:
    """Events a message stands for: 1, or N of a summary titled '... (xN)'."""
    title = body["title"]
    return int(title.rsplit("(x", 1)[1].rstrip(")")) if title.endswith(")") else 1


def test_a_burst_of_1000_is_bounded_coalesced_paced_and_every_event_accounted_for() -> None:
    inbox, rate, size = Inbox(), 20.0, 8
    with listening(inbox) as port:
        notifier = AppriseNotifier(
            [{"url": _json(port), "tag": "hook"}],
            events={"order_skipped": "on"},
            **{**FAST, "rate_per_s": rate},
            queue_size=size,
        )
        started = time.monotonic()
        for n in range(1000):  # 4 kinds on one symbol per 100: 40 keys, more than 8 places
            kind = (Kind.ORDER_SKIPPED, Kind.TRADE_OPENED, Kind.ERROR, Kind.DRIFT)[n % 4]
            notifier.publish(Event(kind, f"event {n}", f"S{n // 100}/USDT"))
        notifier.close(timeout_s=60)
    counts = notifier.counts()["hook"]
    posts = sorted(post.at for post in inbox.posts)
    received = sum(_count(body) for body in inbox.bodies())
    assert counts.queued == 1000
    assert received == counts.delivered
    assert counts.delivered + counts.dropped + counts.failed == 1000  # none vanished unseen
    assert counts.dropped > 0 and counts.failed == 0  # 40 keys, 8 places: the oldest went
    assert len(posts) == counts.messages < 100  # coalesced: far fewer messages than events
    assert any(body["title"].endswith(")") for body in inbox.bodies())  # a summary
    # paced: the k-th message cannot leave before k intervals after the burst began
    assert all(at - started >= k / rate for k, at in enumerate(posts))


def test_a_summary_shows_the_first_events_counts_the_rest_and_is_loud_if_one_is() -> None:
    events = [
        Event(Kind.ORDER_SKIPPED, f"buy limit [grid:{n}]: cooldown", "X/Y") for n in range(12)
    ]
    batch = Batch(events[0], silent=True)
    for n, event in enumerate(events):
        batch.add(event, silent=n != 7)
    title, body = batch.message()
    assert title == "THUNES order skipped X/Y (x12)"
    lines = body.splitlines()
    assert lines[:5] == [f"buy limit [grid:{n}]: cooldown" for n in range(5)]
    assert lines[5:] == ["... and 7 more"]
    assert not batch.silent


def test_secrets_in_urls_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cretTokenPath42"
    caplog.set_level(logging.DEBUG)
    notifier = AppriseNotifier(
        [{"url": f"json://bob:pa55word99@127.0.0.1:{free_port()}/{secret}", "tag": "hook"}],
        retries=1,
        **FAST,
    )
    notifier.publish(Event(Kind.ERROR, "boom"))
    notifier.close(timeout_s=30)
    assert notifier.counts()["hook"].failed == 1
    assert "hook" in caplog.text and "gave up" in caplog.text
    assert secret not in caplog.text and "pa55word99" not in caplog.text
    with pytest.raises(ConfigError) as refused:
        AppriseNotifier([{"url": f"nosuchservice://{secret}@host/x"}])
    assert secret not in str(refused.value) and "nosuchservice" in str(refused.value)


def test_telegram_is_built_from_the_environment_with_a_critical_second_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apprise.plugins.telegram import NotifyTelegram

    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "4242")
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set in the environment"):
        TelegramNotifier()
    telegram, mail = Inbox(), Inbox()
    with listening(telegram) as bot_api, listening(mail) as other:
        monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{bot_api}/bot")
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCdefGHI")
        notifier = TelegramNotifier(critical_url=_json(other), **FAST)
        notifier.publish(Event(Kind.TRADE_CLOSED, "sell 0.01 @ 61,000.00; PnL +10.00", "BTC/USDT"))
        notifier.publish(Event(Kind.DAILY_REPORT, "2024-03-01: equity 1,010.00"))  # silent
        notifier.publish(Event(Kind.FEED_DOWN, "link reconnecting", level=Level.CRITICAL))
        notifier.close(timeout_s=30)
    sent = [post for post in telegram.posts if post.path.endswith("/sendMessage")]
    assert [post.path for post in sent] == ["/bot123456:ABCdefGHI/sendMessage"] * 3
    assert [post.body["chat_id"] for post in sent] == [4242] * 3
    assert [post.body["disable_notification"] for post in sent] == [False, True, False]
    assert "PnL +10.00" in sent[0].body["text"]
    assert [body["title"] for body in mail.bodies()] == ["THUNES feed down"]
