"""Secrets never leave the process: with recognisable fake secrets in the environment (an
API key pair, a Telegram token, a webhook URL with a password, some from a `.env` file), run
what a user runs (a backtest, a sweep, a paper session on the Binance stand-in with debug
logs, mode=live with a good key and with a bad one, each notifying a local webhook and a
Telegram stand-in), then search every file written, everything printed and every
notification sent: zero hits."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.fakes.binance import FakeBinance
from tests.notify.server import Inbox, listening
from tests.sweep.test_sweep_cli import TINY

KEY = "FAKEKEY-sweep-7f3a9c0e51"
SECRET = "FAKESECRET-sweep-2b8d41aa77"
BAD_KEY = "FAKEBADKEY-sweep-93cd18f2"
TOKEN = "987654321:FAKEtelegramTOKEN-sweep5c"
PASSWORD = "FAKEpassw0rd-sweep-e2"
SECRETS = (KEY, SECRET, BAD_KEY, TOKEN, PASSWORD)
T0 = 1_704_067_200_000 + 30_000


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whatever the `.env` file sets is gone after the test (it is loaded into os.environ)."""
    names = ("BINANCE_API_SECRET", "THUNES_NOTIFY_URL")
    for name in names:  # set, then deleted: monkeypatch deletes them again at teardown
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    yield
    for name in names:
        os.environ.pop(name, None)


def hits(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [secret for secret in SECRETS if secret.encode() in data]


@pytest.mark.slow
def test_no_secret_reaches_a_file_an_output_or_a_notification(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    from apprise.plugins.telegram import NotifyTelegram

    hook, telegram = Inbox(), Inbox()
    printed: list[str] = []

    def run(*args: str) -> int:
        code = run_thunes(list(args), monkeypatch, tmp_path)
        captured = capfd.readouterr()
        printed.append(captured.out + captured.err)
        return code

    with (
        listening(hook) as hook_port,
        listening(telegram) as bot_api,
        FakeBinance(start_ms=T0, speed=60.0, tick_s=0.02) as venue,
    ):
        venue.credentials.api_key, venue.credentials.secret = KEY, SECRET
        monkeypatch.setattr(NotifyTelegram, "notify_url", f"http://127.0.0.1:{bot_api}/bot")
        monkeypatch.setenv("BINANCE_API_KEY", KEY)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_CHAT_ID", "4242")
        (tmp_path / ".env").write_text(  # secrets a user keeps in a file, beside the others
            f"BINANCE_API_SECRET={SECRET}\n"
            f"THUNES_NOTIFY_URL='json://thunes:{PASSWORD}@127.0.0.1:{hook_port}/hook'\n"
        )
        notify = [
            "notifier=telegram",
            "notifier.critical_url=${oc.env:THUNES_NOTIFY_URL}",
            "notifier.rate_per_s=100",
            "notifier.flush_timeout_s=60",
        ]
        on_venue = ["exchange=binance", f"exchange.base_url={venue.url}"]

        both = [  # with debug logs: urllib3's hold every request's path, Telegram's token in it
            "notifier=apprise",
            "notifier.urls=[{url:'tgram://${oc.env:TELEGRAM_BOT_TOKEN}/${oc.env:TELEGRAM_CHAT_ID}'"
            ",tag:tg},{url:'${oc.env:THUNES_NOTIFY_URL}',tag:hook}]",
            "notifier.flush_timeout_s=60",
            "hydra.verbose=true",
        ]
        assert run(*TINY["sma"], *both) == 0  # a backtest, tracked in MLflow; run finished
        assert run("-m", "+sweep=sma", *TINY["sma"], "hydra.sweeper.n_trials=3", *notify) == 0
        paper = ["mode=paper", *on_venue, "paper.speed=60", "paper.duration=10m"]
        paper += ["paper.view=false", "strategy=grid"]
        assert run(*paper, *both) == 0
        live = ["mode=live", *on_venue, "live.confirm=true", *notify]
        live += ["paper.speed=60", "paper.duration=3m", "paper.view=false", "strategy=grid"]
        monkeypatch.setenv("THUNES_LIVE_CONFIRM", "binance:default")
        assert run("--cfg", "job", "--resolve", *live) == 0  # printed masked, then...
        assert "critical_url: ***" in printed[3]
        assert run(*live) == 0  # ...the session gets the real values: the venue takes the key
        monkeypatch.setenv("BINANCE_API_KEY", BAD_KEY)
        assert run(*live) == 2  # refused by the venue, before any state is opened

    assert "LIVE BTC/USDT" in printed[4] and "paper.duration reached" in printed[4]
    assert "-2015" in printed[5] and "check the key in BINANCE_API_KEY" in printed[5]
    assert hook.bodies() and telegram.bodies()  # both channels were used
    basic = "Basic " + base64.b64encode(f"thunes:{PASSWORD}".encode()).decode()
    assert {post.authorization for post in hook.posts} == {basic}  # the URL's real password
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".env"]
    assert any(p.parts[-3:-1] == ("mlruns", "mlflow.db") or p.name == "mlflow.db" for p in written)
    assert any(p.suffix == ".sqlite" for p in written)  # the live state
    assert any(p.suffix == ".log" for p in written)  # Hydra's job logs
    leaks = {str(p.relative_to(tmp_path)): hits(p.read_bytes()) for p in written}
    leaks.update({f"printed by run {i}": hits(text) for i, text in enumerate(printed)})
    sent = [str(body) for body in hook.bodies()]
    sent += [str(body.get("text", "")) for body in telegram.bodies()]
    leaks.update({f"notification {i}": hits(body) for i, body in enumerate(sent)})
    assert {where: found for where, found in leaks.items() if found} == {}


SHOWN = {  # what Hydra prints itself, before any job, and how it shows the hook's URL
    "--cfg job --resolve": "url: ***",
    "--cfg all --resolve": "url: ***",
    "--help --resolve": "url: ***",
    "--cfg job --package notifier.urls.1.url": "***",  # a value alone, always resolved
    "--info config": "url: ${oc.env:THUNES_ALERTS}",  # not resolved: as written
}


@pytest.mark.parametrize("shown", sorted(SHOWN))
def test_a_printed_config_shows_the_secrets_it_resolves_masked(shown: str, tmp_path: Path) -> None:
    """`thunes --cfg job --resolve` and the like: the values `${oc.env:...}` reads are masked,
    whatever the variable's name (THUNES_ALERTS says nothing of a secret). In its own process:
    `--info` leaves Hydra's logging set up on the terminal it printed to."""
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN}
    env["THUNES_ALERTS"] = f"json://thunes:{PASSWORD}@127.0.0.1:9/hook"
    urls = "notifier.urls=[{url:'tgram://${oc.env:TELEGRAM_BOT_TOKEN}/4242',tag:tg},"
    urls += "{url:'${oc.env:THUNES_ALERTS}',tag:hook}]"
    command = [sys.executable, "-m", "thunes", *shown.split(), "notifier=apprise", urls]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = done.stdout + done.stderr
    assert SHOWN[shown] in (line.lstrip(" -") for line in printed.splitlines())
    assert hits(printed) == []
