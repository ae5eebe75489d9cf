"""Top-of-book quotes, the input of high-frequency strategies and of a tick-level backtest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BookTick:
    """Best bid and ask at one instant; sizes in base units, timestamp in epoch ms (UTC)."""

    timestamp_ms: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
