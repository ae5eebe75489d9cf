"""Top-of-book quotes, the input of high-frequency strategies and of a tick-level backtest."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class BookTick:
    """Best bid and ask at one instant; sizes in base units, timestamp in epoch ms (UTC).

    Not frozen, though never changed (treat it as a value): a live run builds one per tick,
    and a frozen dataclass costs several times more to build.
    """

    timestamp_ms: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float
