"""Small, fixed candle sets built in the tests (no network, no shared data files)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def wavy_candles(bars: int = 240, seed: int = 3, start: str = "2024-01-01") -> pd.DataFrame:
    """A noisy sine around 100: many SMA crosses, OHLC consistent, UTC open times."""
    rng = np.random.default_rng(seed)
    t = np.arange(bars)
    close = 100 + 8 * np.sin(t / 9) + 3 * np.sin(t / 2.3) + rng.normal(0, 0.6, bars).cumsum() / 4
    opens = np.concatenate([[close[0]], close[:-1]]) + rng.normal(0, 0.05, bars)
    high = np.maximum(opens, close) + rng.uniform(0.01, 0.5, bars)
    low = np.minimum(opens, close) - rng.uniform(0.01, 0.5, bars)
    index = pd.date_range(start, periods=bars, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": opens,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.uniform(1, 10, bars),
        },
        index=index,
    )


def with_gap(frame: pd.DataFrame, first: int, length: int) -> pd.DataFrame:
    """The same candles with `length` bars missing from position `first`, as an outage."""
    return pd.concat([frame.iloc[:first], frame.iloc[first + length :]])
