"""A sweep's end reaches the notifier: its best parameters and the out-of-sample verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.notify.server import Inbox, listening
from tests.sweep.test_sweep_cli import TINY


def test_a_grid_sweep_sends_its_best_parameters_and_verdict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inbox = Inbox()
    with listening(inbox) as port:
        args = [
            "mode=sweep",
            "sweep.engine=grid",
            "tracking=none",
            *TINY["sma"],
            "notifier=apprise",
            f"notifier.urls=[{{url:'json://127.0.0.1:{port}/sweeps'}}]",
            "notifier.flush_timeout_s=60",
        ]
        assert run_thunes(args, monkeypatch, tmp_path) == 0
    (message,) = [body for body in inbox.bodies() if body["title"] == "THUNES sweep finished"]
    text = message["message"]
    assert text.startswith("grid of ") and ", best of " in text
    assert "strategy.fast=" in text and "strategy.slow=" in text
    assert "out of sample" in text and "deflated Sharpe" in text
