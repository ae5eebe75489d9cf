"""A wrong notifier setting stops before anything runs: exit code 2, one line naming the
key or the environment variable, and never a URL's secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.cli.run import run_thunes
from tests.config.compose import composed
from thunes.tracking.redact import flatten, redact

PAPER = ["mode=paper", "paper.once=true", "data.timeframe=1h", "paper.view=false"]
HOOK = "notifier.urls=[{url:'json://127.0.0.1:9/hook',tag:hook}]"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["notifier=apprise"], "notifier.urls=[] is not allowed: at least one {url"),
        (
            ["notifier=apprise", "notifier.urls=[{url:'json://127.0.0.1:9/x',min_level:loud}]"],
            "min_level='loud' is not allowed: one of info, warning, critical",
        ),
        (
            ["notifier=apprise", HOOK, "notifier.events.cooldown=maybe"],
            "notifier.events.cooldown='maybe' is not allowed: an event kind",
        ),
        (
            ["notifier=apprise", HOOK, "+notifier.events.cooldwn=off"],
            "notifier.events.cooldwn='off' is not allowed: an event kind (trade_opened",
        ),
        (
            ["notifier=apprise", HOOK, "notifier.rate_per_s=0"],
            "notifier.rate_per_s=0.0 is not allowed: must be > 0",
        ),
        (
            ["notifier=apprise", "notifier.urls=[{url:'nosuch://t0kenXYZ99@host/x'}]"],
            "notifier.urls[0].url: Apprise cannot use this URL (nosuch://..., not shown",
        ),
        (["notifier=telegram"], "notifier=telegram: TELEGRAM_BOT_TOKEN is not set"),
    ],
)
def test_a_wrong_notifier_setting_is_one_line_and_exit_2(
    overrides: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert run_thunes([*PAPER, *overrides], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("thunes: config error: ") and expected in err, err
    assert "t0kenXYZ99" not in err


def test_notification_urls_never_reach_a_saved_config() -> None:
    urls = "notifier.urls=[{url:'tgram://123456:SeCrEt/42',tag:phone,min_level:warning}]"
    with composed("notifier=apprise", urls) as cfg:
        flat = flatten(redact(OmegaConf.to_container(cfg, resolve=True)))
    assert "SeCrEt" not in str(flat)
    with composed("notifier=telegram", "notifier.critical_url='mailto://me:pw99@x.org'") as cfg:
        flat = flatten(redact(OmegaConf.to_container(cfg, resolve=True)))
    assert "pw99" not in str(flat)
