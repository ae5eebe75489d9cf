"""Run every schema's value checks on a composed config, naming the full key on failure."""

from __future__ import annotations

import dataclasses
import difflib

from omegaconf import DictConfig, OmegaConf

from thunes.config import checks
from thunes.config.checks import ConfigValueError
from thunes.errors import ConfigError
from thunes.paths import CONF_DIR

GROUPS = (
    "mode",
    "exchange",
    "symbol",
    "data",
    "strategy",
    "filters",
    "sizing",
    "risk",
    "notifier",
    "tracking",
    "drift",
    "sweep",
)


def _reject_unknown_keys(group: str, node: DictConfig) -> None:
    """`+strategy.fsat=5` slips past Hydra into a typed node; the schema does not have it."""
    schema = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema):
        return
    fields = [f.name for f in dataclasses.fields(schema)]
    for key in map(str, node):
        if key not in fields:
            public = [name for name in fields if not name.startswith("_")]
            close = difflib.get_close_matches(key, public, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"{group}.{key}: unknown key; {hint}allowed: {', '.join(public)}")
        if OmegaConf.is_missing(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            _reject_unknown_keys(f"{group}.{key}", value)


def validate(cfg: DictConfig) -> None:
    """Raise a one-line ConfigError for the first impossible value, before anything runs."""
    for group in GROUPS:
        _reject_unknown_keys(group, cfg[group])
        for key in sorted(OmegaConf.missing_keys(cfg[group])):  # full keys: data.path
            raise ConfigError(f"{key} is required but has no value; set {key}=...")
        try:
            OmegaConf.to_object(cfg[group])
        except ConfigValueError as error:
            raise error.under(group) from None
    try:
        checks.positive("cash", cfg.cash)
        _check_symbols(list(cfg.symbols))
    except ConfigValueError as error:
        raise ConfigError(str(error)) from None
    _check_data_fits_strategy(cfg)


def _check_data_fits_strategy(cfg: DictConfig) -> None:
    """A tick strategy needs book ticks and a candle strategy candles: say so before loading."""
    wants_ticks = str(cfg.strategy._target_).endswith(".Scalper")
    has_ticks = str(cfg.data._target_).startswith("thunes.data.tick_sources.")
    if wants_ticks and not has_ticks:
        raise ConfigError(
            "strategy=scalper trades book ticks: use data=sim_ticks or data=tick_file"
        )
    if has_ticks and not wants_ticks:
        raise ConfigError(
            f"data={cfg.data._target_.rsplit('.', 1)[1]} holds book ticks, which "
            "only strategy=scalper trades; candle strategies need data=exchange, "
            "sim or csv"
        )


def _check_symbols(names: list[str]) -> None:
    """`symbols=[btcusdt,ethusdt]` names options of the symbol group, each once."""
    options = sorted(path.stem for path in (CONF_DIR / "symbol").glob("*.yaml"))
    for name in names:
        checks.one_of("symbols", name, options)
    if len(set(names)) != len(names):
        raise ConfigValueError("symbols", names, "each symbol once")
