"""Timeframe strings ('1m', '4h', '1d') as ccxt writes them, dates and spans as a config
writes them, in milliseconds.

pandas reads what the standard library does not (`1 March 2024`, `1.5h`), imported only
then: paper and live start without it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from thunes.errors import ConfigError

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
DAY_MS = _UNIT_MS["d"]
"""One UTC day: the risk day and the PnL day are market time // DAY_MS."""
_PATTERN = re.compile(r"^(\d+)([mhdw])$")
_SPAN = re.compile(r"^(\d+)([smhdw])$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
KNOWN_TIMEFRAMES = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
)


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle of `timeframe` in milliseconds."""
    match = _PATTERN.match(timeframe)
    if match is None or timeframe not in KNOWN_TIMEFRAMES:
        raise ConfigError(
            f"data.timeframe: unknown timeframe {timeframe!r}; "
            f"allowed: {', '.join(KNOWN_TIMEFRAMES)}"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def utc_ms(date: str) -> int:
    """A date or time as written in a config (`2024-03-01`, `2024-03-01 12:00`), read as UTC
    unless it gives its offset, in epoch milliseconds. ValueError if it is no date."""
    try:
        stamp = datetime.fromisoformat(date)
    except ValueError:  # another spelling, or none: pandas' reading (and error)
        import pandas as pd

        return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // timedelta(milliseconds=1)


def span_ms(span: str) -> int:
    """A market-time span such as 2d, 12h, 90m or 30s (pandas' Timedelta spelling), in
    milliseconds. ValueError if it is no span."""
    match = _SPAN.match(span)
    if match is None:  # another spelling (1.5h, 2 days), or none: pandas' reading
        import pandas as pd

        return int(pd.Timedelta(span).total_seconds() * 1000)
    return int(match.group(1)) * {"s": 1000, **_UNIT_MS}[match.group(2)]


def utc_minute(ms: int) -> str:
    """Epoch milliseconds as `2024-03-01 12:00` (UTC), as the console shows a market time."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%d %H:%M")
