"""Validate the composed config, then run the mode it names."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from thunes.config.env import protect
from thunes.config.validate import validate


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
    if mode == "paper" and cfg.exchange.get("sandbox"):  # a testnet: real orders, play money
        from thunes.modes import venue

        venue.run(cfg, "paper")
        return None
    if mode == "paper":
        from thunes.modes import paper

        paper.run(cfg)
        return None
    from thunes.components import build
    from thunes.modes import venue
    from thunes.modes.guard import LiveGuard

    parts = build(cfg)  # mode=live: real money, behind the guard
    guard = LiveGuard(cfg, parts)
    guard.confirm()
    venue.Session(cfg, parts, "live").run(guard)
    return None
