"""`thunes mode=download` and a backtest on the cache, driving the real ccxt client locally."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli.run import only_run_dir, run_thunes
from tests.fakes.binance import FakeBinance, make_rows

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def binance_args(server: FakeBinance, cache: Path) -> list[str]:
    return [
        "exchange=binance",
        f"exchange.base_url={server.url}",
        "exchange.api_key_env=null",
        "exchange.secret_env=null",
        "exchange.retry_backoff_s=0.001",
        "symbol=btcusdt",
        f"data.cache_dir={cache}",
        "data.since=2024-01-01",
        "data.until=null",
    ]


def test_download_then_backtest_from_the_cache(
    binance_server: FakeBinance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    binance_server.set_candles("BTCUSDT", "1h", make_rows(T0, 2_500, HOUR, skip=(700, 701)))
    binance_server.clock.pin(T0 + 2_500 * HOUR - HOUR // 2)  # the last candle is forming
    binance_server.faults.rate_limit_next(1)
    args = binance_args(binance_server, tmp_path / "data")

    assert run_thunes(["mode=download", *args], monkeypatch, tmp_path) == 0
    out = capsys.readouterr().out
    assert "2,497 BTC/USDT 1h candles" in out  # 2,500 - 2 missing - 1 still forming
    assert "1 gap, 2 missing bars" in out
    cached = pd.read_parquet(tmp_path / "data" / "binance" / "BTC_USDT-1h.parquet")
    assert len(cached) == 2_497
    calls = len(binance_server.requests_to("/api/v3/klines"))

    backtest = [*args, "tracking=none", "mode.plots=false", "strategy.fast=5", "strategy.slow=20"]
    assert run_thunes(backtest, monkeypatch, tmp_path) == 0
    stats = pd.read_csv(only_run_dir(tmp_path, "backtest") / "stats.csv", index_col="metric")
    assert int(stats.loc["bars", "value"]) == 2_497
    # the backtest asked only for what came after the cache, not the whole history again
    assert len(binance_server.requests_to("/api/v3/klines")) - calls <= 2


def test_download_refuses_the_simulator(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_thunes(["mode=download"], monkeypatch, tmp_path) == 2
    assert "mode=download needs a real venue" in capsys.readouterr().err
