"""Literal candles for hand-worked fill tests."""

from __future__ import annotations

import pandas as pd


def candles(
    rows: list[tuple[float, float, float, float]], start: str = "2024-01-01"
) -> pd.DataFrame:
    """Hourly candles from (open, high, low, close) rows, volume 1."""
    index = pd.date_range(start, periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1.0
    return frame
