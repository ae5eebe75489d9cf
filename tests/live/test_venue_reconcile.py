"""A venue session reconciles before any strategy runs: an open order placed by hand is
flagged and left alone, a balance nothing explains pauses entries (saying why) until
`live.resume=true`; and `mode=live live.confirm=true` runs the same session."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.exchange.standin import rest_client
from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from tests.live.venue import SPEED, T0, held_until_warm, keyed, session_args, stored


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def _buys(server: FakeBinance, prefix: str) -> int:
    return sum(
        o.side == "BUY" and o.client_id.startswith(prefix) for o in server.account.orders.values()
    )


def test_a_foreign_order_is_flagged_and_an_unexplained_balance_pauses_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed(monkeypatch)
    state = tmp_path / "state"
    balances = {"USDT": "1000", "BTC": "0.5"}  # BTC the account held before the bot
    with FakeBinance(start_ms=T0, speed=SPEED, tick_s=0.02, balances=balances) as server:
        hand = rest_client(server).create_order(
            "BTC/USDT", "limit", "buy", 0.001, 10_000.0, params={"newClientOrderId": "by-hand-1"}
        )
        with held_until_warm(server):
            assert (
                run_thunes(session_args(server, state, duration="5m"), monkeypatch, tmp_path) == 0
            )
        first = _out(capsys)
        assert "not ours (by-hand-1)" in first and "entries paused" not in first, first
        orders, _ = stored(state)
        run = orders[0].split("-")[0]
        bought = _buys(server, run)
        assert bought > 0 and "by-hand-1" not in orders
        assert server.account.orders[int(hand["id"])].status == "NEW"  # left alone

        server.account.balances["BTC"].free -= Decimal("0.1")  # gone, and no trade says why
        args = session_args(server, state, duration="4m")
        with held_until_warm(server):
            assert run_thunes(args, monkeypatch, tmp_path) == 0
        second = _out(capsys)
        assert "entries paused" in second and "BTC: the exchange holds" in second, second
        assert _buys(server, run) == bought  # no buy left while paused

        args = session_args(server, state, "live.resume=true", duration="6m")
        with held_until_warm(server):
            assert run_thunes(args, monkeypatch, tmp_path) == 0
        third = _out(capsys)
        assert "pauses are lifted" in third and "entries paused" not in third, third
        assert _buys(server, run) > bought, third


def test_live_with_confirm_trades_the_venue_with_its_own_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    with FakeBinance(start_ms=T0, speed=SPEED, tick_s=0.02) as server:
        args = [a for a in session_args(server, tmp_path / "state") if "mode=" not in a]
        args = [a.replace("binance_testnet", "binance") for a in args]
        with held_until_warm(server):
            monkeypatch.setenv("THUNES_LIVE_CONFIRM", "binance:default")  # no terminal here
            code = run_thunes(["mode=live", "live.confirm=true", *args], monkeypatch, tmp_path)
        trades = server.stats.trades
    out = _out(capsys)
    assert code == 0, out
    assert out.startswith("LIVE BTC/USDT") or "LIVE BTC/USDT" in out
    assert trades > 0 and (tmp_path / "state" / "binance-default-live.sqlite").exists()
