"""The simulator's promises: deterministic whatever the window, realistic enough, never forming."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

import thunes.exchange.sim as sim_module
from thunes.domain.market import Fees
from thunes.domain.ticks import BookTick
from thunes.domain.timeframes import timeframe_ms
from thunes.errors import DataError
from thunes.exchange.base import Exchange
from thunes.exchange.sim import SimExchange

HOUR = 3_600_000
BTC = "BTC/USDT"


def ms(when: str) -> int:
    return int(pd.Timestamp(when, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """Nine years of seed-7 1h candles, ending at a fixed date so the numbers never move."""
    return SimExchange(seed=7).candles(BTC, "1h", ms("2017-01-01"), ms("2026-01-01"))


def times(frame: pd.DataFrame) -> pd.DatetimeIndex:
    return cast(pd.DatetimeIndex, frame.index)


def log_returns(candles: pd.DataFrame) -> pd.Series:
    return np.log(candles["close"]).diff().dropna()


def frozen(ex: SimExchange, now_ms: int) -> SimExchange:
    ex.milliseconds = lambda: now_ms  # type: ignore[method-assign]
    return ex


# -- determinism -----------------------------------------------------------------------------
def test_same_seed_same_candles_whatever_was_asked_before() -> None:
    a, b = SimExchange(seed=3), SimExchange(seed=3)
    b.candles(BTC, "1h", ms("2024-01-01"))  # b's cache grew from a later, longer request
    window = (ms("2019-03-01"), ms("2019-04-01"))
    pd.testing.assert_frame_equal(a.candles(BTC, "1h", *window), b.candles(BTC, "1h", *window))


def test_overlapping_windows_agree_exactly() -> None:
    ex = SimExchange()
    early = ex.candles(BTC, "1h", ms("2020-01-01"), ms("2020-07-01"))
    late = SimExchange().candles(BTC, "1h", ms("2020-03-01") + 1234, ms("2020-10-01"))
    overlap = early.index.intersection(late.index)
    assert len(overlap) > 2_000 and late.index[0] == pd.Timestamp("2020-03-01 01:00", tz="UTC")
    pd.testing.assert_frame_equal(early.loc[overlap], late.loc[overlap])


def test_fetch_ohlcv_pages_equal_the_batch_face() -> None:
    ex = SimExchange()
    start, end = ms("2021-05-01"), ms("2021-06-01")
    rows, since = [], start
    while since < end:
        page = ex.fetch_ohlcv(BTC, "1h", since, 97)
        rows += [row for row in page if row[0] < end]
        since = int(page[-1][0]) + 1
    batch = ex.candles(BTC, "1h", start, end)
    assert [row[0] for row in rows] == (times(batch).asi8 // 1_000_000).tolist()
    np.testing.assert_array_equal(np.array([row[1:] for row in rows]), batch.to_numpy())


def test_pinned_values_same_in_every_process_and_release() -> None:
    """Streams come from sha256 keys, never hash(): these numbers hold in any process.

    If a deliberate model change moves them, every user's simulated history moves too: say so
    in the changelog, then update the pins.
    """
    ex = SimExchange(seed=11)
    assert ex.fetch_ohlcv("ETH/USDT", "4h", ms("2020-01-01"), 2) == [
        [1577836800000, 1130.134, 1135.766, 1116.724, 1120.943, 50563.2535],
        [1577851200000, 1120.943, 1132.828, 1118.92, 1132.736, 60093.7177],
    ]
    assert ex.book_ticks("ETH/USDT", ms("2020-01-01"), 2).to_numpy().tolist() == [
        [1212.357, 2.2031, 1212.358, 30.7792],
        [1212.358, 13.2724, 1212.361, 3.1426],
    ]


def test_seeds_and_symbols_differ() -> None:
    window = (ms("2022-01-01"), ms("2022-02-01"))
    closes = [
        SimExchange(seed=s).candles(sym, "1h", *window)["close"].to_numpy()
        for s, sym in ((7, BTC), (8, BTC), (7, "ETC/USDT"), (7, "XRP/USDT"))
    ]
    returns = [np.diff(np.log(c)) for c in closes]
    for i in range(len(returns)):
        for j in range(i + 1, len(returns)):
            assert abs(np.corrcoef(returns[i], returns[j])[0, 1]) < 0.2


def _drawn_blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The blocks whose noise the simulator draws from now on (built or walked through)."""
    drawn: list[int] = []
    draws = SimExchange._bar_draws

    def counted(self: SimExchange, symbol: str, timeframe: str, block: int, lam: float) -> Any:
        drawn.append(block)
        return draws(self, symbol, timeframe, block, lam)

    monkeypatch.setattr(SimExchange, "_bar_draws", counted)
    return drawn


def test_a_late_window_seeks_to_its_block_with_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late window is built from its own block (the start states checkpointed by an
    earlier process), and equals to the bit the path built from origin."""
    monkeypatch.setenv("THUNES_CACHE_DIR", str(tmp_path))
    now, window = ms("2026-06-01"), (ms("2025-11-02 05:00"), ms("2025-11-03"))
    whole = frozen(SimExchange(), now).candles(BTC, "1h", ms("2017-01-01"))
    first = frozen(SimExchange(), now).candles(BTC, "1h", *window)  # walks, then checkpoints
    drawn = _drawn_blocks(monkeypatch)
    seeked = frozen(SimExchange(), now).candles(BTC, "1h", *window)
    assert drawn == [(window[0] - ms("2017-01-01")) // HOUR // sim_module._BLOCK]
    pd.testing.assert_frame_equal(seeked, whole.loc[seeked.index])
    pd.testing.assert_frame_equal(seeked, first)
    assert len(seeked) == 19


def test_a_damaged_checkpoint_is_walked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THUNES_CACHE_DIR", str(tmp_path))
    now, since = ms("2026-06-01"), ms("2025-11-02")
    expected = frozen(SimExchange(), now).fetch_ohlcv(BTC, "1h", since, 50)
    (checkpoint,) = (tmp_path / "sim").iterdir()
    checkpoint.write_bytes(b"half a file")
    assert frozen(SimExchange(), now).fetch_ohlcv(BTC, "1h", since, 50) == expected
    checkpoint.unlink()
    (tmp_path / "sim").rmdir()
    (tmp_path / "sim").write_text("")  # a cache it can neither read nor write: served the same
    assert frozen(SimExchange(), now).fetch_ohlcv(BTC, "1h", since, 50) == expected


# -- shape and consistency -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("timeframe", "origin"),
    [
        ("1m", "2026-09-01"),
        ("15m", "2024-01-01"),
        ("1h", "2017-01-01"),
        ("1d", "2017-01-01"),
        ("1w", "2017-01-01"),
    ],
)
def test_ohlc_consistent_over_a_long_sample(timeframe: str, origin: str) -> None:
    df = frozen(SimExchange(origin=origin), ms("2026-11-01")).candles(BTC, timeframe, ms(origin))
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert len(df) > 400 and list(df.dtypes) == [np.float64] * 5
    assert df.index.name == "timestamp" and str(times(df).tz) == "UTC"
    assert (np.diff(times(df).asi8) == timeframe_ms(timeframe) * 1_000_000).all()
    assert np.isfinite(df.to_numpy()).all()
    assert (lo <= np.minimum(o, c)).all() and (h >= np.maximum(o, c)).all() and (lo > 0).all()
    np.testing.assert_array_equal(o[1:], c[:-1])
    assert (v > 0).all()
    if timeframe == "1w":
        assert (times(df).dayofweek == 0).all()  # weeks open on Monday, as on Binance


def test_never_serves_the_forming_candle() -> None:
    now = ms("2025-03-04 10:37")
    ex = frozen(SimExchange(origin="2025-01-01"), now)
    for timeframe in ("1m", "1h", "4h", "1d"):
        last = ex.candles(BTC, timeframe, ms("2025-03-01"))
        assert last.index[-1].value // 1_000_000 + timeframe_ms(timeframe) <= now
    assert ex.candles(BTC, "1h", ms("2025-03-04"), now).index[-1] == pd.Timestamp(
        "2025-03-04 09:00", tz="UTC"
    )
    assert ex.fetch_ohlcv(BTC, "1h", now - HOUR, 10) == []
    real = SimExchange().candles(BTC, "1h", SimExchange().milliseconds() - 5 * HOUR)
    assert real.index[-1].value // 1_000_000 + HOUR <= SimExchange().milliseconds()


def test_asking_before_origin_is_a_data_error() -> None:
    ex = SimExchange(origin="2018-01-01")
    for call in (
        lambda: ex.candles(BTC, "1h", ms("2017-12-31 23:00")),
        lambda: ex.fetch_ohlcv(BTC, "1d", ms("2010-01-01"), 10),
        lambda: ex.book_ticks(BTC, ms("2017-06-01"), 10),
    ):
        with pytest.raises(DataError, match="origin 2018-01-01") as info:
            call()
        assert "\n" not in str(info.value)


def test_costs_and_filters() -> None:
    ex = SimExchange(
        fees={"maker": 0.0002, "taker": 0.0004, "from_received": False},
        slippage=0.001,
        start_prices={"PEPE": 0.0001},
    )
    venue: Exchange = ex  # mypy checks the Protocol here
    assert (
        venue.fees == Fees(maker=0.0002, taker=0.0004, from_received=False) and ex.slippage == 0.001
    )
    assert (ex.name, ex.needs_network) == ("sim", False) and ex.max_candles_per_call >= 100_000
    btc = ex.market_filters(BTC)
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (0.01, 1e-5, 5.0)
    cheap = ex.market_filters("PEPE/USDT")
    assert cheap.tick_size <= 1e-9 and cheap.step_size >= 100
    assert ex.candles("PEPE/USDT", "1d", ms("2017-01-01"))["low"].min() > 0


# -- realism ---------------------------------------------------------------------------------
def test_hourly_volatility_like_btc(history: pd.DataFrame) -> None:
    assert 0.004 < log_returns(history).std() < 0.012
    assert 1_000 < float(history["close"].min()) < float(history["close"].max()) < 400_000


def test_fat_tails(history: pd.DataFrame) -> None:
    excess_kurtosis = log_returns(history).kurt()
    assert isinstance(excess_kurtosis, float) and excess_kurtosis > 1


def test_volatility_clusters_while_returns_do_not_autocorrelate(history: pd.DataFrame) -> None:
    r = log_returns(history)
    assert all(r.abs().autocorr(lag) > 0.1 for lag in range(1, 6))
    assert all(abs(r.autocorr(lag)) < 0.05 for lag in range(1, 6))


def test_volume_rises_with_absolute_return(history: pd.DataFrame) -> None:
    r = log_returns(history)
    assert np.corrcoef(history["volume"].iloc[1:], r.abs())[0, 1] > 0.15


# -- streaming faces -------------------------------------------------------------------------
def test_stream_bars_equal_the_batch_face() -> None:
    ex = frozen(SimExchange(), ms("2026-01-01"))
    start = ms("2024-06-01")
    streamed = list(ex.stream_bars(BTC, "1h", start))
    batch = ex.candles(BTC, "1h", start)
    assert len(streamed) == len(batch) > 10_000  # crosses a 10,000-row page
    np.testing.assert_array_equal(np.array(streamed)[:, 1:], batch.to_numpy())


def test_live_stream_waits_for_the_next_close(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [ms("2025-01-01 05:30")]
    ex = SimExchange()
    ex.milliseconds = lambda: clock[0]  # type: ignore[method-assign]

    def sleep(seconds: float) -> None:
        clock[0] += int(seconds * 1000)

    monkeypatch.setattr(sim_module.time, "sleep", sleep)
    bars = ex.stream_bars(BTC, "1h", ms("2025-01-01 04:00"), live=True)
    assert [next(bars)[0] for _ in range(3)] == [
        ms("2025-01-01 04:00"),
        ms("2025-01-01 05:00"),
        ms("2025-01-01 06:00"),
    ]
    assert clock[0] >= ms("2025-01-01 07:00")


def test_book_ticks_are_a_sane_deterministic_book() -> None:
    ex = SimExchange()
    start = ms("2023-02-01 00:59:58")
    ticks = ex.book_ticks(BTC, start, 100_000)
    tick = ex.market_filters(BTC).tick_size
    bid, ask = ticks["bid"].to_numpy(), ticks["ask"].to_numpy()
    spread = np.round((ask - bid) / tick)
    assert len(ticks) == 100_000 and (np.diff(times(ticks).asi8) == 100 * 1_000_000).all()
    assert (bid < ask).all() and (spread >= 1).all() and 0.5 < (spread == 1).mean() < 0.95
    assert spread.max() >= 4 and (ticks[["bid_size", "ask_size"]] > 0).all().all()
    np.testing.assert_allclose(bid / tick, np.round(bid / tick), atol=1e-6)
    later = SimExchange().book_ticks(BTC, start + 12_345, 50_000)  # another window, same ticks
    pd.testing.assert_frame_equal(ticks.loc[later.index], later)
    other = SimExchange(seed=8).book_ticks(BTC, start, 10)
    assert not np.array_equal(other["bid"].to_numpy(), bid[:10])
    hour = ex.candles(BTC, "1h", ms("2023-02-01 01:00"), ms("2023-02-01 02:00"))
    at_open = ticks.loc[hour.index[0]]  # the mid passes through each 1h open
    assert at_open["bid"] <= hour["open"].iloc[0] <= at_open["ask"]


def test_stream_book_ticks_equal_the_batch_face() -> None:
    ex = frozen(SimExchange(), ms("2024-01-01"))
    start = ms("2023-12-31 23:59:00")
    streamed = list(ex.stream_book_ticks(BTC, start, step_ms=250))
    batch = ex.book_ticks(BTC, start, 1_000, step_ms=250)
    assert len(streamed) == len(batch) == 240 and isinstance(streamed[0], BookTick)
    assert streamed[-1].timestamp_ms < ms("2024-01-01")
    np.testing.assert_array_equal(
        [[t.bid, t.bid_size, t.ask, t.ask_size] for t in streamed], batch.to_numpy()
    )
