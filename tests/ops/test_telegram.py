"""`notifier=telegram notifier.commands=true`: a paper session obeys the control commands
sent from the configured chat, through a local stand-in of Telegram's Bot API, and ignores
every other chat."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.run import run_thunes
from tests.ops.bot_api import BotApi, serving
from tests.ops.spy import attached_ops
from thunes.ops import telegram
from thunes.ops.attach import Ops
from thunes.ops.telegram import Commands

TOKEN = "123456789:FAKEtelegramTOKEN-cmds7q"
CHAT, STRANGER = 4242, 999
DAY_MS = 86_400_000


def test_flatten_and_reset_ask_for_confirm_and_reads_answer(ops: Ops) -> None:
    commands = Commands(ops.session)
    held = ops.session.positions()
    assert held  # the grid holds something to flatten
    assert "/flatten confirm" in commands.answer("/flatten")
    assert not ops.control.paused and ops.session.positions() == held
    assert "/reset_kill_switch confirm" in commands.answer("/reset_kill_switch")
    assert "trading: active" in commands.answer("/status@thunes_bot")
    assert held[0]["symbol"] in commands.answer("/positions")
    assert commands.answer("/pause") == "paused (trading state: reducing)"
    assert commands.answer("/pause").startswith("already paused")
    assert "(entries paused)" in commands.answer("/status")
    assert commands.answer("/resume").startswith("resumed")
    assert commands.answer("/nonsense") == telegram.HELP


def _script(api: BotApi, seen: dict[str, Any], ops: list[Ops]) -> None:
    """What a user types while the session runs, each step waiting for the bot's answer;
    then 3 market days paused, and Ctrl-C (SIGTERM) ends the session."""
    try:
        api.wait_polling()
        api.say(CHAT, "/status")
        seen["status"] = api.wait_reply(CHAT, 1)
        api.say(STRANGER, "/pause")
        api.say(CHAT, "/flatten")
        seen["flatten"] = api.wait_reply(CHAT, 2)
        api.say(CHAT, "/status")
        seen["after"] = api.wait_reply(CHAT, 3)
        api.say(CHAT, "/pause")
        seen["pause"] = api.wait_reply(CHAT, 4)
        api.say(CHAT, "/reload risk.max_daily_loss=42 strategy.fast=6")
        seen["reload"] = api.wait_reply(CHAT, 5)
        api.say(CHAT, "/reload risk.max_daily_loss=lots")
        seen["bad_reload"] = api.wait_reply(CHAT, 6)
        engine = ops[0].engine
        seen["paused_ms"] = engine.now_ms
        deadline = time.monotonic() + 60  # a bound, not a measure
        while engine.now_ms < seen["paused_ms"] + 3 * DAY_MS and time.monotonic() < deadline:
            time.sleep(0.05)
    except AssertionError as error:
        seen["error"] = error
    finally:
        if ops and ops[0].engine.stopped is None:  # its handler is on until it stops
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_paper_session_obeys_its_chat_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from apprise.plugins.telegram import NotifyTelegram

    attached = attached_ops(monkeypatch)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(CHAT))
    api, seen = BotApi(), {}
    with serving(api) as url:
        monkeypatch.setattr(telegram, "BASE_URL", url)
        monkeypatch.setattr(NotifyTelegram, "notify_url", url)  # the notifier's messages
        user = threading.Thread(target=_script, args=(api, seen, attached), daemon=True)
        user.start()
        args = [
            "mode=paper",
            "paper.start=2024-03-01",
            "paper.duration=60d",  # a bound: the user's script stops it (SIGTERM)
            # a day of 1h candles in 3 s: at 144000x (0.6 s) a loaded host's engine fell market
            # months behind its clock, and the bot's answers and the SIGTERM waited behind it
            "paper.speed=28800",
            "strategy.fast=5",  # market orders, a few trades a day
            "strategy.slow=20",
            "paper.view=false",
            "data.timeframe=1h",
            "tracking=none",
            "ops.api=false",
            "notifier=telegram",
            "notifier.commands=true",
            "notifier.rate_per_s=100",
            "notifier.flush_timeout_s=2",
        ]
        assert run_thunes(args, monkeypatch, tmp_path) == 0
        user.join(timeout=5)
    assert "error" not in seen, seen.get("error")
    assert "trading: active" in seen["status"]
    assert "/flatten confirm" in seen["flatten"]
    assert "trading: active" in seen["after"]  # neither the stranger's pause nor a flatten
    assert seen["pause"] == "paused (trading state: reducing)"
    assert "applied risk.max_daily_loss: 20.0 -> 42.0" in seen["reload"], seen["reload"]
    assert "refused strategy.fast (needs a restart): 5 -> 6" in seen["reload"], seen["reload"]
    assert seen["bad_reload"].startswith("reload refused, nothing changed: config error:")
    assert "risk.max_daily_loss" in seen["bad_reload"]
    assert not [body for body in api.sent if str(body["chat_id"]) == str(STRANGER)]
    (ops,) = attached
    assert ops.telegram is not None and ops.telegram.ignored == 1
    assert ops.metrics.registry.get_sample_value("thunes_telegram_ignored_total") == 1
    assert ops.control.risk.limits.max_daily_loss == 42.0  # the reload's, applied
    assert ops.reloader.cfg.strategy.fast == 5  # refused: runs on until a restart
    refused = [r for r in ops.logs.recent.records() if r.get("reason") == "entries paused"]
    assert refused  # the strategy wanted in again after the pause: refused
    late = [t for t in ops.session.tap.trades if t["side"] == "buy" and t["time"] > _after(seen)]
    assert not late, late  # no buy filled after the pause (and the candle in flight)
    printed = "".join(capfd.readouterr())
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert "telegram_ignored" in printed and "/pause" not in printed  # a stranger's text
    assert TOKEN not in printed and not [w for w in written if TOKEN.encode() in w]


def _after(seen: dict[str, Any]) -> str:
    from thunes.domain.timeframes import utc_minute

    return utc_minute(seen["paused_ms"] + 3_600_000)


def test_commands_must_be_a_boolean(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", str(CHAT))
    args = ["mode=paper", "paper.once=true", "notifier=telegram", "notifier.commands=maybe"]
    assert run_thunes(args, monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notifier.commands" in err, err
    assert TOKEN not in err


def test_telegram_unreachable_never_stops_the_session(
    ops: Ops, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.notify.server import free_port

    monkeypatch.setattr(telegram, "BASE_URL", f"http://127.0.0.1:{free_port()}/bot")
    monkeypatch.setattr(telegram, "RETRY_S", (0.05, 0.1))
    bot = telegram.TelegramCommands(Commands(ops.session), TOKEN, str(CHAT))

    async def session() -> None:
        polling = asyncio.ensure_future(bot.run())
        await asyncio.sleep(1.0)  # getMe refused, retried: the task lives on
        assert not polling.done()
        polling.cancel()
        await asyncio.wait([polling], timeout=5)
        assert polling.cancelled()

    asyncio.run(session())
