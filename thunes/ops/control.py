"""The commands a user sends a running session (pause, resume, flatten, reset the
kill-switch) and the trading state they read, in one small adapter over the risk engine and
the kernel as they are: every command runs on the engine's event loop, between two steps.

Pausing entries is the risk engine's own pause (every engine honours it, sells still leave,
and the state file keeps it across a restart); resetting the kill-switch is its `reset`.
Flattening withdraws every resting order, then does what a tripped kill-switch does: each
broker sells its position at market (at the next open, or through a venue broker's queue);
the state file records them as the kernel hands their news on, at the next step.
"""

from __future__ import annotations

from enum import IntEnum

from thunes.domain.orders import CancelOrders
from thunes.live.engine import LiveEngine
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import TRADING_STATES, RiskRow, risk_vector


class TradingState(IntEnum):
    """As the metric `thunes_trading_state` reports it (the risk rules' trading states)."""

    ACTIVE = 0
    REDUCING = 1  # only risk-reducing orders leave: a flattening kill-switch, or entries paused
    HALTED = 2  # the kill-switch tripped for the day: nothing new leaves


class Control:
    def __init__(self, engine: LiveEngine, risk: RiskEngine) -> None:
        self.engine, self.risk = engine, risk

    @property
    def paused(self) -> bool:
        return self.risk.paused

    def kill_switch_tripped(self) -> bool:
        return self.risk.trading(self.engine.now_ms) != "active"

    def state(self) -> TradingState:
        state = TradingState(TRADING_STATES.index(self.risk.trading(self.engine.now_ms)))
        if state is TradingState.ACTIVE and self.paused:
            return TradingState.REDUCING
        return state

    def pause(self) -> bool:
        """No new buys until `resume`; False when already paused."""
        if self.paused:
            return False
        self.risk.paused = True
        return True

    def resume(self) -> bool:
        """Buys allowed again (a losing exit's cool-down still runs out); False if not paused."""
        if not self.paused:
            return False
        self.risk.paused = False
        return True

    def reset_kill_switch(self) -> bool:
        """Lift today's trip (a fresh daily budget); False if not tripped."""
        if not self.kill_switch_tripped():
            return False
        self.risk.reset()
        return True

    def flatten(self) -> list[str]:
        """Pause entries, withdraw every resting order (a venue's sells hold the base a
        market sell needs), then flatten every symbol as a tripped kill-switch does (each
        broker queues a market sell, the risk engine's own order, on its normal path): the
        symbols sold. The strategies would otherwise buy back at their next signal."""
        self.pause()
        sold = [lane.symbol for lane in self.engine.lanes if lane.broker.position > 0]
        for lane in self.engine.lanes:
            lane.broker.submit(CancelOrders(""), 0)  # the strategy's own cancel: all its orders
            lane.broker.flatten()
        return sold

    def set_limits(self, limits: RiskLimits) -> None:
        """New risk limits from now on (a reload); the day's state and counts stay."""
        fresh = risk_vector(limits, self.risk.taker_fee)
        self.risk.vector[: RiskRow.HALTED_DAY] = fresh[: RiskRow.HALTED_DAY]
        self.risk.limits = limits
