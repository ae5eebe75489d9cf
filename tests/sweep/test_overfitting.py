"""Optimising trading rules in sample mostly finds noise: the sweep must say so.

On a pure random walk the best of many SMA pairs still shows a positive in-sample Sharpe;
the Deflated Sharpe Ratio must flag it as not significant. On a market with a planted,
persistent trend the same sweep must find an edge that passes, and holds out of sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.run import run_thunes
from tests.cli.test_backtest_cli import write_csv
from tests.sweep.test_sweep_cli import mlflow_runs

BARS = 3000
GRID = ["strategy.fast=range(2, 20, 3)", "strategy.slow=range(10, 100, 10)"]


def market(log_returns: np.ndarray, seed: int) -> pd.DataFrame:
    """Hourly candles along these close-to-close log returns, OHLC consistent."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(log_returns))
    opens = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, len(close))) * close
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) + spread,
            "low": np.minimum(opens, close) - spread,
            "close": close,
            "volume": rng.uniform(1, 10, len(close)),
        },
        index=pd.date_range(
            "2023-01-01", periods=len(close), freq="1h", tz="UTC", name="timestamp"
        ),
    )


def sweep_verdict(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> pd.Series:
    path = write_csv(frame, tmp_path / "market.csv")
    args = ["-m", "+sweep=sma", "sweep.engine=grid", "data=csv", f"data.path={path}", *GRID]
    assert run_thunes([*args, "risk=none", "sizing=all_in"], monkeypatch, tmp_path) == 0
    runs = mlflow_runs(tmp_path)
    parent = runs[(runs["tags.engine"] == "grid") & runs["tags.mlflow.parentRunId"].isna()]
    return parent.iloc[0]


def test_the_best_of_many_rules_on_pure_noise_is_flagged_not_significant(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = np.random.default_rng(11).normal(0, 0.006, BARS)
    verdict = sweep_verdict(market(noise, seed=11), monkeypatch, tmp_path)
    assert verdict["metrics.trials_evaluated"] > 40
    assert verdict["metrics.significant"] == 0.0
    assert verdict["metrics.deflated_sharpe"] < 0.95
    assert "NOT significant" in capsys.readouterr().out


def test_a_planted_trend_is_found_passes_the_deflation_and_holds_out_of_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    regime = np.where((np.arange(BARS) // 150) % 2 == 0, 0.003, -0.003)  # 150-bar trends
    returns = regime + np.random.default_rng(12).normal(0, 0.004, BARS)
    verdict = sweep_verdict(market(returns, seed=12), monkeypatch, tmp_path)
    assert verdict["metrics.significant"] == 1.0
    assert verdict["metrics.deflated_sharpe"] >= 0.95
    assert verdict["metrics.best_train_sharpe"] > 1
    assert verdict["metrics.best_test_sharpe"] > 1
