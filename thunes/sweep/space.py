"""The search space, one definition for both engines: the preset's `hydra.sweeper.params`.

Both engines read the space through hydra-optuna-sweeper's own parser, so `range(5, 60, 5)`
means the same values to the Optuna engine and to the grid (Optuna's integer distributions
include their upper bound: 5, 10, ..., 60). Constraints such as `strategy.fast <
strategy.slow` are checked before a trial runs; the Optuna engine records a violating
trial as PRUNED, the grid never evaluates it.
"""

from __future__ import annotations

import itertools
import math
import operator
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from thunes.config.schema import CONSTRAINT_RULE
from thunes.errors import ConfigError

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def declared(params: Mapping[str, Any] | None, overrides: Iterable[str] = ()) -> dict[str, str]:
    """The space as written: the preset's `hydra.sweeper.params`, then the command line's
    overrides (`strategy.slow=100,200` sweeps too, as with Hydra's sweepers), which win."""
    written = {str(key): str(value) for key, value in (params or {}).items()}
    return written | dict(line.split("=", 1) for line in overrides)


UNSWEPT = "data.timeframe"
"""Not a parameter: a study of 1h and 4h trials annualised 4h Sharpes as 1h ones (x2)."""


def distributions(params: Mapping[str, str]) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
    """The swept parameters as Optuna distributions, and the fixed ones as values."""
    try:
        with warnings.catch_warnings():  # the plugin builds distributions Optuna 3 renamed
            warnings.simplefilter("ignore", FutureWarning)
            swept, fixed = create_params_from_overrides([f"{k}={v}" for k, v in params.items()])
    except Exception as error:  # the parser's own messages name the bad expression
        raise ConfigError(f"hydra.sweeper.params: {' '.join(str(error).split())}") from None
    if UNSWEPT in swept:
        raise ConfigError(
            f"hydra.sweeper.params.{UNSWEPT}: trials must share their bars (the Deflated Sharpe "
            "compares per-bar Sharpe ratios); run one study per timeframe"
        )
    return {key: _current(d) for key, d in swept.items()}, fixed


def _current(distribution: BaseDistribution) -> BaseDistribution:
    """Today's class for a distribution the plugin builds under its Optuna 2 name (the
    renamed ones are subclasses), so a stored study loads without deprecation warnings."""
    if isinstance(distribution, IntDistribution):
        d = distribution
        return IntDistribution(d.low, d.high, log=d.log, step=d.step)
    if isinstance(distribution, FloatDistribution):
        f = distribution
        return FloatDistribution(f.low, f.high, log=f.log, step=f.step)
    return distribution


def _values(key: str, distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntDistribution) and not distribution.log:
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    if isinstance(distribution, FloatDistribution) and distribution.step is not None:
        count = math.floor((distribution.high - distribution.low) / distribution.step + 1e-9)
        return [distribution.low + i * distribution.step for i in range(count + 1)]
    raise ConfigError(
        f"hydra.sweeper.params.{key}: a grid needs discrete values (range or choice), "
        "not a continuous interval"
    )


def grid_axes(params: Mapping[str, str]) -> dict[str, list[Any]]:
    """Every swept parameter's values, in the order a grid enumerates them."""
    swept, _fixed = distributions(params)
    if not swept:
        raise ConfigError("hydra.sweeper.params: nothing to sweep; a preset names the space")
    return {key: _values(key, distribution) for key, distribution in swept.items()}


def combinations(axes: Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    keys = list(axes)
    for values in itertools.product(*axes.values()):
        yield dict(zip(keys, values, strict=True))


@dataclass(frozen=True)
class Constraint:
    """`left op right`; each side a config key (`strategy.slow`) or a number."""

    left: str
    op: str
    right: str

    def holds(self, params: Mapping[str, Any], cfg: DictConfig) -> bool:
        return _OPERATORS[self.op](_side(self.left, params, cfg), _side(self.right, params, cfg))

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


def _side(token: str, params: Mapping[str, Any], cfg: DictConfig) -> Any:
    if token in params:
        return params[token]
    try:
        return float(token)
    except ValueError:
        pass
    value = OmegaConf.select(cfg, token, default=None)
    if value is None:
        raise ConfigError(f"sweep.constraints: {token} is neither a config key nor a number")
    return value


def parse_constraints(rules: list[str]) -> list[Constraint]:
    parsed = []
    for rule in rules:
        match = CONSTRAINT_RULE.match(rule)
        if match is None:
            raise ConfigError(f"sweep.constraints: cannot read {rule!r}")
        parsed.append(Constraint(*match.groups()))
    return parsed


def check_constraints(constraints: list[Constraint], keys: list[str], cfg: DictConfig) -> None:
    """Each side a swept key, a config key or a number: said before any trial, not at the
    first one."""
    for rule in constraints:
        for token in (rule.left, rule.right):
            if token not in keys:
                _side(token, {}, cfg)


def violated(
    constraints: list[Constraint], params: Mapping[str, Any], cfg: DictConfig
) -> Constraint | None:
    """The first constraint these parameters break, or None."""
    return next((rule for rule in constraints if not rule.holds(params, cfg)), None)
