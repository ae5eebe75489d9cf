"""Validate the composed config, then run the mode it names."""

from __future__ import annotations

from omegaconf import DictConfig

from thunes.config.validate import validate
from thunes.errors import NotBuiltError

_LATER = {
    "sweep": "the Optuna sweep arrives with issue 4; today use `thunes -m strategy.fast=5,10`",
    "paper": "paper trading needs the event-driven engine (issue 3 builds it)",
    "live": "live trading needs the event-driven engine and the live broker",
}


def run(cfg: DictConfig) -> float | None:
    """The metric a sweeper optimises (the Sharpe ratio for a backtest), or None."""
    validate(cfg)
    mode = cfg.mode.name
    if mode == "backtest":
        from thunes.modes import backtest

        return backtest.run(cfg)
    if mode == "download":
        from thunes.modes import download

        download.run(cfg)
        return None
    raise NotBuiltError(f"mode={mode} is not built yet: {_LATER[mode]}")
