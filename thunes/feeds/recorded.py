"""Stored candles and recorded book ticks, replayed as a stream on a market clock: the same
events a live feed delivers, at `speed`, so a stored day can be paper-traded in seconds and
a replay's candles can be checked against the live engine's run."""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator, Iterable

import pandas as pd

from thunes.data.candles import as_columns
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import BookTicked, CandleClosed, MarketEvent


def candle_events(symbol: str, candles: pd.DataFrame, tf: int) -> list[CandleClosed]:
    """A candle frame (indexed by open time) as the closed-candle events a feed delivers;
    `tf`: the candle's length in ms."""
    times = pd.DatetimeIndex(candles.index).as_unit("ms").asi8.tolist()
    columns = [c.tolist() for c in as_columns(candles).values()]
    return [CandleClosed(symbol, t, t + tf, *row) for t, *row in zip(times, *columns, strict=True)]


def tick_events(symbol: str, ticks: pd.DataFrame) -> list[BookTicked]:
    """A recorded bid/ask frame as book-tick events."""
    times = pd.DatetimeIndex(ticks.index).as_unit("ms").asi8.tolist()
    quotes = ticks[["bid", "bid_size", "ask", "ask_size"]].to_numpy("float64").tolist()
    return [BookTicked(symbol, t, *q) for t, q in zip(times, quotes, strict=True)]


class RecordedFeed:
    """`events` (each symbol's, in time order) merged by market time; the candles closed by
    `clock.start_ms` are the warm-up history, the rest the stream."""

    def __init__(
        self, events: dict[str, list[MarketEvent]], timeframe: str, clock: MarketClock
    ) -> None:
        self.symbols, self.timeframe, self.clock = list(events), timeframe, clock
        start = clock.start_ms
        self._past = {
            s: [e for e in evs if isinstance(e, CandleClosed) and e.at_ms <= start]
            for s, evs in events.items()
        }
        self._ahead = [[e for e in evs if e.at_ms > start] for evs in events.values()]

    def history(self, symbol: str, bars: int) -> list[CandleClosed]:
        return self._past[symbol][-bars:] if bars else []

    async def __aiter__(self) -> AsyncIterator[MarketEvent]:
        merged: Iterable[MarketEvent] = heapq.merge(*self._ahead, key=_order)
        for event in merged:
            await self.clock.until(event.at_ms)
            yield event


def _order(event: MarketEvent) -> tuple[int, int]:
    """By market time; at one time, candles before ticks (stable: symbols in order)."""
    return event.at_ms, isinstance(event, BookTicked)
