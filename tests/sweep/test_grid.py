"""The exhaustive grid as a user runs it, and its agreement with an Optuna trial."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.run import run_thunes
from tests.config.compose import composed
from tests.sweep.test_sweep_cli import TINY, mlflow_runs
from thunes.sweep.trial import evaluate


def newest(cwd: Path, mode: str) -> Path:
    return sorted((cwd / "experiments" / mode).glob("*/*"))[-1]


def test_grid_scores_every_allowed_combination_like_a_trial_and_logs_the_top_k(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "-m",
        "+sweep=sma",
        "sweep.engine=grid",
        "sweep.top_k=3",
        *TINY["sma"],
        "strategy.fast=range(4, 12, 4)",
        "strategy.slow=range(12, 24, 6)",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    out = newest(tmp_path, "multirun")
    grid = pd.read_csv(out / "grid.csv")
    # fast in {4, 8, 12} x slow in {12, 18, 24}, without (12, 12): fast < slow
    assert sorted(zip(grid["strategy.fast"], grid["strategy.slow"], strict=True)) == [
        (4, 12), (4, 18), (4, 24), (8, 12), (8, 18), (8, 24), (12, 18), (12, 24)
    ]  # fmt: skip
    assert (grid["state"] == "COMPLETE").all()
    top = pd.read_csv(out / "top_k.csv")
    assert len(top) == 3
    assert top["train_sharpe"].tolist() == sorted(grid["train_sharpe"], reverse=True)[:3]
    for name in ("heatmap.html", "heatmap.png"):
        assert (out / name).stat().st_size > 1000
    assert "Deflated Sharpe Ratio" in capsys.readouterr().out

    # The grid's figures for a combination are an Optuna trial's figures for it.
    row = grid.iloc[5]
    fast, slow = int(row["strategy.fast"]), int(row["strategy.slow"])
    with composed(
        "+sweep=sma", *TINY["sma"], f"strategy.fast={fast}", f"strategy.slow={slow}"
    ) as cfg:
        outcome = evaluate(cfg)
    assert outcome.train["sharpe"] == pytest.approx(row["train_sharpe"], rel=1e-12)
    assert outcome.test["total_return"] == pytest.approx(row["test_total_return"], rel=1e-12)

    runs = mlflow_runs(tmp_path)
    parent = runs[(runs["tags.engine"] == "grid") & runs["tags.mlflow.parentRunId"].isna()]
    assert len(parent) == 1
    children = runs[runs["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]]
    assert sorted(children["tags.rank"].astype(int)) == [1, 2, 3]


def test_mode_sweep_alone_takes_the_strategys_preset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = ["mode=sweep", "sweep.engine=grid", "tracking=none", *TINY["sma"]]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    grid = pd.read_csv(newest(tmp_path, "sweep") / "grid.csv")
    assert set(grid["strategy.fast"]) == set(range(5, 61, 5))  # conf/sweep/sma.yaml's space
    assert (grid["strategy.fast"] < grid["strategy.slow"]).all()


def test_a_grid_beyond_its_limit_is_refused_before_any_backtest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["+sweep=sma", "sweep.engine=grid", "sweep.max_combinations=50", *TINY["sma"]]
    assert run_thunes(args, monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("thunes: config error: sweep.max_combinations=50: the grid has")


def test_optuna_without_multirun_says_how_to_run_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_thunes(["+sweep=sma"], monkeypatch, tmp_path) == 2
    assert "thunes -m +sweep=sma" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["dca", "grid"])
def test_a_stateful_strategy_starts_each_window_afresh(strategy: str) -> None:
    """The out-of-sample figures are those of a bot started at the window's first bar, not
    of one carrying the in-sample run's cycle or levels along."""
    from thunes.components import build
    from thunes.sweep.trial import candles_once, folds_of, metrics, window

    overrides = [f"+sweep={strategy}", *TINY[strategy]]
    with composed(*overrides) as cfg:
        outcome = evaluate(cfg)
        candles = candles_once(cfg, build(cfg))
        (fold,) = folds_of(cfg, candles[0])
    with composed(*overrides) as cfg:
        alone = metrics(build(cfg), window(candles, fold.test))
    assert outcome.test == alone
    assert outcome.test["fills"] > 0
