"""The account's hard risk limits, in the quote currency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits every engine must obey: per trade, per day (kill-switch), positions, cool-down,
    and the order-level guards (rate, fat-finger price, notional, open orders)."""

    max_loss_per_trade: float
    max_daily_loss: float
    max_open_positions: int
    cooldown_minutes: float
    kill_switch: bool
    strict: bool = False
    """Refuse, not only warn about, a strategy whose worst case these limits cut short
    (thunes/risk/fit.py, checked before anything runs)."""
    cooldown_scope: str = "global"  # "symbol": a loss cools only its own symbol
    max_orders_per_minute: float = 600.0
    max_price_deviation_pct: float = 10.0
    max_position_notional: float = float("inf")
    max_total_notional: float = float("inf")
    max_open_orders_per_symbol: int = 50
    reset: bool = False
    """Lift a tripped kill-switch at start (`thunes risk.reset=true`): trading is active
    again, on a fresh daily budget."""
