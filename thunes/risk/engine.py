"""The one risk component every engine runs: it vets each intent and watches each fill.

Rules, all in the quote currency:
- max_loss_per_trade: a protective stop at the price where the open position, fees in,
  would have lost that much. It rests with the broker like any stop.
- max_daily_loss: realised losses within one UTC day. Reaching it trips the kill-switch:
  no new buys until the next UTC day and, when `kill_switch` is on, the position is
  flattened. Sells (which reduce risk) are always allowed: HALTED, not frozen.
- cooldown_minutes: after a losing exit, no new buys for that long.
- max_open_positions: a buy that would open a position beyond the limit is refused.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.risk.limits import RiskLimits

_DAY_MS = 86_400_000
MAX_LOSS_TAG = "risk:max_loss"
KILL_TAG = "risk:kill_switch"


@dataclass
class PositionBook:
    """Cost basis of the open position: what was paid for it, fees included."""

    amount: float = 0.0
    cost: float = 0.0

    def on_fill(self, fill: Fill) -> float:
        """Realised PnL of a sell (0 for a buy), fees of both legs included."""
        if fill.side is Side.BUY:
            self.amount += fill.amount
            self.cost += fill.amount * fill.price + fill.fee
            return 0.0
        share = min(1.0, fill.amount / self.amount) if self.amount > 0 else 1.0
        basis = self.cost * share
        self.amount = max(0.0, self.amount - fill.amount)
        self.cost -= basis
        if self.amount == 0.0:
            self.cost = 0.0
        return fill.amount * fill.price - fill.fee - basis


@dataclass
class RiskEngine:
    limits: RiskLimits
    taker_fee: float
    fired: Counter[str] = field(default_factory=Counter)
    halted_day: int = -1
    cooldown_until_ms: int = -1
    day: int = -1
    day_pnl: float = 0.0

    def allows(
        self, intent: OrderIntent, now_ms: int, open_positions: int, holding: bool
    ) -> str | None:
        """None if the intent may leave, else the reason it may not."""
        if intent.side is Side.SELL or intent.type is OrderType.CANCEL:
            return None
        if self.halted_day == now_ms // _DAY_MS:
            return self._fire("kill_switch")
        if now_ms < self.cooldown_until_ms:
            return self._fire("cooldown")
        if not holding and open_positions >= self.limits.max_open_positions:
            return self._fire("max_open_positions")
        return None

    def _fire(self, rule: str) -> str:
        self.fired[rule] += 1
        return rule

    def stop_price(self, book: PositionBook) -> float | None:
        """Where the position's loss, the exit fee included, reaches max_loss_per_trade."""
        if book.amount <= 0 or self.limits.max_loss_per_trade == float("inf"):
            return None
        price = (book.cost - self.limits.max_loss_per_trade) / (book.amount * (1 - self.taker_fee))
        return price if price > 0 else None

    def on_realised(self, pnl: float, now_ms: int, tag: str) -> bool:
        """Book a sell's PnL; True when the daily limit has just tripped the kill-switch."""
        day = now_ms // _DAY_MS
        if day != self.day:
            self.day, self.day_pnl = day, 0.0
        self.day_pnl += pnl
        if tag == MAX_LOSS_TAG:
            self.fired["max_loss_per_trade"] += 1
        if pnl < 0 and self.limits.cooldown_minutes > 0:
            self.cooldown_until_ms = now_ms + int(self.limits.cooldown_minutes * 60_000)
        if -self.day_pnl >= self.limits.max_daily_loss and self.halted_day != day:
            self.halted_day = day
            self.fired["kill_switch_trips"] += 1
            return self.limits.kill_switch
        return False
