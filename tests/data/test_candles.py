"""Candle frames: each validation rule, each gap policy, file formats and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thunes.data.candles import (
    OHLCV_COLUMNS,
    GapReport,
    apply_gap_policy,
    drop_forming,
    find_gaps,
    fingerprint,
    read_candle_file,
    rows_to_frame,
    validate_candles,
)
from thunes.errors import DataError

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def frame_of(count: int, skip: tuple[int, ...] = ()) -> pd.DataFrame:
    rows = [
        [T0 + i * HOUR, 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 10.0 + i]
        for i in range(count)
        if i not in skip
    ]
    return rows_to_frame(rows)


def test_rows_to_frame_has_the_thunes_shape() -> None:
    frame = frame_of(3)
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "timestamp"
    assert str(frame.index.tz) == "UTC"
    assert (frame.dtypes == np.float64).all()
    assert frame.index[0] == pd.Timestamp("2024-01-01 00:00", tz="UTC")


def test_valid_candles_pass() -> None:
    validate_candles(frame_of(5), "1h")
    validate_candles(rows_to_frame([]), "1h")


def _broken(column: str, value: float, at: int = 2) -> pd.DataFrame:
    frame = frame_of(5)
    frame.loc[frame.index[at], column] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "rule"),
    [
        (_broken("close", np.nan), "NaN in close"),
        (_broken("low", 200.0), "low above min(open, close)"),
        (_broken("high", 50.0), "high below max(open, close)"),
        (_broken("volume", -1.0), "negative volume"),
    ],
)
def test_each_value_rule_names_the_rule_and_first_timestamp(frame: pd.DataFrame, rule: str) -> None:
    with pytest.raises(DataError) as caught:
        validate_candles(frame, "1h")
    message = str(caught.value)
    assert rule in message
    assert "2024-01-01 02:00:00" in message
    assert "\n" not in message


def test_unsorted_index_is_reported_not_fixed() -> None:
    frame = frame_of(4).iloc[[0, 2, 1, 3]]
    with pytest.raises(DataError, match=r"index not sorted.* at 2024-01-01 01:00:00"):
        validate_candles(frame, "1h")


def test_duplicate_timestamp_is_reported() -> None:
    frame = frame_of(4).iloc[[0, 1, 1, 2]]
    with pytest.raises(DataError, match=r"duplicate timestamp at 2024-01-01 01:00:00"):
        validate_candles(frame, "1h")


def test_timestamp_off_the_grid_is_reported() -> None:
    frame = frame_of(3)
    frame.index = frame.index + pd.to_timedelta([0, 0, 30], unit="min")
    with pytest.raises(DataError, match=r"timestamp off the 1h grid at 2024-01-01 02:30:00"):
        validate_candles(frame, "1h")


def test_weekly_candles_open_on_mondays() -> None:
    monday = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
    rows = [[monday.value / 1e6 + i * 7 * 86_400_000, 1.0, 1.0, 1.0, 1.0, 1.0] for i in range(3)]
    validate_candles(rows_to_frame(rows), "1w")


def test_find_gaps_counts_missing_bars_and_the_longest_run() -> None:
    report = find_gaps(pd.DatetimeIndex(frame_of(20, skip=(3, 8, 9, 10)).index), "1h")
    assert report == GapReport(
        count=2,
        missing_bars=4,
        longest_bars=3,
        longest_start=pd.Timestamp("2024-01-01 08:00", tz="UTC"),
    )
    assert report.describe() == "2 gaps, 4 missing bars, longest 3 bars from 2024-01-01 08:00"
    assert find_gaps(pd.DatetimeIndex(frame_of(5).index), "1h").describe() == "no gaps"


def test_gap_policy_fail_says_the_report_and_the_alternatives() -> None:
    with pytest.raises(DataError) as caught:
        apply_gap_policy(frame_of(10, skip=(4,)), "1h", "fail")
    message = str(caught.value)
    assert "1 gap, 1 missing bar, longest 1 bar from 2024-01-01 04:00" in message
    assert "data.gaps=keep" in message
    assert "data.gaps=ffill" in message


def test_gap_policy_fail_passes_gapless_data() -> None:
    frame = frame_of(5)
    out, report = apply_gap_policy(frame, "1h", "fail")
    assert out is frame
    assert report.count == 0


def test_gap_policy_keep_returns_the_input_and_its_report() -> None:
    frame = frame_of(10, skip=(4, 5))
    out, report = apply_gap_policy(frame, "1h", "keep")
    assert out is frame
    assert report.missing_bars == 2


def test_gap_policy_ffill_adds_flat_candles_at_the_previous_close() -> None:
    frame = frame_of(10, skip=(4, 5))
    out, report = apply_gap_policy(frame, "1h", "ffill")
    assert report.missing_bars == 2  # the input's gaps, not the output's
    assert len(out) == 10
    assert find_gaps(pd.DatetimeIndex(out.index), "1h").count == 0
    assert out.index.name == "timestamp"
    assert str(pd.DatetimeIndex(out.index).tz) == "UTC"
    prev_close = frame.loc[pd.Timestamp("2024-01-01 03:00", tz="UTC"), "close"]
    for hour in ("04:00", "05:00"):
        row = out.loc[pd.Timestamp(f"2024-01-01 {hour}", tz="UTC")]
        assert (row[["open", "high", "low", "close"]] == prev_close).all()
        assert row["volume"] == 0.0
    pd.testing.assert_frame_equal(out.loc[frame.index], frame)
    validate_candles(out, "1h")


def test_drop_forming_drops_only_an_unclosed_last_candle() -> None:
    frame = frame_of(3)
    last_close_ms = T0 + 3 * HOUR
    assert len(drop_forming(frame, "1h", last_close_ms - 1)) == 2
    assert len(drop_forming(frame, "1h", last_close_ms)) == 3
    assert len(drop_forming(rows_to_frame([]), "1h", T0)) == 0


def _table(frame: pd.DataFrame, stamps: list[object]) -> pd.DataFrame:
    table = frame.reset_index(drop=True)
    table.insert(0, "timestamp", stamps)
    return table


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"],
        ["2024-01-01 00:00:00", "2024-01-01 01:00:00", "2024-01-01 02:00:00"],
        [T0, T0 + HOUR, T0 + 2 * HOUR],
        [T0 // 1000, (T0 + HOUR) // 1000, (T0 + 2 * HOUR) // 1000],
    ],
    ids=["iso-z", "iso-naive", "epoch-ms", "epoch-s"],
)
def test_read_candle_file_csv_detects_the_timestamp_format(
    tmp_path: Path, stamps: list[object]
) -> None:
    frame = frame_of(3)
    path = tmp_path / "btc.csv"
    _table(frame, stamps).to_csv(path, index=False)
    read = read_candle_file(path)
    pd.testing.assert_index_equal(read.index, frame.index, exact=False)
    assert fingerprint(read) == fingerprint(frame)


def test_read_candle_file_parquet(tmp_path: Path) -> None:
    frame = frame_of(3)
    path = tmp_path / "btc.parquet"
    _table(frame, list(frame.index)).to_parquet(path)
    read = read_candle_file(path)
    assert fingerprint(read) == fingerprint(frame)
    assert read.index.name == "timestamp"


def test_read_candle_file_keeps_the_order_for_validation_to_report(tmp_path: Path) -> None:
    frame = frame_of(3).iloc[[1, 0, 2]]
    path = tmp_path / "unsorted.csv"
    _table(frame, [ts.isoformat() for ts in frame.index]).to_csv(path, index=False)
    with pytest.raises(DataError, match="index not sorted"):
        validate_candles(read_candle_file(path), "1h")


def test_read_candle_file_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: candle file not found"):
        read_candle_file(tmp_path / "nope.csv")


def test_read_candle_file_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    pd.DataFrame({"timestamp": [T0], "open": [1.0], "close": [1.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"partial\.csv: missing column\(s\) high, low, volume"):
        read_candle_file(path)


def test_read_candle_file_unparsable_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    _table(frame_of(2), ["yesterday", "today"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"bad\.csv: unparsable timestamp"):
        read_candle_file(path)


def test_read_candle_file_non_numeric_price(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    table = _table(frame_of(2), [T0, T0 + HOUR]).astype({"close": object})
    table.loc[1, "close"] = "abc"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"bad\.csv: column close is not numeric"):
        read_candle_file(path)


def test_read_candle_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"garbage\.parquet: cannot read"):
        read_candle_file(path)


def test_fingerprint_changes_with_any_value_or_timestamp() -> None:
    frame = frame_of(5)
    base = fingerprint(frame)
    assert len(base) == 16
    assert fingerprint(frame.copy()) == base
    changed = frame.copy()
    changed.loc[changed.index[3], "close"] = 999.0
    assert fingerprint(changed) != base
    shifted = frame.copy()
    shifted.index = shifted.index + pd.Timedelta(hours=1)
    assert fingerprint(shifted) != base
