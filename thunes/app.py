"""Validate the composed config, then run the mode it names."""

from __future__ import annotations

from omegaconf import DictConfig

from thunes.config.validate import validate
from thunes.errors import NotBuiltError

_LATER = {
    "sweep": "the Optuna sweep arrives with issue 4; today use `thunes -m strategy.fast=5,10`",
    "paper": "paper trading needs a live feed and broker for the event-driven engine",
    "live": "live trading needs a live feed and the ccxt broker for the event engine",
}


def run(cfg: DictConfig) -> float | None:
    """The metric a sweeper optimises (the Sharpe ratio for a backtest), or None."""
    validate(cfg)
    mode = cfg.mode.name
    if mode in ("backtest", "replay"):
        from thunes.modes import simulate

        return simulate.run(cfg)
    if mode == "download":
        from thunes.modes import download

        download.run(cfg)
        return None
    raise NotBuiltError(f"mode={mode} is not built yet: {_LATER[mode]}")
