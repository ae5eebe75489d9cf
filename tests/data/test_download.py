"""Downloading candles through the REAL ccxt client, aimed at a local Binance stand-in."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from tests.fakes.binance import FakeBinance, make_rows
from thunes.data.candles import find_gaps, rows_to_frame, validate_candles
from thunes.data.download import download_candles
from thunes.data.store import CandleStore
from thunes.domain.market import MarketFilters
from thunes.errors import ConfigError, ExchangeError
from thunes.exchange.ccxt_exchange import CcxtExchange

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
SYMBOL = "BTC/USDT"


def exchange_for(server: FakeBinance, max_retries: int = 5) -> CcxtExchange:
    return CcxtExchange(
        exchange_id="binance",
        base_url=server.url,
        fees={"maker": 0.001, "taker": 0.001, "from_received": True},
        slippage=0.0005,
        max_retries=max_retries,
        retry_backoff_s=0.001,
    )


def serve(server: FakeBinance, count: int, *, skip: tuple[int, ...] = ()) -> list[list[float]]:
    """Serve `count` hourly candles from T0 (minus `skip`), all closed by the server's clock."""
    rows = make_rows(T0, count, HOUR, skip=skip)
    server.set_candles("BTCUSDT", "1h", rows)
    server.clock.pin(T0 + count * HOUR)
    return rows


def kline_starts(server: FakeBinance) -> list[int]:
    return [int(r.params["startTime"]) for r in server.requests_to("/api/v3/klines")]


def download(
    server: FakeBinance,
    store: CandleStore,
    since_ms: int = T0,
    until_ms: int | None = None,
    exchange: CcxtExchange | None = None,
) -> pd.DataFrame:
    return download_candles(
        exchange or exchange_for(server), store, SYMBOL, "1h", since_ms, until_ms, progress=False
    )


def test_paginates_in_pages_of_1000(binance_server: FakeBinance, tmp_path: Path) -> None:
    rows = serve(binance_server, 2500)
    store = CandleStore(tmp_path)
    frame = download_candles(
        exchange_for(binance_server), store, SYMBOL, "1h", T0, None, progress=True
    )
    assert kline_starts(binance_server) == [T0, T0 + 1000 * HOUR, T0 + 2000 * HOUR]
    assert all(r.params["limit"] == "1000" for r in binance_server.requests_to("/api/v3/klines"))
    pd.testing.assert_frame_equal(frame, rows_to_frame(rows))
    validate_candles(frame, "1h")
    assert store.path("binance", SYMBOL, "1h") == tmp_path / "binance" / "BTC_USDT-1h.parquet"
    cached = store.load("binance", SYMBOL, "1h")
    assert cached is not None
    pd.testing.assert_frame_equal(cached, frame)


def test_until_bounds_the_result(binance_server: FakeBinance, tmp_path: Path) -> None:
    serve(binance_server, 300)
    frame = download(binance_server, CandleStore(tmp_path), T0 + 10 * HOUR, T0 + 20 * HOUR)
    assert len(frame) == 10
    assert frame.index[0] == pd.Timestamp(T0 + 10 * HOUR, unit="ms", tz="UTC")
    assert frame.index[-1] == pd.Timestamp(T0 + 19 * HOUR, unit="ms", tz="UTC")


def test_rate_limit_is_retried_and_data_is_complete(
    binance_server: FakeBinance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = serve(binance_server, 1500)
    binance_server.faults.rate_limit_next(2)
    with caplog.at_level(logging.WARNING, logger="thunes.exchange.ccxt_exchange"):
        frame = download(binance_server, CandleStore(tmp_path))
    statuses = [r.status for r in binance_server.requests_to("/api/v3/klines")]
    assert statuses == [429, 429, 200, 200]
    pd.testing.assert_frame_equal(frame, rows_to_frame(rows))
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert "-1003" in retries[0]


def test_gaps_are_reported_and_do_not_stop_the_download(
    binance_server: FakeBinance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A short outage, then one longer than a whole page: a page-sized stride would stop there.
    skipped = (*range(100, 133), *range(1200, 2400))
    serve(binance_server, 3000, skip=skipped)
    with caplog.at_level(logging.WARNING, logger="thunes.data.download"):
        frame = download(binance_server, CandleStore(tmp_path))
    assert len(frame) == 3000 - len(skipped)
    assert frame.index[-1] == pd.Timestamp(T0 + 2999 * HOUR, unit="ms", tz="UTC")
    report = find_gaps(pd.DatetimeIndex(frame.index), "1h")
    assert (report.count, report.missing_bars, report.longest_bars) == (2, 1233, 1200)
    assert report.describe() in caplog.text


def test_duplicate_rows_are_deduplicated_keeping_the_last(
    binance_server: FakeBinance, tmp_path: Path
) -> None:
    rows = make_rows(T0, 50, HOUR)
    duplicate = [*rows[10][:5], 999.0]
    binance_server.set_candles("BTCUSDT", "1h", [*rows, duplicate])
    binance_server.clock.pin(T0 + 50 * HOUR)
    frame = download(binance_server, CandleStore(tmp_path))
    assert len(frame) == 50
    assert frame.index.is_unique
    assert frame["volume"].iloc[10] == 999.0
    validate_candles(frame, "1h")


def test_forming_last_candle_is_dropped(binance_server: FakeBinance, tmp_path: Path) -> None:
    serve(binance_server, 100)
    binance_server.clock.pin(T0 + 99 * HOUR + 30 * 60_000)  # candle 99 is half-way
    store = CandleStore(tmp_path)
    frame = download(binance_server, store)
    assert len(frame) == 99
    assert frame.index[-1] == pd.Timestamp(T0 + 98 * HOUR, unit="ms", tz="UTC")
    cached = store.load("binance", SYMBOL, "1h")
    assert cached is not None and len(cached) == 99


def test_resume_fetches_only_the_missing_tail(binance_server: FakeBinance, tmp_path: Path) -> None:
    rows = serve(binance_server, 1500)
    binance_server.clock.pin(T0 + 1200 * HOUR)
    store = CandleStore(tmp_path)
    assert len(download(binance_server, store)) == 1200

    binance_server.requests.clear()
    binance_server.clock.pin(T0 + 1500 * HOUR)
    frame = download(binance_server, store)
    assert kline_starts(binance_server) == [T0 + 1200 * HOUR]
    pd.testing.assert_frame_equal(frame, rows_to_frame(rows))

    binance_server.requests.clear()
    download(binance_server, store)
    assert kline_starts(binance_server) == []


def test_an_interrupted_download_keeps_its_pages_and_resumes(
    binance_server: FakeBinance, tmp_path: Path
) -> None:
    rows = serve(binance_server, 2500)
    store = CandleStore(tmp_path)
    exchange = exchange_for(binance_server)
    real_fetch = exchange.fetch_ohlcv
    calls = 0

    def fetch_then_interrupt(
        symbol: str, timeframe: str, since_ms: int, limit: int
    ) -> list[list[float]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real_fetch(symbol, timeframe, since_ms, limit)

    exchange.fetch_ohlcv = fetch_then_interrupt  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        download(binance_server, store, exchange=exchange)
    cached = store.load("binance", SYMBOL, "1h")
    assert cached is not None and len(cached) == 1000

    binance_server.requests.clear()
    frame = download(binance_server, store)
    assert kline_starts(binance_server) == [T0 + 1000 * HOUR, T0 + 2000 * HOUR]
    pd.testing.assert_frame_equal(frame, rows_to_frame(rows))


def test_an_earlier_since_fetches_only_the_head(
    binance_server: FakeBinance, tmp_path: Path
) -> None:
    rows = serve(binance_server, 600)
    store = CandleStore(tmp_path)
    download(binance_server, store, since_ms=T0 + 300 * HOUR)
    binance_server.requests.clear()
    frame = download(binance_server, store)
    assert kline_starts(binance_server) == [T0]
    pd.testing.assert_frame_equal(frame, rows_to_frame(rows))


def test_permanent_error_is_one_line_thunes_exchange_error(binance_server: FakeBinance) -> None:
    serve(binance_server, 10)
    binance_server.faults.fail_next("/api/v3/klines", 1, 400, -1121, "Invalid symbol.")
    with pytest.raises(ExchangeError) as caught:
        exchange_for(binance_server).fetch_ohlcv(SYMBOL, "1h", T0, 1000)
    message = str(caught.value)
    assert message.startswith("binance fetch_ohlcv: ")
    assert "Invalid symbol." in message
    assert "\n" not in message
    assert len(binance_server.requests_to("/api/v3/klines")) == 1  # not retried


def test_retries_give_up_with_exchange_error(binance_server: FakeBinance) -> None:
    serve(binance_server, 10)
    binance_server.faults.rate_limit_next(10)
    gave_up = r"^binance fetch_ohlcv: failed after 3 attempts: .*429"
    with pytest.raises(ExchangeError, match=gave_up):
        exchange_for(binance_server, max_retries=2).fetch_ohlcv(SYMBOL, "1h", T0, 1000)
    assert len(binance_server.requests_to("/api/v3/klines")) == 3


def test_market_filters_and_server_clock(binance_server: FakeBinance) -> None:
    binance_server.clock.pin(T0 + 123)
    exchange = exchange_for(binance_server)
    assert exchange.market_filters("BTC/USDT") == MarketFilters(0.01, 0.00001, 0.00001, 5.0)
    assert exchange.market_filters("ETH/USDT") == MarketFilters(0.01, 0.0001, 0.0001, 5.0)
    assert exchange.milliseconds() == T0 + 123
    assert (exchange.name, exchange.needs_network, exchange.max_candles_per_call) == (
        "binance",
        True,
        1000,
    )
    with pytest.raises(ExchangeError, match=r"^binance market: .*DOGE/USDT"):
        exchange.market_filters("DOGE/USDT")


def test_credentials_come_only_from_named_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("THUNES_TEST_KEY", raising=False)
    exchange = CcxtExchange(  # market data needs no key: paper trading on a venue's candles
        exchange_id="binance",
        fees={"maker": 0.001, "taker": 0.001, "from_received": True},
        slippage=0.0,
        api_key_env="THUNES_TEST_KEY",
    )
    with pytest.raises(ConfigError, match=r"exchange.api_key_env: .*THUNES_TEST_KEY is not set"):
        exchange.client  # noqa: B018  # the order calls' client: keys required
    with pytest.raises(ConfigError, match="nosuchvenue"):
        CcxtExchange(
            exchange_id="nosuchvenue",
            fees={"maker": 0.0, "taker": 0.0, "from_received": True},
            slippage=0.0,
        )
