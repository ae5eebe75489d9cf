"""Where book ticks come from (data=sim_ticks, data=tick_file), for the tick scalper.

Ticks travel as a CandleSet whose frame has bid, bid_size, ask, ask_size columns and whose
`timeframe` is the tick interval ("100ms"), so the run's report, tags and tracking need no
second path. Nothing here fills gaps: a quiet book is no missing data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from thunes.data.candles import GapReport
from thunes.data.sources import CandleSet
from thunes.domain.market import Fees, Market
from thunes.domain.timeframes import utc_ms
from thunes.errors import DataError
from thunes.exchange.base import Exchange

TICK_COLUMNS = ["bid", "bid_size", "ask", "ask_size"]
_NO_GAPS = GapReport(0, 0, 0, None)


def tick_fingerprint(frame: pd.DataFrame) -> str:
    """16 hex digits that change with any timestamp or quote."""
    digest = hashlib.sha256(pd.DatetimeIndex(frame.index).as_unit("ms").asi8.tobytes())
    digest.update(np.ascontiguousarray(frame[TICK_COLUMNS].to_numpy("float64")).tobytes())
    return digest.hexdigest()[:16]


def _tick_set(frame: pd.DataFrame, interval: str, origin: str, symbol: str) -> CandleSet:
    if frame.empty:
        raise DataError(f"no {symbol} ticks from {origin} in the requested window")
    bid, ask = frame["bid"].to_numpy(), frame["ask"].to_numpy()
    index = pd.DatetimeIndex(frame.index)
    if not index.is_monotonic_increasing or frame[TICK_COLUMNS].isna().to_numpy().any():
        raise DataError(f"{origin}: ticks must be sorted by time, with no missing values")
    if (bid <= 0).any() or (ask < bid).any():
        raise DataError(f"{origin}: every tick needs 0 < bid <= ask")
    return CandleSet(frame, interval, _NO_GAPS, "keep", tick_fingerprint(frame), origin)


class SimTickSource:
    """`ticks` simulated best bid/ask quotes every `step_ms` from `since`."""

    def __init__(self, seed: int, since: str, ticks: int, step_ms: int) -> None:
        self.seed, self.since, self.ticks, self.step_ms = seed, since, ticks, step_ms

    def load(self, exchange: Exchange, market: Market, progress: bool = True) -> CandleSet:
        from thunes.exchange.sim import SimExchange

        simulator = SimExchange(seed=self.seed, fees=Fees(0.0, 0.0, False), slippage=0.0)
        frame = simulator.book_ticks(market.symbol, utc_ms(self.since), self.ticks, self.step_ms)
        origin = f"{simulator.name} book ticks (seed {self.seed})"
        return _tick_set(frame, f"{self.step_ms}ms", origin, market.symbol)


class FileTickSource:
    """Recorded ticks: parquet or CSV with a timestamp (UTC datetime or epoch ms) and the
    bid, bid_size, ask, ask_size columns."""

    def __init__(self, path: str, since: str | None, until: str | None) -> None:
        self.path, self.since, self.until = Path(path), since, until

    def load(self, exchange: Exchange, market: Market, progress: bool = True) -> CandleSet:
        if not self.path.exists():
            raise DataError(f"no tick file at {self.path}")
        raw = (
            pd.read_parquet(self.path) if self.path.suffix == ".parquet" else pd.read_csv(self.path)
        )
        if "timestamp" in raw.columns:
            stamps = raw.pop("timestamp")
            numeric = pd.api.types.is_numeric_dtype(stamps)
            when = (
                pd.to_datetime(stamps, unit="ms", utc=True)
                if numeric
                else pd.to_datetime(stamps, utc=True)
            )
            raw.index = pd.DatetimeIndex(when)
        missing = [c for c in TICK_COLUMNS if c not in raw.columns]
        if missing or not isinstance(raw.index, pd.DatetimeIndex):
            raise DataError(f"{self.path}: needs a timestamp and the columns {TICK_COLUMNS}")
        frame = raw[TICK_COLUMNS].astype("float64")
        index = pd.DatetimeIndex(frame.index)
        frame.index = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
        if self.since is not None:
            frame = frame[frame.index >= pd.Timestamp(self.since, tz="UTC")]
        if self.until is not None:
            frame = frame[frame.index < pd.Timestamp(self.until, tz="UTC")]
        steps = np.diff(pd.DatetimeIndex(frame.index).as_unit("ms").asi8)
        interval = f"{max(1, int(np.median(steps))) if len(steps) else 1}ms"
        return _tick_set(frame, interval, str(self.path), market.symbol)
