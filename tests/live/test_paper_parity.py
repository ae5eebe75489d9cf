"""The same candles through replay (PortfolioEngine) and through the live engine with the
paper broker at paper.speed=0 give the same orders and fills, for every candle strategy,
with the default risk limits, on one symbol and on three sharing one wallet; and the scalper
on recorded book ticks gives replay's fills through the live engine's tick lane.

The live engine hears the candles from a stored feed on a market clock, one event at a time,
and has no history before the first (so both start from an empty window). One difference is
by design: live decides on the last candle too (it cannot know it is the last), where replay
skips it since nothing decided there could fill in the run; those orders are set aside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.config.compose import composed
from thunes.backtest.choice import feed_ticks
from thunes.components import build
from thunes.domain.orders import Command, Fill, OrderEvent
from thunes.engine.lane import simulated_lanes, simulated_ticks
from thunes.engine.replay import PortfolioEngine
from thunes.feeds.clock import MarketClock
from thunes.feeds.events import MarketEvent
from thunes.feeds.recorded import RecordedFeed, candle_events, tick_events
from thunes.live.engine import LiveEngine, Stopped

TF_MS = 3_600_000


@dataclass
class Tape:
    """Every order sent and fill heard, in order, as a recorder sees them."""

    sent: list[tuple[str, Command]] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    when: list[int] = field(default_factory=list)  # bars the engine had stepped at each send
    progress: Callable[[], int] = lambda: 0

    def sending(self, symbol: str, command: Command) -> None:
        self.sent.append((symbol, command))
        self.when.append(self.progress())

    def filled(self, fill: Fill) -> None:
        self.fills.append(fill)

    def event(self, symbol: str, event: OrderEvent) -> None:
        """Acceptances and cancellations: the orders sent say enough here."""


def _runs(*overrides: str) -> tuple[Tape, Tape, LiveEngine, PortfolioEngine]:
    with composed("data=sim", "data.since=2024-01-01", "data.until=2024-03-01", *overrides) as cfg:
        parts, again = build(cfg), build(cfg)  # fresh strategy instances for each engine
    frames = [parts.data.load(parts.exchange, m).frame for m in parts.markets]
    replayed, heard = Tape(), Tape()
    lanes, _ = simulated_lanes(parts, frames, whole_history=False)
    replay = PortfolioEngine(lanes, recorder=replayed)
    replay.run()
    events: dict[str, list[MarketEvent]] = {
        m.symbol: list(candle_events(m.symbol, f, TF_MS))
        for m, f in zip(parts.markets, frames, strict=True)
    }
    start = min(e.time_ms for evs in events.values() for e in evs if hasattr(e, "close_ms"))
    clock = MarketClock(start, speed=0)
    live_lanes, _ = simulated_lanes(again, frames, whole_history=False)
    live = LiveEngine(live_lanes, RecordedFeed(events, "1h", clock), recorder=heard)
    heard.progress = lambda: sum(live.kernel.bars)
    assert asyncio.run(live.run()) is Stopped.FEED_ENDED
    return replayed, heard, live, replay


@pytest.mark.parametrize("strategy", ["sma_cross", "grid", "dca"])
@pytest.mark.parametrize("symbols", [[], ["btcusdt", "ethusdt", "solusdt"]])
def test_live_engine_on_a_paper_broker_matches_replay(strategy: str, symbols: list[str]) -> None:
    extra = [f"symbols=[{','.join(symbols)}]"] if symbols else []
    replayed, heard, live, replay = _runs(f"strategy={strategy}", *extra)
    assert replayed.fills, "nothing traded: the comparison would prove nothing"
    assert heard.fills == replayed.fills
    assert [(f.order_id, f.time_ms, f.trade_id) for f in heard.fills] == [
        (f.order_id, f.time_ms, f.trade_id) for f in replayed.fills
    ]
    n = len(replayed.sent)
    assert heard.sent[:n] == replayed.sent
    every_bar = sum(live.kernel.bars)  # the rest was sent once every candle had arrived:
    assert all(when == every_bar for when in heard.when[n:])  # by the last close's decisions
    for lane, kept in zip(live.lanes, replay.lanes, strict=True):
        assert [repr(s) for s in lane.broker.skipped] == [repr(s) for s in kept.broker.skipped]


def test_the_scalper_on_a_live_stream_of_book_ticks_matches_replay() -> None:
    """Recorded book ticks through the live engine's tick lane give replay's fills."""
    ticks = ("strategy=scalper", "data=sim_ticks", "data.ticks=30000", "risk=default")
    with composed(*ticks) as cfg:
        parts, again = build(cfg), build(cfg)
    frame = parts.data.load(parts.exchange, parts.market).frame
    replayed, _ = simulated_ticks(parts)
    feed_ticks(replayed, frame, per_event=True)
    live, _ = simulated_ticks(again)
    symbol = again.market.symbol
    events: dict[str, list[MarketEvent]] = {symbol: list(tick_events(symbol, frame))}
    clock = MarketClock(int(frame.index[0].value // 1_000_000) - 1, speed=0)
    feed = RecordedFeed(events, "1h", clock)
    engine = LiveEngine([], feed, ticks={symbol: live})
    assert asyncio.run(engine.run()) is Stopped.FEED_ENDED
    assert replayed.broker.fills, "nothing traded: the comparison would prove nothing"
    assert live.broker.fills == replayed.broker.fills
    assert [repr(s) for s in live.broker.skipped] == [repr(s) for s in replayed.broker.skipped]
    assert live.ticks == replayed.ticks == len(frame)
