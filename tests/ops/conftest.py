"""A real paper session run in-process on the simulator (3 market days of 1h candles, as
fast as it can), with its operator tools attached, for the API's and the tools' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pandas as pd
import pytest

from tests.config.compose import composed
from thunes.components import build
from thunes.config.validate import validate
from thunes.engine.lane import simulated_lanes
from thunes.live.engine import LiveEngine
from thunes.modes.paper import feed_for
from thunes.ops import attach
from thunes.ops.attach import Ops

RUN = (
    "mode=paper",
    "strategy=grid",
    "data.timeframe=1h",
    "tracking=none",
    "notifier=none",
    "ops.api=false",
)
DAYS_MS = 3 * 86_400_000


@pytest.fixture
def ops() -> Iterator[Ops]:
    """The session after 3 market days from 2024-03-01: the grid holds orders and trades;
    Hydra stays initialised (a reload composes again)."""
    with composed(*RUN) as cfg:
        validate(cfg)
        parts = build(cfg)
        feed = feed_for(parts, "1h", "2024-03-01", 0.0)
        empty = [pd.DataFrame() for _ in parts.markets]
        lanes, risk = simulated_lanes(parts, empty, False, "t0")
        engine = LiveEngine(lanes, feed, feed.clock.start_ms + DAYS_MS)
        session = attach(engine, risk, parts, cfg)
        session.reloader.base = list(RUN)  # what `thunes` takes from Hydra's run
        asyncio.run(engine.run())
        yield session
