"""What a running session did, as the operator's tools read it: orders by status, refusals
and skips, the last trades, the equity curve, each day's PnL, event-to-order latency, feed
lag. It observes the engine (`LiveEngine.observe`, as the alerts do), logs each order
event with its client order id, and keeps bounded records.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import structlog

from thunes.domain.orders import CancelOrders, Command, Fill, OrderEvent, OrderStatus
from thunes.domain.reasons import COOLDOWN, KILL_SWITCH, MAX_OPEN, REASONS
from thunes.domain.timeframes import DAY_MS, utc_minute
from thunes.live.engine import LiveEngine
from thunes.ops.control import Control

RISK_REASONS = frozenset(REASONS[code] for code in (KILL_SWITCH, COOLDOWN, MAX_OPEN))
log = structlog.get_logger("thunes.ops")


class Tap:
    """`Tap.watch(engine, control, observe_latency)` after the engine and its alerts are built."""

    @classmethod
    def watch(cls, engine: LiveEngine, control: Control, latency: Callable[[float], None]) -> Tap:
        tap = cls(engine, control, latency)
        engine.observe(tap)
        return tap

    def __init__(
        self,
        engine: LiveEngine,
        control: Control,
        latency: Callable[[float], None],
        keep: int = 200,
    ) -> None:
        self.engine, self.control, self.latency = engine, control, latency
        self.orders: Counter[tuple[str, str]] = Counter()  # (status, symbol)
        self.skips: Counter[str] = Counter()  # by symbol: the filters or the cash refused
        self.refusals: Counter[tuple[str, str]] = Counter()  # (reason, symbol): risk refused
        self.trades: deque[dict[str, Any]] = deque(maxlen=keep)
        self.curve: deque[tuple[int, float]] = deque(maxlen=5 * keep)  # (market ms, equity)
        self.days: dict[str, list[float]] = {}  # UTC day: [opening equity, last equity]
        self.lag_s = 0.0  # host seconds between a candle's close (market clock) and its step

    # --- the kernel's recorder ------------------------------------------------------------

    def sending(self, symbol: str, command: Command) -> None:
        arrived = self.engine.health.last_real
        if arrived is not None:
            self.latency(time.monotonic() - arrived)
        if isinstance(command, CancelOrders):
            log.info("cancel_sent", symbol=symbol, tag=command.tag)
            return
        log.info(
            "order_sent",
            symbol=symbol,
            side=command.side.value,
            type=command.type.value,
            amount=command.amount,
            quote=command.quote,
            price=command.price,
            tag=command.tag,
        )

    def event(self, symbol: str, event: OrderEvent) -> None:
        self.orders[(event.status.value, symbol)] += 1
        if event.status is OrderStatus.REJECTED:
            if event.reason in RISK_REASONS:
                self.refusals[(event.reason, symbol)] += 1
            elif not event.order_id:  # never left: the filters, the cash, dust
                self.skips[symbol] += 1
        venue_refused = event.status is OrderStatus.REJECTED and event.order_id  # not routine
        say = log.warning if venue_refused else log.info
        say(
            f"order_{event.status.value}",
            symbol=symbol,
            client_order_id=event.order_id or None,
            side=event.side.value,
            type=event.type.value,
            price=None if event.price != event.price else event.price,
            tag=event.tag,
            reason=event.reason or None,
        )

    def filled(self, fill: Fill) -> None:
        self.orders[(fill.status.value, fill.symbol)] += 1
        trade = {
            "time": utc_minute(fill.time_ms),
            "symbol": fill.symbol,
            "side": fill.side.value,
            "amount": fill.amount,
            "price": fill.price,
            "fee": round(fill.fee, 10),
            "tag": fill.tag,
            "client_order_id": fill.order_id,
            "trade_id": fill.trade_id,
        }
        self.trades.append(trade)
        log.info("fill", **trade)

    # --- the engine's step ----------------------------------------------------------------

    def stepped(self, close_ms: int) -> None:
        engine = self.engine
        speed = engine.feed.clock.speed
        self.lag_s = max(0.0, (engine.now_ms - close_ms) / 1000 / speed) if speed > 0 else 0.0
        equity = engine.equity
        if equity == equity:
            self.curve.append((close_ms, equity))
            day = utc_minute(close_ms // DAY_MS * DAY_MS)[:10]
            opening = engine.day_open_equity
            self.days.setdefault(day, [opening if opening == opening else equity, equity])[1] = (
                equity
            )
