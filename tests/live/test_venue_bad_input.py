"""What a venue session refuses at start, each with one line and its exit code (2: fix the
config or the environment; 1: the exchange said no or did not answer), before it has read
or written anything of the account's state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.run import run_thunes
from tests.fakes.binance import API_KEY, FakeBinance
from tests.live.venue import KEY_ENV, SECRET_ENV, keyed, session_args, standin, state_file
from thunes.state.account import Account
from thunes.state.store import StateStore

Setup = Callable[[FakeBinance, pytest.MonkeyPatch], list[str]]


def unknown_symbol(server: FakeBinance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["symbol.symbol=DOGE/USDT"]


def halted_symbol(server: FakeBinance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    server.set_status("BTCUSDT", "HALT")
    return []


def missing_key(server: FakeBinance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.delenv(SECRET_ENV)
    return []


def invalid_key(server: FakeBinance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv(KEY_ENV, "not-a-key")
    return []


def unreachable(server: FakeBinance, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return ["exchange.base_url=http://127.0.0.1:9"]  # discard: nothing listens


CASES: list[tuple[Setup, int, str]] = [
    (unknown_symbol, 2, "does not list DOGE/USDT"),
    (halted_symbol, 2, "BTC/USDT is HALT"),
    (missing_key, 2, SECRET_ENV),
    (invalid_key, 2, KEY_ENV),  # a key refused is the config's to fix
    (unreachable, 1, "binance"),
]


def _state(tmp_path: Path, api_key: str) -> tuple[Path, bytes]:
    """A state file of the testnet account whose key is `api_key`, holding a checkpoint."""
    state = tmp_path / "state"
    store = StateStore.open(state, Account.of("binance_testnet", "default", "paper", api_key))
    store.checkpoint({"last_ms": "1"}, {})
    store.close()
    return state, state_file(state).read_bytes()


@pytest.mark.parametrize(("setup", "code", "said"), CASES, ids=[c[0].__name__ for c in CASES])
def test_a_bad_start_says_why_in_one_line_and_leaves_the_state_untouched(
    setup: Setup,
    code: int,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keyed(monkeypatch)
    state, before = _state(tmp_path, API_KEY)
    with standin() as server:
        args = session_args(server, state, *setup(server, monkeypatch))
        assert run_thunes(args, monkeypatch, tmp_path) == code
        orders = server.stats.orders
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and said in err, err
    assert "not-a-key" not in err  # a key is never shown
    assert orders == 0 and state_file(state).read_bytes() == before


def test_a_state_file_of_another_account_is_refused_and_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keyed(monkeypatch)
    state, before = _state(tmp_path, "another account's key")
    with standin() as server:
        assert run_thunes(session_args(server, state), monkeypatch, tmp_path) == 2
        orders = server.stats.orders
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "binance_testnet" in err, err
    assert orders == 0 and state_file(state).read_bytes() == before
