"""What THUNES tells its users, in one place: every kind of event, how urgent it is, and
whether it is sent by default (`notifier.events.<kind>`: on, silent or off)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from thunes.errors import ConfigError


class Level(IntEnum):
    """How urgent: a channel takes what reaches its `min_level`."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


class Policy(StrEnum):
    """`silent` is delivered without a sound where the service can (Telegram), else as `on`."""

    ON = "on"
    SILENT = "silent"
    OFF = "off"


class Kind(StrEnum):
    TRADE_OPENED = "trade_opened"
    TRADE_CLOSED = "trade_closed"
    ORDER_REJECTED = "order_rejected"  # the venue (or the simulated book at fill time) refused
    ORDER_SKIPPED = "order_skipped"  # never left: the filters or the risk engine refused it
    KILL_SWITCH_TRIPPED = "kill_switch_tripped"
    KILL_SWITCH_RESET = "kill_switch_reset"
    COOLDOWN = "cooldown"
    ERROR = "error"
    FEED_DOWN = "feed_down"
    FEED_UP = "feed_up"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    DRIFT = "drift"
    DAILY_REPORT = "daily_report"
    SWEEP_FINISHED = "sweep_finished"
    RUN_FINISHED = "run_finished"  # a backtest or replay ended


@dataclass(frozen=True)
class Spec:
    level: Level
    policy: Policy  # the default; the config overrides it
    label: str  # the message's title


CATALOGUE: dict[Kind, Spec] = {
    Kind.TRADE_OPENED: Spec(Level.INFO, Policy.ON, "trade opened"),
    Kind.TRADE_CLOSED: Spec(Level.INFO, Policy.ON, "trade closed"),
    Kind.ORDER_REJECTED: Spec(Level.WARNING, Policy.ON, "order rejected"),
    Kind.ORDER_SKIPPED: Spec(Level.INFO, Policy.SILENT, "order skipped"),
    Kind.KILL_SWITCH_TRIPPED: Spec(Level.CRITICAL, Policy.ON, "KILL-SWITCH TRIPPED"),
    Kind.KILL_SWITCH_RESET: Spec(Level.WARNING, Policy.ON, "kill-switch reset"),
    Kind.COOLDOWN: Spec(Level.INFO, Policy.SILENT, "cool-down"),
    Kind.ERROR: Spec(Level.CRITICAL, Policy.ON, "ERROR"),
    Kind.FEED_DOWN: Spec(Level.CRITICAL, Policy.ON, "feed down"),
    Kind.FEED_UP: Spec(Level.WARNING, Policy.ON, "feed up again"),
    Kind.RECONCILE_MISMATCH: Spec(Level.CRITICAL, Policy.ON, "reconciliation mismatch"),
    Kind.DRIFT: Spec(Level.WARNING, Policy.ON, "drift detected"),
    Kind.DAILY_REPORT: Spec(Level.INFO, Policy.SILENT, "daily PnL"),
    Kind.SWEEP_FINISHED: Spec(Level.INFO, Policy.ON, "sweep finished"),
    Kind.RUN_FINISHED: Spec(Level.INFO, Policy.ON, "run finished"),
}


def default_policies() -> dict[str, str]:
    """`notifier.events` as shipped: every kind by name."""
    return {kind.value: spec.policy.value for kind, spec in CATALOGUE.items()}


def _as_policy(value: Any) -> Policy | None:
    """A configured policy (YAML reads a bare on/off as true/false), or None if it is none."""
    if isinstance(value, bool):
        return Policy.ON if value else Policy.OFF
    text = str(value).lower()
    return {"true": Policy.ON, "false": Policy.OFF}.get(text) or next(
        (policy for policy in Policy if policy.value == text), None
    )


def policies(events: Mapping[str, Any]) -> dict[Kind, Policy]:
    """Every kind's policy: the catalogue's, overridden by `notifier.events`."""
    chosen = {kind: spec.policy for kind, spec in CATALOGUE.items()}
    for name, value in events.items():
        policy = _as_policy(value)
        if name not in {kind.value for kind in Kind} or policy is None:
            raise ConfigError(
                f"notifier.events.{name}={value!r} is not allowed: an event kind "
                f"({', '.join(Kind)}) set to on, silent or off"
            )
        chosen[Kind(name)] = policy
    return chosen


LEVELS = {level.name.lower(): level for level in Level}


def level_of(key: str, name: str) -> Level:
    """A configured level by name (a channel's `min_level`)."""
    if name not in LEVELS:
        raise ConfigError(f"{key}={name!r} is not allowed: one of {', '.join(LEVELS)}")
    return LEVELS[name]


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell: `text` is the message; events of one kind and symbol close
    together are sent as one summary. `level` overrides the kind's."""

    kind: Kind
    text: str
    symbol: str = ""
    level: Level | None = None

    @property
    def urgency(self) -> Level:
        return CATALOGUE[self.kind].level if self.level is None else self.level

    @property
    def title(self) -> str:
        label = CATALOGUE[self.kind].label
        return f"THUNES {label}" + (f" {self.symbol}" if self.symbol else "")
