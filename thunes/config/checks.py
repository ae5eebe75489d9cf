"""Value checks that a type alone cannot express, each raising a one-line ConfigError."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from thunes.errors import ConfigError


class ConfigValueError(ConfigError):
    """A value outside what is allowed; `key` is relative until the group prefixes it."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}={value!r} is not allowed: {allowed}")

    def under(self, prefix: str) -> ConfigValueError:
        """The same error with its key placed under `prefix` (the group's name)."""
        return ConfigValueError(f"{prefix}.{self.key}", self.value, self.allowed)


def positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigValueError(key, value, "must be > 0")


def non_negative(key: str, value: float) -> None:
    if not value >= 0:
        raise ConfigValueError(key, value, "must be >= 0")


def at_most(key: str, value: float, bound_key: str, bound: float) -> None:
    """A limit no looser than the one it lives within (per trade within per day)."""
    if not value <= bound:
        raise ConfigValueError(key, value, f"must be <= {bound_key} ({bound})")


def fraction(key: str, value: float, upper: float = 1.0) -> None:
    """A rate in [0, upper): fees, slippage, shares of equity."""
    if not 0 <= value < upper:
        raise ConfigValueError(key, value, f"must be in [0, {upper})")


def one_of(key: str, value: Any, allowed: Collection[Any]) -> None:
    if value not in allowed:
        raise ConfigValueError(key, value, f"one of {', '.join(map(str, allowed))}")
