"""Download candles page by page into the store, resuming from what is already cached."""

from __future__ import annotations

import logging

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from thunes.data.candles import find_gaps, rows_to_frame
from thunes.data.store import CandleStore
from thunes.domain.timeframes import timeframe_ms
from thunes.exchange.base import Exchange

log = logging.getLogger(__name__)


def download_candles(
    exchange: Exchange,
    store: CandleStore,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int | None,
    progress: bool = True,
) -> pd.DataFrame:
    """Closed candles opening in [since_ms, until_ms or now), cached and returned.

    Only the ranges the cache lacks are fetched: before its first candle and after its last.
    The store is rewritten after every page, so an interruption loses at most one page.
    """
    step = timeframe_ms(timeframe)
    now = exchange.milliseconds()
    # A candle is closed once open + step <= now; `stop` bounds open times (exclusive).
    stop = min(until_ms, now - step + 1) if until_ms is not None else now - step + 1
    cached = store.load(exchange.name, symbol, timeframe)
    ranges = _missing_ranges(cached, since_ms, stop, step)
    expected = sum(-(-(end - start) // step) for start, end in ranges)

    frame = cached
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task(f"{exchange.name} {symbol} {timeframe}", total=expected)
        limit = exchange.max_candles_per_call
        for start, end in ranges:
            cursor = start
            while cursor < end:
                rows = exchange.fetch_ohlcv(symbol, timeframe, cursor, limit)
                rows = [row for row in rows if cursor <= row[0] < end]
                if not rows:
                    break
                frame = _merge(frame, rows_to_frame(rows))
                store.save(exchange.name, symbol, timeframe, frame)
                bar.advance(task, len(rows))
                # Past the last row received, not cursor + limit: a gap must not stall or end it.
                cursor = int(max(row[0] for row in rows)) + step

    if frame is None:
        return rows_to_frame([])
    window = frame[(frame.index >= _ts(since_ms)) & (frame.index < _ts(stop))]
    report = find_gaps(pd.DatetimeIndex(window.index), timeframe)
    if report.count:
        log.warning("%s %s %s: %s", exchange.name, symbol, timeframe, report.describe())
    return window


def _missing_ranges(
    cached: pd.DataFrame | None, since_ms: int, stop: int, step: int
) -> list[tuple[int, int]]:
    """[start, end) open-time ranges to fetch: the head before the cache and the tail after."""
    if cached is None or len(cached) == 0:
        return [(since_ms, stop)] if since_ms < stop else []
    first = int(cached.index[0].value // 1_000_000)
    last = int(cached.index[-1].value // 1_000_000)
    ranges = []
    if since_ms < first:
        ranges.append((since_ms, min(first, stop)))
    tail = max(since_ms, last + step)
    if tail < stop:
        ranges.append((tail, stop))
    return ranges


def _merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Union by timestamp; the newer row wins a duplicate."""
    merged = new if old is None else pd.concat([old, new])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")
