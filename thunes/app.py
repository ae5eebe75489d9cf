"""Validate the composed config, then run the mode it names."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from thunes.config.env import protect
from thunes.config.validate import validate
from thunes.errors import NotBuiltError

_LIVE_LATER = "it cannot trade yet (the exchange broker and reconciliation are not built)"


def in_multirun() -> bool:
    """Whether this run is one job of a multirun (a sweep's trial), not a run of its own."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run(cfg: DictConfig) -> object:
    """The Sharpe ratio of a backtest, a sweep trial's outcome, or None."""
    protect(cfg)  # the variables it names are secrets, masked before any check quotes one
    validate(cfg)
    mode = cfg.mode.name
    if mode == "sweep":
        from thunes.modes import sweep

        return sweep.run(cfg, trial=in_multirun())
    if mode in ("backtest", "replay"):
        from thunes.modes import simulate

        return simulate.run(cfg)
    if mode == "download":
        from thunes.modes import download

        download.run(cfg)
        return None
    if mode == "paper":
        from thunes.modes import paper

        paper.run(cfg)
        return None
    _live(cfg)  # mode=live: real money
    return None


def _live(cfg: DictConfig) -> None:
    """The live guard (confirmation, key checks, start-up summary), then what is not built."""
    from thunes.components import build
    from thunes.exchange.ccxt_exchange import CcxtExchange
    from thunes.exchange.ccxt_orders import CcxtOrders
    from thunes.live import guard
    from thunes.state.account import Account
    from thunes.state.lock import AccountLock
    from thunes.state.store import StateStore

    parts = build(cfg)
    key = guard.admit(cfg, parts)
    exchange = parts.exchange
    assert isinstance(exchange, CcxtExchange)  # admit refuses any other
    api_key = os.environ.get(str(cfg.exchange.get("api_key_env") or ""))
    account = Account.of(exchange.name, str(cfg.state.account), "live", api_key)
    directory = Path(str(cfg.state.dir))
    with AccountLock(directory, account):
        store = StateStore.open(directory, account, durable=bool(cfg.state.durable))
        try:
            balances = CcxtOrders(exchange.client).balances()
            guard.announce(cfg, parts, store, balances, key)
        finally:
            store.close()
    raise NotBuiltError(f"mode=live is not built yet: {_LIVE_LATER}; the guard let it start")
