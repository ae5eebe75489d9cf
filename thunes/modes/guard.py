"""mode=live's guard: what must hold before a live session sends its first order.

Real money, so a session starts only when:
1. the user said so twice: `live.confirm=true` in the config, and `<exchange>:<account>`
   typed back on a terminal or set in THUNES_LIVE_CONFIRM, which no script types by accident
   (`confirm`);
2. the key belongs to the network traded, where the venue lets us tell (a testnet key on
   mainnet, or a mainnet key on the testnet, is refused), can trade, and cannot withdraw
   unless `live.allow_withdrawal_keys=true` (`check_key`; no IP restriction: a warning);
3. what is at stake (exchange, account, symbols, strategy, capital at risk, every risk
   limit) is printed and written to the state (`summary`, `announce`).

mode=live calls `LiveGuard.confirm()` first (1); the venue session (thunes/modes/venue.py)
then calls `LiveGuard.admit()` once the venue has answered a signed call, before it opens
its state (2), and `LiveGuard.announce(...)` under the account's lock (3). Every refusal is
a ConfigError: one line naming the key to change, exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from omegaconf import DictConfig, OmegaConf

from thunes.config import profile
from thunes.config.checks import ConfigValueError
from thunes.errors import ConfigError
from thunes.exchange.ccxt_exchange import CcxtExchange
from thunes.state.store import StateStore

if TYPE_CHECKING:
    from thunes.components import Components

CONFIRM_ENV = "THUNES_LIVE_CONFIRM"


def confirmation(exchange: str, account: str) -> str:
    """What the user types back, or sets in THUNES_LIVE_CONFIRM: `binance:default`."""
    return f"{exchange}:{account}"


def confirm(
    cfg: DictConfig,
    exchange: str,
    account: str,
    stdin: TextIO,
    env: Mapping[str, str],
    prompt: TextIO = sys.stderr,
) -> None:
    """Go on only if `live.confirm=true` and `<exchange>:<account>` was given back: from
    THUNES_LIVE_CONFIRM when set (a scripted start, even on a terminal), else typed on
    `stdin` when it is a terminal. What was typed is never echoed (it may be anything)."""
    expected = confirmation(exchange, account)
    if not cfg.live.confirm:
        raise ConfigValueError(
            "live.confirm",
            False,
            f"mode=live trades real money on {expected}: set live.confirm=true, then confirm "
            f"{expected} on the terminal or with {CONFIRM_ENV}={expected}",
        )
    given = env.get(CONFIRM_ENV)
    if given is not None:
        if given.strip() != expected:
            raise ConfigError(
                f"{CONFIRM_ENV}: it does not name this run's exchange and account: expected "
                f"{expected} (exchange.exchange_id:state.account)"
            )
        return
    if not stdin.isatty():
        raise ConfigError(
            f"live.confirm: no terminal to confirm on: set {CONFIRM_ENV}={expected} in the "
            "environment to trade real money from a script"
        )
    ask = f"mode=live trades REAL MONEY on {expected}. Type {expected} to go on: "
    print(ask, end="", file=prompt, flush=True)
    if stdin.readline().strip() != expected:
        raise ConfigError(f"live.confirm: not confirmed (what was typed is not {expected})")


@dataclass(frozen=True)
class KeyReport:
    """What the guard learnt of the key; its `warnings` end the summary (printed, kept)."""

    network: str
    """`mainnet` or `testnet`: the network that accepted the key (the one traded)."""
    can_withdraw: bool | None
    """None: the venue does not say."""
    ip_restricted: bool | None
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the summary; never the key."""
        said = {True: "yes", False: "no", None: "not said by the venue"}
        text = f"{self.network} key; can withdraw: {said[self.can_withdraw]}; "
        text += f"IP restricted: {said[self.ip_restricted]}"
        return text + "".join(f" (warning: {w})" for w in self.warnings)


def check_key(cfg: DictConfig, exchange: CcxtExchange) -> KeyReport:
    """Ask the venue about the configured key before the first order (reads only).

    Refused: a key this network rejects (and, when the other network accepts it, it says
    which network the key belongs to: a testnet key on mainnet, a mainnet key on the
    testnet); a key that cannot trade spot; one that can withdraw, unless
    `live.allow_withdrawal_keys=true`. Warned: no IP restriction, or a venue that does not
    say what the key may do."""
    network, other = ("testnet", "mainnet") if exchange.sandbox else ("mainnet", "testnet")
    here = exchange.check_key()
    assert here is not None  # only the twin may be unreachable
    keys = exchange.keys_from
    if not here.accepted:
        there = exchange.check_key(twin=True)
        if there is not None and there.accepted:
            if other == "testnet":
                profile.testnet_key(cfg, True, "exchange.api_key_env")
            raise ConfigError(
                f"exchange.api_key_env: {keys} hold a {other} key ({exchange.name}'s {other} "
                f"accepts it, its {network} refuses it): use a {network} key"
                + (", or exchange.sandbox=false" if other == "mainnet" else "")
            )
        raise ConfigError(
            f"exchange.api_key_env: {exchange.name} ({network}) refused the key from {keys}: "
            f"{here.refusal}"
        )
    if exchange.sandbox:
        profile.testnet_key(cfg, True, "exchange.sandbox")
    said = here.restrictions
    warnings: list[str] = []
    if said is None:
        can_withdraw = ip_restricted = None
        if not exchange.sandbox:
            warnings.append("the venue does not say what the key may do: give it no withdrawals")
    else:
        can_withdraw = bool(said.get("enableWithdrawals"))
        ip_restricted = bool(said.get("ipRestrict"))
        if not said.get("enableSpotAndMarginTrading", True):
            raise ConfigError(
                f"exchange.api_key_env: the key from {keys} cannot trade spot: enable "
                "spot trading for it on the venue"
            )
        if can_withdraw and not cfg.live.allow_withdrawal_keys:
            raise ConfigValueError(
                "live.allow_withdrawal_keys",
                False,
                f"the key from {keys} can withdraw funds (whoever gets it can empty the "
                "account): use a key without withdrawals, or set live.allow_withdrawal_keys=true",
            )
        if not ip_restricted:
            warnings.append("no IP restriction: restrict the key to this host's IP on the venue")
    return KeyReport(network, can_withdraw, ip_restricted, tuple(warnings))


def _values(node: DictConfig) -> str:
    """`key=value, ...` of a group's node, as configured (its `_target_` left out)."""
    plain = OmegaConf.to_container(node, resolve=True)
    assert isinstance(plain, dict)
    return ", ".join(f"{k!s}={v!s}" for k, v in plain.items() if not str(k).startswith("_"))


def summary(
    cfg: DictConfig,
    parts: Components,
    balances: Mapping[str, float],
    key: KeyReport | None = None,
) -> list[str]:
    """What a live session puts at stake, one line each: exchange and account, symbols,
    strategy, capital at risk (the bot's `cash`, within what the account holds in quote),
    every risk limit as configured, and what the guard learnt of the key."""
    network = "testnet" if getattr(parts.exchange, "sandbox", False) else "mainnet"
    quote = parts.market.quote
    held = float(balances.get(quote, 0.0))
    at_risk = min(parts.cash, held)
    risk = cfg.risk
    lines = [
        f"LIVE {confirmation(parts.exchange.name, str(cfg.state.account))} ({network})",
        f"symbols: {', '.join(m.symbol for m in parts.markets)}",
        f"strategy: {type(parts.strategy).__name__} ({_values(cfg.strategy)})",
        f"capital at risk: {at_risk:g} {quote} (cash={parts.cash:g}; the account holds "
        f"{held:g} {quote}); a day's loss stops at {risk.max_daily_loss:g} {quote}, "
        f"a trade's at {risk.max_loss_per_trade:g}",
        f"risk limits: {_values(risk)}",
    ]
    if held < parts.cash:
        lines.append(f"warning: the account holds less {quote} than cash={parts.cash:g}")
    if key is not None:
        lines.append(f"key: {key.describe()}")
    return lines


@dataclass
class LiveGuard:
    """The guard as mode=live's venue session calls it (thunes/modes/venue.py `Preflight`)."""

    cfg: DictConfig
    parts: Components
    key: KeyReport | None = None

    def confirm(self) -> None:
        """Before anything is asked of the venue (1)."""
        exchange, account = self.parts.exchange.name, str(self.cfg.state.account)
        confirm(self.cfg, exchange, account, sys.stdin, os.environ)

    def admit(self) -> None:
        """The key, once the venue answered a signed call (2): reads only."""
        exchange = self.parts.exchange
        if not isinstance(exchange, CcxtExchange):
            raise ConfigError(
                f"exchange: mode=live trades on a venue (exchange=binance), not {exchange.name}"
            )
        self.key = check_key(self.cfg, exchange)

    def announce(
        self, store: StateStore, balances: dict[str, float], echo: Callable[[str], None]
    ) -> None:
        assert self.key is not None, "admit first"
        announce(self.cfg, self.parts, store, balances, self.key, echo)


def announce(
    cfg: DictConfig,
    parts: Components,
    store: StateStore,
    balances: Mapping[str, float],
    key: KeyReport,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """The start-up summary, printed (`echo`) and written to the state at the exchange's
    time, once the session holds the account's lock; its lines."""
    lines = summary(cfg, parts, balances, key)
    for line in lines:
        echo(line)
    store.record_start(parts.exchange.milliseconds(), lines)
    return lines
