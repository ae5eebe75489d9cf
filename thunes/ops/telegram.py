"""The control API's commands and reads from Telegram (`notifier=telegram` with
`notifier.commands=true`): python-telegram-bot polls getUpdates on the engine's own event
loop, so a command runs between two steps, as the API's do. Only the configured chat
(TELEGRAM_CHAT_ID) is obeyed; other chats get no answer, and are counted (the metric
`thunes_telegram_ignored_total`) and logged without their text. Flatten and
reset-kill-switch ask for `confirm`, as the API does; `/reload` is the API's reload.
Commands left waiting while the bot was down are dropped at start: an hour-old
`/flatten confirm` is no order to act on now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import structlog
from omegaconf import DictConfig

from thunes.errors import ConfigError
from thunes.notify.apprise_notifier import required_env
from thunes.ops.reload import Reloader
from thunes.ops.status import Session
from thunes.tracking.redact import remember, scrub

if TYPE_CHECKING:  # imported by the bot's run: a session without commands never loads it
    from telegram import Update
    from telegram.ext import Application, ContextTypes

log = structlog.get_logger("thunes.ops.telegram")
BASE_URL = "https://api.telegram.org/bot"  # a self-hosted Bot API server, or a test's stand-in
POLL_TIMEOUT_S = 10  # long polling: one getUpdates waits this long for news
RETRY_S = (1.0, 60.0)  # Telegram unreachable at start: first wait, longest wait
MAX_TEXT = 4000  # Telegram refuses messages over 4096 characters
HELP = (
    "/status /positions /balance /profit: reads\n"
    "/pause /resume: new entries\n"
    "/flatten confirm: sell everything at market, pause entries\n"
    "/reset_kill_switch confirm: lift today's kill-switch\n"
    "/reload [key=value ...]: compose the config again, apply what is safe"
)


def _n(value: Any) -> str:
    return "?" if value is None else f"{value:,.2f}"


class Commands:
    """What the bot answers to a command's text (no network: testable as it is);
    `reloader`: the control API's own (`/reload`), None where the session has none."""

    def __init__(self, session: Session, reloader: Reloader | None = None) -> None:
        self.session, self.control, self.reloader = session, session.control, reloader

    def answer(self, text: str) -> str:
        word, *rest = text.split() or [""]
        name = word.lstrip("/").split("@")[0].lower().replace("-", "_")
        confirm = rest[:1] == ["confirm"]
        reads = {
            "status": self._status,
            "positions": self._positions,
            "balance": self._balance,
            "profit": self._profit,
        }
        if name in reads:
            return reads[name]()
        if name in ("pause", "resume"):
            changed = self.control.pause() if name == "pause" else self.control.resume()
            return self._command(name, f"{name}d" if changed else f"already {name}d")
        if name == "flatten":
            if not confirm:
                return "flatten sells every position at market and pauses entries: /flatten confirm"
            sold = self.control.flatten()
            return self._command(name, f"selling {', '.join(sold) or 'nothing'}; entries paused")
        if name == "reset_kill_switch":
            if not confirm:
                return "reset_kill_switch lifts today's halt: /reset_kill_switch confirm"
            changed = self.control.reset_kill_switch()
            return self._command(name, "kill-switch reset" if changed else "it was not tripped")
        if name == "reload":
            return self._reload(rest)
        return HELP

    def _reload(self, overrides: list[str]) -> str:
        """The API's reload (ops/reload.py): re-composed, validated, the safe keys applied."""
        if self.reloader is None:
            return "this session cannot reload its config"
        try:
            result = self.reloader.reload(overrides)
        except ConfigError as error:
            return f"reload refused, nothing changed: config error: {error}"
        log.warning("command", command="reload", via="telegram", applied=result["applied"])
        diff = result["diff"]
        lines = [f"applied {k}: {diff[k][0]} -> {diff[k][1]}" for k in result["applied"]]
        lines += [
            f"refused {k} ({why}): {diff[k][0]} -> {diff[k][1]}"
            for k, why in result["refused"].items()
        ]
        return "\n".join(lines) or "reload: the config is unchanged"

    def _command(self, name: str, said: str) -> str:
        state = self.control.state().name.lower()
        log.warning("command", command=name, via="telegram", trading_state=state)
        return f"{said} (trading state: {state})"

    def _status(self) -> str:
        s = self.session.status()
        risk, balance = s["risk"], s["balance"]
        return (
            f"{s['market_time']} {', '.join(s['symbols'])} {s['timeframe']}\n"
            f"trading: {risk['state']}{' (entries paused)' if risk['paused'] else ''}\n"
            f"equity {_n(balance['equity'])}, cash {_n(balance['cash'])}, "
            f"PnL today {_n(s['pnl_today'])}\n"
            f"{len(s['positions'])} positions, {len(s['orders'])} open orders\n"
            f"health: {s['health']['why']}"
        )

    def _positions(self) -> str:
        rows = self.session.positions()
        lines = [
            f"{p['symbol']} {p['amount']:g} @ {_n(p['price'])} = {_n(p['value'])}" for p in rows
        ]
        return "\n".join(lines) or "no position"

    def _balance(self) -> str:
        b = self.session.balance()
        held = "".join(f"\n{symbol}: {_n(value)}" for symbol, value in b["holdings"].items())
        return f"cash {_n(b['cash'])}, equity {_n(b['equity'])}{held}"

    def _profit(self) -> str:
        days = self.session.profit()[-7:]
        return "\n".join(f"{d['day']}: {_n(d['pnl'])}" for d in days) or "no day yet"


class TelegramCommands:
    """The bot: `run` (a task of the session) polls until cancelled. `ignored`: updates
    from other chats."""

    def __init__(self, commands: Commands, token: str, chat: str) -> None:
        self.commands, self.token, self.chat = commands, token, chat
        self.ignored = 0
        remember([token])
        if not logging.getLogger("httpx").level:  # a line per request, its URL holding the
            logging.getLogger("httpx").setLevel(logging.WARNING)  # token (masked): noise

    def ours(self, update: Update) -> bool:
        chat = update.effective_chat
        names = (str(chat.id), f"@{chat.username}" if chat.username else "") if chat else ()
        return self.chat in names

    async def _on_update(self, update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if not self.ours(update):
            self.ignored += 1
            chat = update.effective_chat
            log.warning("telegram_ignored", chat_id=chat and chat.id, ignored=self.ignored)
            return
        if message is None or not message.text or not message.text.startswith("/"):
            return
        await message.reply_text(scrub(self.commands.answer(message.text))[:MAX_TEXT])

    async def _on_error(self, _: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.warning("telegram_error", error=type(context.error).__name__)  # its text may hold a URL

    async def run(self) -> None:
        """Poll getUpdates on this loop until cancelled; Telegram unreachable at start:
        retried with back-off, the session goes on meanwhile."""
        from telegram import Update
        from telegram.error import TelegramError
        from telegram.ext import Application, TypeHandler

        wait = RETRY_S[0]
        while True:
            app = Application.builder().token(self.token).base_url(BASE_URL).build()
            app.add_handler(TypeHandler(Update, self._on_update))
            app.add_error_handler(self._on_error)
            try:
                await self._serve(app)
            except TelegramError as error:
                log.warning("telegram_unreachable", error=type(error).__name__, retry_s=wait)
                await asyncio.sleep(wait)
                wait = min(2 * wait, RETRY_S[1])

    async def _serve(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        from telegram.error import TelegramError

        updater = app.updater
        assert updater is not None  # the builder's default
        try:
            await app.initialize()  # getMe
            await updater.start_polling(timeout=POLL_TIMEOUT_S, drop_pending_updates=True)
            await app.start()
            log.info("telegram_commands", chat_id=self.chat)
            await asyncio.Event().wait()  # until the session stops
        finally:
            with contextlib.suppress(TelegramError):
                if updater.running:
                    await updater.stop()
                if app.running:
                    await app.stop()
                await app.shutdown()


def from_config(
    notifier: DictConfig, session: Session, reloader: Reloader | None = None
) -> TelegramCommands | None:
    """The bot when `notifier.commands` is on (notifier=telegram), else None."""
    if not notifier.get("commands", False):
        return None
    token = required_env(str(notifier.bot_token_env), "the bot's token, from @BotFather")
    chat = required_env(str(notifier.chat_id_env), "the one chat the bot obeys")
    return TelegramCommands(Commands(session, reloader), token, chat)
