"""A testnet session SIGKILLed at random points and restarted each time (a few kills here;
tests/live/crash_venue.py runs the issue's 50): no client id sent twice, the venue's trades
are the store's fills, and the booked position is what the exchange holds. It is issue
11's "SIGKILL mid-order, then a restart" on the venue (tests/risk/test_venue_scenarios.py
names it)."""

from __future__ import annotations

from pathlib import Path

from tests.live.crash_venue import crash


def test_sigkill_at_random_points_loses_no_fill_and_doubles_no_order(tmp_path: Path) -> None:
    outcome = crash(kills=5, seed=7, work=tmp_path)
    assert outcome.trades > 0 and outcome.orders > 0, outcome.last_out
    assert outcome.duplicate_client_ids == [] and outcome.resent == []
    assert outcome.missing_fills == set() and outcome.extra_fills == set()
    assert abs(outcome.position - outcome.held) < 1e-9, outcome
