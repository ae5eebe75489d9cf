"""Why an order was skipped, as the compiled engines log it (a code) and reports read it."""

from __future__ import annotations

# Venue refusals (1-3, 7), then the risk engine's (4-6, 8): codes index REASONS.
BELOW_MINIMUM, NO_CASH, DUST, KILL_SWITCH, COOLDOWN, MAX_OPEN, UNDER_TICK, PAUSED = range(1, 9)
REASONS = (
    "",
    "below minimum",
    "insufficient cash",
    "dust",
    "kill_switch",
    "cooldown",
    "max_open_positions",
    "price under one tick",
    "entries paused",
)
