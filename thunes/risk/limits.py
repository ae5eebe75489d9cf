"""The account's hard risk limits, in the quote currency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits every engine must obey: per trade, per day (kill-switch), positions, cool-down."""

    max_loss_per_trade: float
    max_daily_loss: float
    max_open_positions: int
    cooldown_minutes: float
    kill_switch: bool
    strict: bool = False
    """Refuse, not only warn about, a strategy whose worst case these limits cut short
    (thunes/risk/fit.py, checked before anything runs)."""
