"""Drift in a finished backtest: its closed trades and its bars (and book ticks, for tick
data) fed in time order through the same monitor a live session runs, after the run. The
alarms are marked on the plot and counted in the stats; a backtest takes no action on them.
Slippage is not watched here: the simulated fills apply the model's slippage exactly.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from thunes.data.sources import CandleSet
from thunes.drift.detectors import Detector
from thunes.drift.monitor import Alarm, DriftMonitor

COLUMNS = ("time", "symbol", "stream", "z")

_Event = tuple[int, int, str, float, float]  # (time ms, order, symbol, value, ask)


def _ms(times: pd.Series | pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(times).as_unit("ms").asi8)


def _bars(symbol: str, close: pd.Series) -> Iterator[_Event]:
    for at, value in zip(_ms(close.index).tolist(), close.tolist(), strict=True):
        yield at, 0, symbol, value, 0.0


def _trades(trades: pd.DataFrame) -> Iterator[_Event]:
    done = trades[trades["exit_reason"] != "open"].sort_values("exit_time", kind="stable")
    times = _ms(done["exit_time"]).tolist()
    rows = zip(times, done["symbol"].astype(str).tolist(), done["return"].tolist(), strict=True)
    for at, symbol, ret in rows:
        yield at, 1, symbol, ret, 0.0


def _quotes(symbol: str, frame: pd.DataFrame) -> Iterator[_Event]:
    times = _ms(frame.index).tolist()
    rows = zip(times, frame["bid"].tolist(), frame["ask"].tolist(), strict=True)
    for at, bid, ask in rows:
        yield at, 2, symbol, bid, ask


def scan(
    detector: Detector,
    trades: pd.DataFrame,
    close: pd.DataFrame,
    quotes: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The alarms (time UTC, symbol, stream, z) of a run: `trades` is the trades table,
    `close` the closes (a column per symbol), `quotes` book ticks (bid, ask) by symbol."""
    monitor = DriftMonitor(detector)
    if not detector.streams:
        return pd.DataFrame(columns=list(COLUMNS))
    sources = [_trades(trades)]
    if monitor.watches("volatility"):
        sources += [_bars(str(symbol), close[symbol]) for symbol in close.columns]
    if monitor.watches("spread"):
        sources += [_quotes(s, f) for s, f in (quotes or {}).items() if "bid" in f.columns]
    alarms: list[Alarm | None] = []
    for at, kind, symbol, value, ask in heapq.merge(*sources):
        if kind == 0:
            alarms.append(monitor.bar(symbol, value, at))
        elif kind == 1:
            alarms += monitor.trade_closed(symbol, value, at)
        else:
            alarms.append(monitor.quote(symbol, value, ask, at))
    found = [a for a in alarms if a is not None]
    return pd.DataFrame(
        {
            "time": pd.to_datetime([a.time_ms for a in found], unit="ms", utc=True),
            "symbol": [a.symbol for a in found],
            "stream": [a.stream for a in found],
            "z": [a.value for a in found],
        },
        columns=list(COLUMNS),
    )


def drift_points(
    detector: Detector,
    trades: pd.DataFrame,
    close: pd.Series | pd.DataFrame,
    symbols: list[str],
    sets: list[CandleSet],
) -> pd.DataFrame:
    """`scan` on a run's outputs: the portfolio's closes (one column per symbol, in the
    order of `symbols` and `sets`) and, for tick data, each symbol's book."""
    if not detector.streams:
        return pd.DataFrame(columns=list(COLUMNS))
    values = np.asarray(close).reshape(len(close), -1)
    frame = pd.DataFrame(values, index=close.index, columns=symbols)
    quotes = {s: c.frame for s, c in zip(symbols, sets, strict=True) if "bid" in c.frame.columns}
    return scan(detector, trades, frame, quotes)
