"""The commands a user sends a running session (pause, resume, flatten, reset the
kill-switch) and the trading state they read, in one small adapter over the risk engine and
the kernel as they are: every command runs on the engine's event loop, between two steps.

Pausing entries is a cool-down without end (the risk engine's own refusal, so every engine
honours it, and the state file keeps it across a restart); a losing exit while paused
sets a cool-down of its own, so `enforce` (told of every fill before the strategy hears
of it, and of every step) puts the pause back. Resuming restores the cool-down due then.
Flattening withdraws every resting order and sells each position at market (at the next
open), through the kernel, so the state file records them.
"""

from __future__ import annotations

from enum import IntEnum

from thunes.domain.orders import CancelOrders, OrderIntent, OrderType, Side
from thunes.domain.timeframes import DAY_MS
from thunes.live.engine import LiveEngine
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import RiskRow, risk_vector

FLATTEN_TAG = "ops:flatten"
PAUSED_UNTIL_MS = 253_402_300_799_000.0
"""A pause's cool-down end, 9999-12-31 23:59:59 UTC: finite, as what reads the risk state as
an int of epoch ms (the view, the alerts, the state file) expects."""


class TradingState(IntEnum):
    """As the metric `thunes_trading_state` reports it."""

    ACTIVE = 0
    REDUCING = 1  # entries paused by a user: exits still go
    HALTED = 2  # the kill-switch tripped for the day: no new buys


class Control:
    def __init__(self, engine: LiveEngine, risk: RiskEngine) -> None:
        self.engine, self.risk = engine, risk
        self._cooldown_before = -1.0  # the cool-down a pause replaced, restored on resume
        # a restart keeps a pause: the state file has the cool-down
        self.paused = bool(risk.vector[RiskRow.COOLDOWN_UNTIL] >= PAUSED_UNTIL_MS)

    def enforce(self) -> None:
        """Put a pause back after a losing exit's cool-down replaced it."""
        until = float(self.risk.vector[RiskRow.COOLDOWN_UNTIL])
        if self.paused and until < PAUSED_UNTIL_MS:
            self._cooldown_before = until
            self.risk.vector[RiskRow.COOLDOWN_UNTIL] = PAUSED_UNTIL_MS

    def kill_switch_tripped(self) -> bool:
        return self.risk.halted_day == self.engine.now_ms // DAY_MS

    def state(self) -> TradingState:
        if self.kill_switch_tripped():
            return TradingState.HALTED
        return TradingState.REDUCING if self.paused else TradingState.ACTIVE

    def pause(self) -> bool:
        """No new buys until `resume`; False when already paused."""
        if self.paused:
            return False
        self.paused = True
        self.enforce()
        return True

    def resume(self) -> bool:
        """Buys allowed again (a losing exit's cool-down still runs out); False if not paused."""
        if not self.paused:
            return False
        self.paused = False
        self.risk.vector[RiskRow.COOLDOWN_UNTIL] = self._cooldown_before
        return True

    def reset_kill_switch(self) -> bool:
        """Lift today's halt (the day's realised PnL stays booked); False if not tripped."""
        if not self.kill_switch_tripped():
            return False
        self.risk.halted_day = -1
        return True

    def flatten(self) -> list[str]:
        """Pause entries, withdraw every resting order and sell every position at market:
        the symbols sold. The strategies would otherwise buy back at their next signal."""
        self.pause()
        kernel, sold = self.engine.kernel, []
        for j, lane in enumerate(kernel.lanes):
            commands: list[CancelOrders | OrderIntent] = [CancelOrders("")]
            if lane.broker.position > 0:
                commands.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=FLATTEN_TAG))
                sold.append(lane.symbol)
            kernel._submit(j, commands)  # the kernel's own path: recorded, then the broker
        return sold

    def set_limits(self, limits: RiskLimits) -> None:
        """New risk limits from now on (a reload); the day's state and counts stay."""
        fresh = risk_vector(limits, self.risk.taker_fee)
        self.risk.vector[: RiskRow.HALTED_DAY] = fresh[: RiskRow.HALTED_DAY]
        self.risk.limits = limits
