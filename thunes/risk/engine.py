"""The one risk component every engine runs: a face over the vector the rules work on.

The rules themselves are numba functions (rules.py), so that the compiled batch loops and
the event-by-event engines share one definition; this class builds the vector from the
limits and reads back what a report wants (how often each rule fired, the day's state).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from thunes.domain.orders import OrderIntent, Side
from thunes.domain.reasons import REASONS
from thunes.risk import rules as r
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import RiskRow

# The vector's state by name (its limits come from the config): what a restart takes back.
STATE = {
    "halted_day": RiskRow.HALTED_DAY,
    "cooldown_until_ms": RiskRow.COOLDOWN_UNTIL,
    "day": RiskRow.DAY,
    "day_pnl": RiskRow.DAY_PNL,
    "paused": RiskRow.PAUSED,
    **{f"fired.{rule}": RiskRow.F_KILL + i for i, rule in enumerate(r.FIRED)},
}


class RiskEngine:
    def __init__(self, limits: RiskLimits, taker_fee: float) -> None:
        self.limits = limits
        self.taker_fee = taker_fee
        self.vector = r.risk_vector(limits, taker_fee)

    @property
    def fired(self) -> Counter[str]:
        """How often each rule fired (only the rules that did)."""
        counts = self.vector[RiskRow.F_KILL : RiskRow.F_TRIPS + 1]
        return Counter({rule: int(n) for rule, n in zip(r.FIRED, counts, strict=True) if n})

    @property
    def halted_day(self) -> int:
        return int(self.vector[RiskRow.HALTED_DAY])

    @halted_day.setter
    def halted_day(self, day: int) -> None:
        self.vector[RiskRow.HALTED_DAY] = day

    @property
    def cooldown_until_ms(self) -> int:
        return int(self.vector[RiskRow.COOLDOWN_UNTIL])

    @property
    def paused(self) -> bool:
        """New buys refused until lifted (a drift alarm's action; sells always pass)."""
        return bool(self.vector[RiskRow.PAUSED])

    @paused.setter
    def paused(self, on: bool) -> None:
        self.vector[RiskRow.PAUSED] = float(on)

    @property
    def day(self) -> int:
        return int(self.vector[RiskRow.DAY])

    @property
    def day_pnl(self) -> float:
        return float(self.vector[RiskRow.DAY_PNL])

    def state(self) -> dict[str, float]:
        """The day, its PnL, the halt, the cooldown and the counts, by name (to store)."""
        return {name: float(self.vector[i]) for name, i in STATE.items()}

    def restore(self, state: Mapping[str, float]) -> None:
        """Take back a stored `state`: a restart keeps the day's halt and cooldown."""
        for name, value in state.items():
            self.vector[STATE[name]] = value

    def allows(
        self, intent: OrderIntent, now_ms: int, open_positions: int, holding: bool
    ) -> str | None:
        """None if the intent may leave, else the reason it may not."""
        if intent.side is Side.SELL:
            return None
        code = r.allows(float(now_ms), open_positions, holding, self.vector)
        return REASONS[code] if code else None
