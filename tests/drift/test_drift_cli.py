"""`thunes drift=<option>` as a user runs it: a backtest writes its alarms to drift.csv,
counts them in the stats and marks them on the plot; a paper session saves its detectors
beside the state file and resumes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.run import only_run_dir, run_thunes

SHORT = ["tracking=none", "notifier=none", "data.since=2023-01-01", "data.until=2023-07-01"]


def test_a_backtest_counts_and_writes_its_drift_alarms(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert run_thunes(["drift=page_hinkley", *SHORT], monkeypatch, tmp_path) == 0
    run_dir = only_run_dir(tmp_path, "backtest")
    drifts = pd.read_csv(run_dir / "drift.csv")
    stats = pd.read_csv(run_dir / "stats.csv", index_col="metric")["value"]
    assert list(drifts.columns) == ["time", "symbol", "stream", "z"]
    assert int(stats["drift_alarms"]) == len(drifts)
    assert (run_dir / "backtest.png").exists()


def test_drift_none_adds_nothing_to_a_backtest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert run_thunes(["drift=none", *SHORT], monkeypatch, tmp_path) == 0
    run_dir = only_run_dir(tmp_path, "backtest")
    assert not (run_dir / "drift.csv").exists()
    assert "drift_alarms" not in pd.read_csv(run_dir / "stats.csv")["metric"].tolist()


def test_a_paper_session_saves_its_detectors_and_resumes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    args = [
        "mode=paper",
        "drift=adwin",
        "data.timeframe=1h",
        "paper.speed=0",
        "paper.start=2024-03-01",
        "paper.view=false",
        "notifier=none",
        "tracking=none",
        f"state.dir={state}",
    ]
    assert run_thunes([*args, "paper.duration=3d"], monkeypatch, tmp_path) == 0
    (saved,) = state.glob("*.drift.pickle")
    first = saved.read_bytes()
    assert run_thunes([*args, "paper.duration=6d"], monkeypatch, tmp_path) == 0
    from tests.drift.test_detectors import shipped
    from thunes.drift import persist

    monitor = persist.load(saved, shipped("adwin"))
    assert saved.read_bytes() != first
    # 6 days of hourly closes, 24 a window: 5 volatility values (the first close has no return)
    ((_, channel),) = [(k, c) for k, c in monitor.channels.items() if k[0] == "volatility"]
    assert channel.baseline.n == 5
