"""`thunes` as a user runs it: outputs on disk, the MLflow run, overrides, a user's CSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.backtest.candles import wavy_candles, with_gap
from tests.cli.run import only_run_dir, run_thunes
from thunes.reporting.tables import TRADE_COLUMNS

HEADLINE = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "trades",
    "exposure",
    "fees_paid",
    "buy_and_hold_return",
)


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    out = frame.reset_index()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)
    return path


def test_backtest_writes_every_output_and_one_mlflow_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_csv(wavy_candles(bars=600), tmp_path / "my_candles.csv")
    code = run_thunes(
        ["data=csv", f"data.path={csv}", "strategy.fast=4", "strategy.slow=12"],
        monkeypatch,
        tmp_path,
    )
    out = capsys.readouterr().out
    assert code == 0
    run_dir = only_run_dir(tmp_path, "backtest")
    for name in (
        "stats.csv",
        "trades.csv",
        "backtest.png",
        "backtest.html",
        "config.yaml",
        "timings.json",
    ):
        assert (run_dir / name).stat().st_size > 0, name
        assert name in out  # the run says where each output is
    stats = pd.read_csv(run_dir / "stats.csv", index_col="metric")["value"]
    assert set(HEADLINE) <= set(stats.index)
    trades = pd.read_csv(run_dir / "trades.csv")
    assert tuple(trades.columns) == TRADE_COLUMNS
    assert int(stats["trades"]) == len(trades) > 5
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["strategy"]["_target_"] == "thunes.strategy.sma_cross.SmaCross"
    assert (saved["strategy"]["fast"], saved["strategy"]["slow"]) == (4, 12)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("thunes").experiment_id])
    assert run.data.params["strategy.fast"] == "4"
    assert run.data.metrics["trades"] == len(trades)
    assert {"mode", "strategy", "symbol", "timeframe", "data_fingerprint", "git_commit"} <= set(
        run.data.tags
    )
    assert run.data.tags["strategy"] == "sma_cross"
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"stats.csv", "trades.csv", "config.yaml", "backtest.png", "backtest.html"} <= artifacts


@pytest.mark.parametrize(("policy", "code"), [("fail", 1), ("keep", 0), ("ffill", 0)])
def test_csv_with_a_gap_follows_the_chosen_policy(
    policy: str,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv = write_csv(with_gap(wavy_candles(bars=300), 150, 5), tmp_path / "gappy.csv")
    args = [
        "data=csv",
        f"data.path={csv}",
        f"data.gaps={policy}",
        "tracking=none",
        "mode.plots=false",
        "strategy.fast=4",
        "strategy.slow=12",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == code
    captured = capsys.readouterr()
    assert "1 gap, 5 missing bars" in captured.out + captured.err
    if code:
        assert len(captured.err.strip().splitlines()) == 1  # one line, no traceback


def test_textbook_preset_runs_all_in_without_filters_or_slippage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    csv = write_csv(wavy_candles(bars=400), tmp_path / "c.csv")
    args = [
        "experiment=textbook",
        "exchange.fees.taker=0.002",
        "cash=5000",
        "data=csv",
        f"data.path={csv}",
        "tracking=none",
        "mode.plots=false",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    saved = yaml.safe_load((only_run_dir(tmp_path, "backtest") / "config.yaml").read_text())
    assert saved["cash"] == 5000.0
    assert saved["exchange"]["slippage"] == 0.0
    assert saved["exchange"]["fees"]["taker"] == 0.002
    assert saved["sizing"]["_target_"].endswith("AllIn")
    assert saved["filters"]["_target_"].endswith("NoFilters")


def test_replay_mode_writes_the_backtests_trades_and_orders(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    csv = write_csv(with_gap(wavy_candles(bars=500), 200, 9), tmp_path / "c.csv")
    common = [
        "data=csv",
        f"data.path={csv}",
        "data.gaps=keep",
        "tracking=none",
        "mode.plots=false",
        "strategy.fast=4",
        "strategy.slow=12",
    ]
    assert run_thunes(["mode=backtest", *common], monkeypatch, tmp_path) == 0
    assert run_thunes(["mode=replay", *common], monkeypatch, tmp_path) == 0
    backtest, replay = only_run_dir(tmp_path, "backtest"), only_run_dir(tmp_path, "replay")
    for name in ("trades.csv", "orders.csv"):
        expected = pd.read_csv(backtest / name)
        assert len(expected) > 5
        pd.testing.assert_frame_equal(pd.read_csv(replay / name), expected, rtol=1e-9)


def test_several_symbols_share_one_wallet_and_report_a_row_each(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    args = [
        "symbols=[btcusdt,ethusdt,solusdt]",
        "data=sim",
        "data.since=2024-01-01",
        "data.until=2024-03-01",
        "tracking=none",
        "mode.plots=false",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    run_dir = only_run_dir(tmp_path, "backtest")
    rows = pd.read_csv(run_dir / "stats_by_symbol.csv", index_col="scope")
    assert list(rows.index) == ["portfolio", "BTC/USDT", "ETH/USDT", "SOL/USDT"]
    trades = pd.read_csv(run_dir / "trades.csv")
    assert set(trades["symbol"]) == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    per_symbol = trades.groupby("symbol").size()
    assert [int(rows.loc[s, "trades"]) for s in per_symbol.index] == list(per_symbol)
    assert int(rows.loc["portfolio", "trades"]) == len(trades)


def test_a_strategy_the_limits_do_not_fit_warns_in_one_line_and_runs_unless_strict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("thunes.config.validate._WARNED", set())  # none yet in this process
    csv = write_csv(wavy_candles(bars=300), tmp_path / "c.csv")
    args = ["strategy=dca", "strategy.quote_amount=50", "data=csv", f"data.path={csv}"]
    args += ["tracking=none", "mode.plots=false"]
    assert run_thunes(args, monkeypatch, tmp_path) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "strategy.quote_amount" in warned[0], warned
    assert (only_run_dir(tmp_path, "backtest") / "stats.csv").exists()
    assert run_thunes([*args, "risk.strict=true"], monkeypatch, tmp_path) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("thunes: config error: strategy=dca: the max-loss stop")
