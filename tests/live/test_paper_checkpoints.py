"""A paper session's checkpoints: a step that recorded an order, an order event or a fill is
written at once; a quiet step at most once a second of host time (a restart re-lives the
quiet steps since from the feed); the session's end writes the last one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.config.compose import composed
from thunes.components import build
from thunes.domain.orders import OrderEvent, OrderStatus, OrderType, Side
from thunes.engine.kernel import Kernel
from thunes.engine.lane import simulated_lanes
from thunes.live.persist import QUIET_EVERY_S, PaperState
from thunes.state.account import Account
from thunes.state.store import StateStore


def test_quiet_steps_wait_for_the_interval_a_recorded_one_and_the_end_do_not(
    tmp_path: Path,
) -> None:
    with composed("mode=paper") as cfg:
        parts = build(cfg)
    lanes, risk = simulated_lanes(parts, [pd.DataFrame()], False, "p1")
    now = [100.0]
    store = StateStore.open(tmp_path, Account.of("sim", "default", "paper", None), False)
    state = PaperState(store, "sma", real=lambda: now[0])
    state.attach(lanes, risk, Kernel(lanes), "p1", 0, lambda: 0)

    state.stepped(1_000)  # the first step: written
    assert state.last_ms == 1_000
    state.stepped(2_000)  # quiet, within the interval: left for later
    assert state.last_ms == 1_000
    refused = OrderEvent(OrderStatus.REJECTED, Side.BUY, OrderType.MARKET, 1.0, "entry", "x")
    state.event("BTC/USDT", refused)
    state.stepped(3_000)  # it recorded something: written at once
    assert state.last_ms == 3_000
    state.stepped(4_000)
    assert state.last_ms == 3_000
    now[0] += QUIET_EVERY_S
    state.stepped(5_000)  # quiet, the interval passed: written
    assert state.last_ms == 5_000
    state.stepped(6_000)
    state.flush()  # the session's end
    assert state.last_ms == 6_000
    store.close()
