"""The live guard: mode=live starts only when confirmed in a way no script types by accident,
with a key of the network it trades that cannot withdraw, and says what is at stake first.

Keys are checked by the real ccxt client against Binance stand-ins (tests/fakes/binance/):
one plays mainnet, another, with keys of its own, the testnet."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.cli.run import run_thunes
from tests.config.compose import composed
from tests.fakes.binance import API_KEY, SECRET, FakeBinance, key_restrictions
from thunes.errors import ConfigError
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.modes import guard
from thunes.state.account import Account
from thunes.state.store import StateStore

TESTNET_KEY, TESTNET_SECRET = "testnet-api-key", "testnet-secret"


class Terminal(io.StringIO):
    """What the user types, on a terminal."""

    def isatty(self) -> bool:
        return True


def config(*overrides: str) -> DictConfig:
    with composed("mode=live", "exchange=binance", "live.confirm=true", *overrides) as cfg:
        return cfg


# --- confirmation -----------------------------------------------------------------------


def test_live_confirm_false_refuses_before_anything_else() -> None:
    with pytest.raises(ConfigError, match=r"live\.confirm=False .*set live\.confirm=true"):
        guard.confirm(config("live.confirm=false"), "binance", "default", Terminal(), {})


def test_a_script_confirms_with_the_exchange_and_account_in_the_environment() -> None:
    env = {guard.CONFIRM_ENV: "binance:default"}
    guard.confirm(config(), "binance", "default", io.StringIO(), env)  # no terminal needed
    with pytest.raises(ConfigError, match=r"THUNES_LIVE_CONFIRM: .*expected binance:main"):
        guard.confirm(config(), "binance", "main", io.StringIO(), env)  # another account


def test_without_a_terminal_nor_the_variable_it_refuses_and_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="set THUNES_LIVE_CONFIRM=binance:default"):
        guard.confirm(config(), "binance", "default", io.StringIO("binance:default\n"), {})


def test_on_a_terminal_the_user_types_the_exchange_and_account_back() -> None:
    prompt = io.StringIO()
    guard.confirm(config(), "binance", "default", Terminal("binance:default\n"), {}, prompt)
    assert "Type binance:default" in prompt.getvalue()
    for typed in ("y\n", "yes\n", "binance\n", ""):  # a reflex, or no answer (EOF)
        with pytest.raises(ConfigError, match="not confirmed"):
            guard.confirm(config(), "binance", "default", Terminal(typed), {}, io.StringIO())


# --- key checks -------------------------------------------------------------------------


@pytest.fixture
def mainnet() -> Iterator[FakeBinance]:
    with FakeBinance() as server:
        yield server


@pytest.fixture
def testnet() -> Iterator[FakeBinance]:
    with FakeBinance() as server:
        server.credentials.api_key, server.credentials.secret = TESTNET_KEY, TESTNET_SECRET
        yield server


def exchange(
    monkeypatch: pytest.MonkeyPatch,
    server: FakeBinance,
    twin: FakeBinance | None = None,
    key: tuple[str, str] = (API_KEY, SECRET),
    sandbox: bool = False,
) -> CcxtExchange:
    monkeypatch.setenv("BINANCE_API_KEY", key[0])
    monkeypatch.setenv("BINANCE_API_SECRET", key[1])
    return CcxtExchange(
        exchange_id="binance",
        fees={"maker": 0.001, "taker": 0.001, "from_received": True},
        slippage=0.0,
        sandbox=sandbox,
        base_url=server.url,
        twin_url=None if twin is None else twin.url,
        api_key_env="BINANCE_API_KEY",
        secret_env="BINANCE_API_SECRET",
        max_retries=0,
    )


def test_a_trading_key_without_withdrawals_passes_with_a_warning_if_no_ip_restriction(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance
) -> None:
    report = guard.check_key(config(), exchange(monkeypatch, mainnet))
    assert (report.network, report.can_withdraw, report.ip_restricted) == ("mainnet", False, False)
    assert any("no IP restriction" in w for w in report.warnings)
    assert mainnet.requests_to("/sapi/v1/account/apiRestrictions")  # the venue was asked
    assert mainnet.stats.orders == 0  # reads only

    mainnet.credentials.restrictions = key_restrictions(ipRestrict=True)
    report = guard.check_key(config(), exchange(monkeypatch, mainnet))
    assert report.ip_restricted is True and report.warnings == ()


def test_a_key_that_can_withdraw_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance
) -> None:
    mainnet.credentials.restrictions = key_restrictions(enableWithdrawals=True, ipRestrict=True)
    with pytest.raises(ConfigError, match=r"live\.allow_withdrawal_keys=False .*can withdraw"):
        guard.check_key(config(), exchange(monkeypatch, mainnet))
    allowed = config("live.allow_withdrawal_keys=true")
    assert guard.check_key(allowed, exchange(monkeypatch, mainnet)).can_withdraw is True


def test_a_key_that_cannot_trade_is_refused(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance
) -> None:
    mainnet.credentials.restrictions = key_restrictions(enableSpotAndMarginTrading=False)
    with pytest.raises(ConfigError, match="cannot trade spot"):
        guard.check_key(config(), exchange(monkeypatch, mainnet))


def test_a_testnet_key_on_mainnet_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance, testnet: FakeBinance
) -> None:
    venue = exchange(monkeypatch, mainnet, testnet, (TESTNET_KEY, TESTNET_SECRET))
    with pytest.raises(ConfigError, match=r"hold a testnet key .*use a mainnet key") as refused:
        guard.check_key(config(), venue)
    assert "BINANCE_API_KEY" in str(refused.value)
    assert TESTNET_KEY not in str(refused.value) and TESTNET_SECRET not in str(refused.value)
    # the micro_live profile (real money only) says it in its own words
    with pytest.raises(ConfigError, match="profile=micro_live refuses testnet keys"):
        guard.check_key(config("+profile=micro_live"), venue)


def test_a_mainnet_key_on_the_testnet_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance, testnet: FakeBinance
) -> None:
    venue = exchange(monkeypatch, testnet, mainnet, sandbox=True)
    with pytest.raises(ConfigError, match=r"hold a mainnet key .*exchange\.sandbox=false"):
        guard.check_key(config(), venue)
    # its own key passes; the testnet does not say what a key may do (it has no /sapi)
    venue = exchange(monkeypatch, testnet, mainnet, (TESTNET_KEY, TESTNET_SECRET), sandbox=True)
    report = guard.check_key(config(), venue)
    assert (report.network, report.can_withdraw) == ("testnet", None)


def test_a_key_no_network_accepts_is_refused_with_the_venues_answer(
    monkeypatch: pytest.MonkeyPatch, mainnet: FakeBinance, testnet: FakeBinance
) -> None:
    for twin in (testnet, None):  # with no other network to ask, it cannot tell which
        venue = exchange(monkeypatch, mainnet, twin, ("wrong-api-key", "wrong-secret"))
        with pytest.raises(ConfigError, match=r"refused the key from BINANCE_API_KEY.*-2015"):
            guard.check_key(config(), venue)


# --- the start-up summary, from the command line ------------------------------------------


def test_live_prints_what_is_at_stake_and_keeps_it_in_the_state(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mainnet: FakeBinance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    args = [
        "mode=live",
        "exchange=binance",
        f"exchange.base_url={mainnet.url}",
        "strategy=dca",
        "cash=500",
        "risk.max_daily_loss=15",
        f"state.dir={tmp_path / 'state'}",
    ]
    assert run_thunes(args, monkeypatch, tmp_path) == 2  # live.confirm=false
    assert "live.confirm=False is not allowed" in capsys.readouterr().err
    assert run_thunes([*args, "live.confirm=true"], monkeypatch, tmp_path) == 2  # no terminal
    assert "set THUNES_LIVE_CONFIRM=binance:default" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # refused before any state or order

    monkeypatch.setenv(guard.CONFIRM_ENV, "binance:default")
    # admitted: the session acts on the last closed candle and stops (paper.once)
    assert run_thunes([*args, "live.confirm=true", "paper.once=true"], monkeypatch, tmp_path) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    for said in (
        "LIVE binance:default (mainnet)",
        "symbols: BTC/USDT",
        "strategy: Dca (quote_amount=10.0,",
        "capital at risk: 500 USDT (cash=500; the account holds 10000 USDT)",
        "max_daily_loss=15.0",
        "max_open_positions=3",
        "IP restricted: no",
    ):
        assert said in out, out
    account = Account.of("binance", "default", "live", API_KEY)
    store = StateStore.open(tmp_path / "state", account)
    try:
        ((time_ms, lines),) = store.starts()
    finally:
        store.close()
    printed = captured.out.splitlines()
    assert lines == printed[printed.index(lines[0]) :][: len(lines)]
    assert abs(time_ms - mainnet.clock.now_ms()) < 60_000  # the exchange's clock
