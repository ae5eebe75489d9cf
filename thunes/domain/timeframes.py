"""Timeframe strings ('1m', '4h', '1d') as ccxt writes them, in milliseconds."""

from __future__ import annotations

import re

import pandas as pd

from thunes.errors import ConfigError

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
DAY_MS = _UNIT_MS["d"]
"""One UTC day: the risk day and the PnL day are market time // DAY_MS."""
_PATTERN = re.compile(r"^(\d+)([mhdw])$")
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
    """A date or time as written in a config (`2024-03-01`, `2024-03-01 12:00`), read as UTC,
    in epoch milliseconds."""
    return int(pd.Timestamp(date, tz="UTC").value // 1_000_000)
