"""Run every schema's value checks on a composed config, naming the full key on failure."""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from thunes.config import checks, profile
from thunes.config.checks import ConfigValueError
from thunes.errors import ConfigError
from thunes.paths import CONF_DIR
from thunes.risk.fit import misfit

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
# Root nodes of their own (a mode sets paper and live, a +profile sets profile).
SETTINGS = ("paper", "state", "live", "profile", "ops")


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
    for group in (*GROUPS, *SETTINGS):
        _check_group(group, cfg[group])
    try:
        checks.positive("cash", cfg.cash)
        _check_symbols(list(cfg.symbols))
        profile.check(cfg)
    except ConfigValueError as error:
        raise ConfigError(str(error)) from None
    _check_data_fits_strategy(cfg)
    _check_risk_fits_strategy(cfg)


_WARNED: set[str] = set()
"""The strategies warned about: a sweep validates each trial, and its trials' misfits tell
one story (under risk.strict each is refused, and recorded as failed with its line)."""


def _check_risk_fits_strategy(cfg: DictConfig) -> None:
    """Warn, or refuse under risk.strict, when the limits cut the strategy's plan short."""
    line = misfit(cfg)
    if line is None:
        return
    if cfg.risk.strict:
        raise ConfigError(f"{line} (risk.strict=true refuses a misfit; false warns)")
    if str(cfg.strategy._target_) not in _WARNED:
        _WARNED.add(str(cfg.strategy._target_))
        print(f"thunes: warning: {line}", file=sys.stderr)


_PASSED: set[tuple[str, object, str]] = set()
"""Groups found valid, by schema and resolved content: a sweep's trials differ in a few
values, and checking all twelve groups cost each trial 3 ms, its in-process overhead's
largest part. The checks are a function of these alone, so a group seen valid is."""


def _check_group(group: str, node: DictConfig) -> None:
    try:
        plain = OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
        seen = (group, OmegaConf.get_type(node), json.dumps(plain, sort_keys=True, default=repr))
    except (OmegaConfBaseException, TypeError, ValueError):  # checked in full: it fails there
        seen = None
    if seen in _PASSED:
        return
    _reject_unknown_keys(group, node)
    for key in sorted(OmegaConf.missing_keys(node)):  # full keys: data.path
        raise ConfigError(f"{key} is required but has no value; set {key}=...")
    try:
        OmegaConf.to_object(node)
    except ConfigValueError as error:
        raise error.under(group) from None
    if seen is not None:
        if len(_PASSED) > 10_000:  # a long sweep's strategies: bounded
            _PASSED.clear()
        _PASSED.add(seen)


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
