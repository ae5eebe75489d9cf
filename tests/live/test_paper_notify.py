"""`thunes mode=paper notifier=apprise` tells a local JSON webhook what it does: trades
opened and closed, the risk engine's cool-down and kill-switch, the daily PnL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.notify.server import Inbox, listening


def test_a_paper_run_sends_its_trade_and_risk_events_to_the_webhook(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inbox = Inbox()
    with listening(inbox) as port:
        args = [
            "mode=paper",
            "paper.speed=0",
            "paper.start=2024-03-01",
            "paper.duration=10d",
            "paper.view=false",
            "data.timeframe=1h",
            "strategy.fast=5",
            "strategy.slow=20",
            "risk.max_daily_loss=5",
            "notifier=apprise",
            f"notifier.urls=[{{url:'json://127.0.0.1:{port}/hook',tag:hook}}]",
            "notifier.rate_per_s=100",
            "notifier.flush_timeout_s=120",  # a loaded machine; the run flushes before exit
        ]
        assert run_thunes(args, monkeypatch, tmp_path) == 0
    titles = [body["title"] for body in inbox.bodies()]
    kinds = {title.split(" (x")[0] for title in titles}
    print(sorted(kinds))
    assert "THUNES trade opened BTC/USDT" in kinds
    assert "THUNES trade closed BTC/USDT" in kinds
    assert "THUNES daily PnL" in kinds
    closed = next(b["message"] for b in inbox.bodies() if "trade closed" in b["title"])
    assert closed.startswith("sell ") and "PnL " in closed
