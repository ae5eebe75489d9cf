"""Candle frames: building, reading, validating and gap handling.

A candle frame has a tz-aware UTC DatetimeIndex named "timestamp" (the candle's OPEN time)
and float64 columns open, high, low, close, volume. Every path into THUNES goes through
`validate_candles`, so a bad file or a bad page from the exchange fails loudly, once, with
the first offending timestamp, instead of skewing a backtest silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from thunes.domain.candles import OHLCV_COLUMNS
from thunes.domain.timeframes import timeframe_ms
from thunes.errors import ConfigError, DataError, one_line

GapPolicy = Literal["fail", "keep", "ffill"]

_WEEK_GRID_OFFSET_MS = 4 * 86_400_000
"""Weekly candles open on Mondays (as Binance's do); the Unix epoch was a Thursday."""
_EPOCH_MS_THRESHOLD = 1e11
"""Epoch numbers below this are seconds (1e11 s is the year 5138; 1e11 ms is 1973)."""


def _index_from_ms(ms: np.ndarray | list[float]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.to_datetime(np.asarray(ms, dtype="int64"), unit="ms", utc=True), name="timestamp"
    )


def _ms(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch milliseconds whatever the index's resolution."""
    return np.asarray(index.as_unit("ms").asi8, dtype="int64")


def _fmt(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M")


def rows_to_frame(rows: list[list[float]]) -> pd.DataFrame:
    """ccxt's [ms, o, h, l, c, v] rows as a candle frame (order and duplicates kept)."""
    data = np.asarray(rows, dtype="float64").reshape(-1, 6)
    frame = pd.DataFrame(data[:, 1:], columns=list(OHLCV_COLUMNS), index=_index_from_ms(data[:, 0]))
    return frame.astype("float64")


@dataclass(frozen=True)
class GapReport:
    """Missing candles in a series, summarised for logs, errors and run tags."""

    count: int
    missing_bars: int
    longest_bars: int
    longest_start: pd.Timestamp | None

    def describe(self) -> str:
        if self.count == 0 or self.longest_start is None:
            return "no gaps"
        gaps = "gap" if self.count == 1 else "gaps"
        bars = "bar" if self.missing_bars == 1 else "bars"
        longest = "bar" if self.longest_bars == 1 else "bars"
        return (
            f"{self.count} {gaps}, {self.missing_bars} missing {bars}, "
            f"longest {self.longest_bars} {longest} from {_fmt(self.longest_start)}"
        )


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> GapReport:
    """Count the bars missing between consecutive timestamps of a sorted index."""
    step = timeframe_ms(timeframe)
    ms = _ms(index)
    if len(ms) < 2:
        return GapReport(0, 0, 0, None)
    missing = np.diff(ms) // step - 1
    at = np.flatnonzero(missing > 0)
    if len(at) == 0:
        return GapReport(0, 0, 0, None)
    longest = at[np.argmax(missing[at])]
    start = pd.Timestamp(int(ms[longest] + step), unit="ms", tz="UTC")
    return GapReport(len(at), int(missing[at].sum()), int(missing[longest]), start)


def _grid_offset_ms(timeframe: str) -> int:
    return _WEEK_GRID_OFFSET_MS if timeframe.endswith("w") else 0


def validate_candles(frame: pd.DataFrame, timeframe: str) -> None:
    """Raise DataError naming the first candle that breaks a rule; return if all hold."""
    step = timeframe_ms(timeframe)
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or str(index.tz) != "UTC":
        raise DataError(f"candles {timeframe}: index must be a UTC DatetimeIndex")
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"candles {timeframe}: missing column(s) {', '.join(missing)}")
    if len(frame) == 0:
        return
    ms = _ms(index)

    def fail(position: int, rule: str) -> DataError:
        return DataError(f"candles {timeframe}: {rule} at {index[position]}")

    backwards = np.flatnonzero(np.diff(ms) < 0)
    if len(backwards):
        at = backwards[0] + 1
        raise fail(at, f"index not sorted (comes after {index[at - 1]})")
    duplicated = np.flatnonzero(np.diff(ms) == 0)
    if len(duplicated):
        raise fail(duplicated[0] + 1, "duplicate timestamp")
    values = {c: frame[c].to_numpy(dtype="float64") for c in OHLCV_COLUMNS}
    for column, array in values.items():
        bad = np.flatnonzero(np.isnan(array))
        if len(bad):
            raise fail(bad[0], f"NaN in {column}")
    o, h, lo, c, v = (values[col] for col in OHLCV_COLUMNS)
    rules = (
        (lo > np.minimum(o, c), "low above min(open, close)"),
        (h < np.maximum(o, c), "high below max(open, close)"),
        (v < 0, "negative volume"),
        ((ms - _grid_offset_ms(timeframe)) % step != 0, f"timestamp off the {timeframe} grid"),
    )
    for broken, rule in rules:
        bad = np.flatnonzero(broken)
        if len(bad):
            raise fail(bad[0], rule)


def apply_gap_policy(
    frame: pd.DataFrame, timeframe: str, policy: GapPolicy
) -> tuple[pd.DataFrame, GapReport]:
    """Apply the configured gap choice; the report always describes the input's gaps."""
    report = find_gaps(pd.DatetimeIndex(frame.index), timeframe)
    if policy == "keep" or report.count == 0:
        return frame, report
    if policy == "fail":
        raise DataError(
            f"candles {timeframe}: {report.describe()}; choose data.gaps=keep to use the bars "
            "as they are or data.gaps=ffill to fill them with flat candles at the previous close"
        )
    if policy == "ffill":
        return _fill_flat(frame, timeframe), report
    raise ConfigError(f"data.gaps: unknown policy {policy!r}; allowed: fail, keep, ffill")


def _fill_flat(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """freqtrade's choice: a missing bar is a flat candle at the previous close, volume 0."""
    index = pd.DatetimeIndex(frame.index)
    grid = pd.date_range(
        index[0],
        index[-1],
        freq=pd.Timedelta(milliseconds=timeframe_ms(timeframe)),
        name="timestamp",
        unit=index.unit,
    )
    filled = frame.reindex(grid)
    close = filled["close"].ffill()
    for column in ("open", "high", "low"):
        filled[column] = filled[column].fillna(close)
    filled["close"] = close
    filled["volume"] = filled["volume"].fillna(0.0)
    return filled


def drop_forming(frame: pd.DataFrame, timeframe: str, now_ms: int) -> pd.DataFrame:
    """Drop a last candle that has not closed at `now_ms`: no strategy may see it."""
    if len(frame) == 0:
        return frame
    last_open = int(_ms(pd.DatetimeIndex(frame.index[-1:]))[0])
    if last_open + timeframe_ms(timeframe) > now_ms:
        return frame.iloc[:-1]
    return frame


def read_candle_file(path: Path) -> pd.DataFrame:
    """A CSV or parquet candle file as a frame, unsorted rows left for validation to report."""
    if not path.is_file():
        raise DataError(f"{path}: candle file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read: {one_line(exc)}") from exc
    if "timestamp" not in raw.columns and raw.index.name == "timestamp":
        raw = raw.reset_index()
    missing = [c for c in ("timestamp", *OHLCV_COLUMNS) if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"expected timestamp, {', '.join(OHLCV_COLUMNS)}"
        )
    index = _parse_timestamps(path, raw["timestamp"])
    columns = {}
    for column in OHLCV_COLUMNS:
        try:
            columns[column] = pd.to_numeric(raw[column]).to_numpy(dtype="float64")
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path}: column {column} is not numeric: {one_line(exc)}") from exc
    return pd.DataFrame(columns, index=index)


def _parse_timestamps(path: Path, column: pd.Series) -> pd.DatetimeIndex:
    """ISO-8601 strings (naive means UTC), datetimes, or epoch seconds / milliseconds."""
    try:
        if pd.api.types.is_datetime64_any_dtype(column):
            return pd.DatetimeIndex(pd.to_datetime(column, utc=True), name="timestamp")
        if pd.api.types.is_numeric_dtype(column):
            numbers = column.to_numpy(dtype="float64")
            if np.isnan(numbers).any():
                raise ValueError("empty timestamp")
            seconds = len(numbers) > 0 and np.abs(numbers).max() < _EPOCH_MS_THRESHOLD
            unit: Literal["s", "ms"] = "s" if seconds else "ms"
            parsed = pd.to_datetime(numbers.astype("int64"), unit=unit, utc=True)
            return pd.DatetimeIndex(parsed, name="timestamp")
        iso = pd.to_datetime(column, utc=True, format="ISO8601")
        return pd.DatetimeIndex(iso, name="timestamp")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{path}: unparsable timestamp: {one_line(exc)}") from exc


def fingerprint(frame: pd.DataFrame) -> str:
    """16 hex digits that change with any timestamp or value: tags a run with its exact data."""
    digest = hashlib.sha256()
    digest.update(_ms(pd.DatetimeIndex(frame.index)).tobytes())
    digest.update(np.ascontiguousarray(frame[list(OHLCV_COLUMNS)].to_numpy("float64")).tobytes())
    return digest.hexdigest()[:16]


def as_columns(frame: pd.DataFrame) -> dict[str, npt.NDArray[np.float64]]:
    """The OHLCV columns as float64 numpy arrays: what a strategy's rules read."""
    return {name: frame[name].to_numpy(dtype="float64") for name in OHLCV_COLUMNS}
