"""The one risk component every engine runs: a face over the vector the rules work on.

The rules themselves are numba functions (rules.py), so that the compiled batch loops and
the event-by-event engines share one definition; this class builds the vector from the
limits, reads back what a report wants (how often each rule fired, the trading state),
and turns the state into named values a state file keeps: a restart, a crash or a new
config resumes the day's PnL, the halt, the cool-downs, the order-rate window and the
counts, so that no restart is a way around the kill-switch.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence

from thunes.domain.orders import OrderIntent, OrderType, Side
from thunes.domain.reasons import REASONS
from thunes.risk import rules as r
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import RiskRow

log = logging.getLogger(__name__)

# The vector's state by name (its limits come from the config): what a restart takes back.
STATE = {
    "halted_day": RiskRow.HALTED_DAY,
    "cooldown_until_ms": RiskRow.COOLDOWN_UNTIL,
    "day": RiskRow.DAY,
    "day_pnl": RiskRow.DAY_REALISED,  # the state file's name for it, as saved since the start
    "rate_minute": RiskRow.RATE_MINUTE,
    "rate_count": RiskRow.RATE_COUNT,
    "paused": RiskRow.PAUSED,
    **{f"fired.{rule}": RiskRow.F_KILL + i for i, rule in enumerate(r.FIRED)},
}
# The limits a state records, to say which changed since (a new one applies from the next
# order), as the config gives them (cooldown_scope: 1 for global).
LIMITS = (
    "max_loss_per_trade",
    "max_daily_loss",
    "max_open_positions",
    "cooldown_minutes",
    "kill_switch",
    "cooldown_scope",
    "max_orders_per_minute",
    "max_price_deviation_pct",
    "max_position_notional",
    "max_total_notional",
    "max_open_orders_per_symbol",
)
# the rows of each symbol, in `LaneRisk`'s order (a state saved before the last six lacks
# them: they start at 0, and `hold` values a holding from its next mark)
_PER_SYMBOL = (
    "cooldown_until_ms",
    "last_price",
    "held",
    "cost",
    "unrealised",
    "day_start_unrealised",
    "unvalued",
    "kill_obeyed",
)


class RiskEngine:
    def __init__(self, limits: RiskLimits, taker_fee: float, symbols: Sequence[str] = ()) -> None:
        """`symbols`: the run's, in their lanes' order (their cool-downs are kept by name)."""
        self.limits = limits
        self.taker_fee = taker_fee
        self.symbols = list(symbols)
        self.vector = r.risk_vector(limits, taker_fee, max(len(self.symbols), 8))

    @property
    def fired(self) -> Counter[str]:
        """How often each rule fired (only the rules that did)."""
        counts = self.vector[RiskRow.F_KILL : RiskRow.F_KILL + len(r.FIRED)]
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
    def day_realised(self) -> float:
        """The PnL realised today (each fill's share of it is what the state file books)."""
        return float(self.vector[RiskRow.DAY_REALISED])

    @property
    def day_marked(self) -> float:
        """Today's PnL, realised and unrealised: what max_daily_loss bounds."""
        return r.day_marked(self.vector)

    def trading(self, now_ms: int) -> str:
        """The trading state at market time `now_ms`: active, reducing or halted."""
        return r.TRADING_STATES[r.trading(float(now_ms), self.vector)]

    def reset(self) -> None:
        """Lift a tripped kill-switch (`risk.reset=true`, or a command): trading is active
        again, on a fresh daily budget; says so in one line."""
        pnl = r.reset(self.vector)
        log.warning("risk: kill-switch reset: trading active, the day's PnL %.2f set aside", pnl)

    def hold(self, symbol: str, amount: float, cost: float) -> None:
        """`symbol` holds `amount` that cost `cost`, as its broker's book says at a start
        (rules.hold: a state saved before the daily loss counted holdings learns of it)."""
        r.hold(self.lane(symbol), amount, cost, self.vector)

    def lane(self, symbol: str) -> int:
        """`symbol`'s lane: its rows in the vector (`LaneRisk`), which each of
        its broker's calls to the rules names. A symbol the engine was not told of takes
        the next free lane (a broker built on an engine made without the run's symbols)."""
        if symbol not in self.symbols:
            if len(self.symbols) * r.LANE_ROWS + RiskRow.LANES >= len(self.vector):
                raise ValueError(f"the risk engine has no lane left for {symbol}")
            self.symbols.append(symbol)
        return self.symbols.index(symbol)

    def rows(self, symbol: str) -> dict[str, int]:
        """Where the state a fill on `symbol` changes sits, by the name `state` gives it:
        the engine's, and the symbol's own rows (what a fill's booking records)."""
        j = self.lane(symbol)
        return {
            **STATE,
            **{f"{name}.{symbol}": self._row(j, k) for k, name in enumerate(_PER_SYMBOL)},
        }

    def _row(self, symbol: int, k: int) -> int:
        return int(RiskRow.LANES) + r.LANE_ROWS * symbol + k

    def state(self) -> dict[str, float]:
        """The day, its PnL, the halt, the cool-downs, the order-rate window, the counts and
        the limits they were reached under, by name (to store)."""
        v = self.vector
        values = {name: float(v[i]) for name, i in STATE.items()}
        for j, symbol in enumerate(self.symbols):
            for k, name in enumerate(_PER_SYMBOL):
                values[f"{name}.{symbol}"] = float(v[self._row(j, k)])
        values.update({f"limit.{name}": self._limit(name) for name in LIMITS})
        return values

    def _limit(self, name: str) -> float:
        value = getattr(self.limits, name)
        return float(value == "global") if isinstance(value, str) else float(value)

    def restore(self, state: Mapping[str, float]) -> None:
        """Take back a stored `state`: a restart keeps the day's halt, its PnL and the
        cool-downs, whatever the config now says; a limit changed since applies from the
        next order, and says so in one line. Then `risk.reset=true` lifts the halt."""
        v = self.vector
        for name, value in state.items():
            if name in STATE:
                v[STATE[name]] = value
            elif name.startswith("limit."):
                self._changed(name.removeprefix("limit."), value)
            else:
                field, _, symbol = name.partition(".")
                if field in _PER_SYMBOL and symbol in self.symbols:
                    v[self._row(self.symbols.index(symbol), _PER_SYMBOL.index(field))] = value
        r.recount(v)
        if self.limits.reset:
            self.reset()

    def _changed(self, name: str, was: float) -> None:
        if name in LIMITS and self._limit(name) != was:
            log.warning(
                "risk: %s changed since the last run: %g -> %g, from the next order",
                name,
                was,
                self._limit(name),
            )

    def allows(
        self,
        intent: OrderIntent,
        now_ms: int,
        open_positions: int,
        holding: bool,
        symbol: int = 0,
        open_orders: int = 0,
    ) -> str | None:
        """None if the intent may leave, else the reason it may not."""
        price = intent.price if intent.type is OrderType.LIMIT and intent.price else math.nan
        code = r.allows(
            symbol,
            intent.side is Side.BUY,
            price,
            float(now_ms),
            open_positions,
            holding,
            open_orders,
            self.vector,
        )
        return REASONS[code] if code else None
