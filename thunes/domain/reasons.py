"""Why an order was skipped, as the compiled engines log it (a code) and reports read it."""

from __future__ import annotations

# Venue refusals (1-3, 7), then the risk engine's (4-6, 8-12): codes index REASONS.
BELOW_MINIMUM, NO_CASH, DUST, KILL_SWITCH, COOLDOWN, MAX_OPEN, UNDER_TICK = range(1, 8)
ORDER_RATE, PRICE_DEVIATION, MAX_NOTIONAL, MAX_OPEN_ORDERS, PAUSED = range(8, 13)
REASONS = (
    "",
    "below minimum",
    "insufficient cash",
    "dust",
    "kill_switch",
    "cooldown",
    "max_open_positions",
    "price under one tick",
    "max_orders_per_minute",
    "max_price_deviation",
    "max_notional",
    "max_open_orders_per_symbol",
    "entries paused",
)
