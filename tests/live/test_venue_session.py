"""`thunes mode=paper exchange=binance_testnet`: real orders on the (stand-in) testnet through
the real ccxt and ccxt.pro clients, fills as the venue makes them, a clean stop, and a
restart that resumes the run without sending any order twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.live.venue import held_until_warm, keyed, session_args, standin, stored


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def test_a_testnet_session_trades_on_the_venue_stops_cleanly_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed(monkeypatch)
    state = tmp_path / "state"
    with standin() as server:
        with held_until_warm(server):
            code = run_thunes(session_args(server, state), monkeypatch, tmp_path)
        first = _out(capsys)
        assert code == 0, first
        assert "paper.duration reached" in first, first
        orders, fills = stored(state)
        venue_orders = {o.client_id for o in server.account.orders.values()}
        assert orders and set(orders) == venue_orders  # every order recorded was sent, once
        assert len(fills) == server.stats.trades > 0  # the venue's trades are the store's fills
        run = {cid.split("-")[0] for cid in orders}
        assert len(run) == 1

        with held_until_warm(server):
            code = run_thunes(session_args(server, state, duration="12m"), monkeypatch, tmp_path)
        second = _out(capsys)
        assert code == 0, second
        assert "resuming" in second, second
        orders2, fills2 = stored(state)
        assert {cid.split("-")[0] for cid in orders2} == run  # the same run, resumed
        assert set(orders) < set(orders2)  # it went on trading
        assert not server.stats.duplicate_client_ids
        assert len(orders2) == len(set(orders2)) == len(server.account.orders)
        assert len(fills2) == server.stats.trades
    steps = [int(m) for m in re.findall(r"after ([\d,]+) steps", first + second)]
    assert steps[1] >= 1 and sum(steps) <= 12, steps  # none of the 12 closes stepped twice
