"""The stand-in's market clock in lockstep: the market waits for its client, not the wall
clock (tests/risk/test_venue_scenarios.py's losing streak relies on it under load)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from tests.fakes.binance import market
from tests.fakes.binance.market import MINUTE, MarketClock

T0 = 1_704_067_200_000 + 30_000  # half a minute into a candle


def test_a_clock_in_lockstep_waits_for_its_client_then_runs_on_from_where_it_waited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = [100.0]
    monkeypatch.setattr(market, "time", SimpleNamespace(time=time.time, monotonic=lambda: real[0]))
    clock = MarketClock(T0, speed=60)
    clock.lockstep(MINUTE, 1.5)  # 1.5 candles past the open of the candle now forming
    ceiling = T0 - 30_000 + 90_000
    real[0] += 1.0
    assert clock.now_ms() == T0 + 60_000  # before the ceiling: the market's own pace
    real[0] += 60.0  # an hour of market time, on a host that never stepped
    assert clock.now_ms() == ceiling
    clock.stepped(ceiling - 90_000)  # an older close: nothing moves
    assert clock.now_ms() == ceiling
    clock.stepped(T0 + 30_000)  # the first close stepped
    assert clock.now_ms() == ceiling  # it resumes from where it waited, not the wall clock
    real[0] += 0.5
    assert clock.now_ms() == ceiling + 30_000
    real[0] += 10.0
    assert clock.now_ms() == T0 + 30_000 + 90_000  # and waits again


def test_a_clock_not_in_lockstep_follows_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    real = [100.0]
    monkeypatch.setattr(market, "time", SimpleNamespace(time=time.time, monotonic=lambda: real[0]))
    clock = MarketClock(T0, speed=60)
    clock.stepped(T0)  # a client's progress does not hold a free-running market
    real[0] += 60.0
    assert clock.now_ms() == T0 + 3_600_000
