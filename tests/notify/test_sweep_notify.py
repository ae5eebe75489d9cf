"""A sweep's end reaches the notifier once: its best parameters and the out-of-sample verdict,
from the grid engine and from an Optuna study (`-m`, whose trials share one composed config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.notify.server import Inbox, listening
from tests.sweep.test_sweep_cli import TINY

SWEEPS = {
    "grid of ": ["mode=sweep", "sweep.engine=grid"],
    "study sma-": ["-m", "+sweep=sma", "hydra.sweeper.n_trials=3"],
}


@pytest.mark.parametrize("opening", sorted(SWEEPS))
def test_a_sweep_sends_its_best_parameters_and_verdict(
    opening: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inbox = Inbox()
    with listening(inbox) as port:
        monkeypatch.setenv("THUNES_SWEEP_HOOK", f"json://127.0.0.1:{port}/sweeps")
        args = [
            *SWEEPS[opening],
            "tracking=none",
            *TINY["sma"],
            "notifier=apprise",  # a list of mappings, its URL from the environment
            "notifier.urls=[{url:'${oc.env:THUNES_SWEEP_HOOK}',tag:ops,min_level:info}]",
            "notifier.flush_timeout_s=60",
        ]
        assert run_thunes(args, monkeypatch, tmp_path) == 0
    (message,) = [body for body in inbox.bodies() if body["title"] == "THUNES sweep finished"]
    text = message["message"]
    assert text.startswith(opening) and ", best of " in text
    assert "strategy.fast=" in text and "strategy.slow=" in text
    assert "out of sample" in text and "deflated Sharpe" in text
