"""The session as plain data: what the API's reads, the status page and the metrics share,
so they can never disagree. Read on the engine's event loop (the API) or from the metrics
thread (numbers only)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from thunes.domain.timeframes import timeframe_ms, utc_minute
from thunes.exchange.latency import RestLatency
from thunes.feeds.link import FeedHealth
from thunes.live.engine import LiveEngine
from thunes.ops.control import Control
from thunes.ops.tap import Tap
from thunes.risk.engine import RiskEngine


def _num(value: float) -> float | None:
    """JSON has no NaN: a value not known yet is null."""
    return None if value != value or math.isinf(value) else round(value, 8)


@dataclass
class Session:
    """Everything the operator's tools read, built once by `thunes.ops.attach`."""

    engine: LiveEngine
    risk: RiskEngine
    control: Control
    tap: Tap
    stale_after_s: float | None = None  # None: from the feed's pace
    latency: RestLatency | None = None  # the venue's REST round trips (None: the simulator)

    def link(self) -> FeedHealth | None:
        """A venue's websocket link, when the feed has one (the simulator's has none)."""
        health = getattr(self.engine.feed, "health", None)
        return health if isinstance(health, FeedHealth) else None

    def last_event_age_s(self) -> float | None:
        """Host seconds since the last market event: a stalled loop or feed shows here."""
        arrived = self.engine.health.last_real
        return None if arrived is None else time.monotonic() - arrived

    def stale_limit_s(self) -> float:
        """Silence that makes the session unhealthy: twice a candle's real duration at the
        clock's speed, plus 30 s (ticks, or as fast as it can: 30 s)."""
        if self.stale_after_s is not None:
            return self.stale_after_s
        feed, gap = self.engine.feed, 0.0
        if feed.timeframe != "ticks" and feed.clock.speed > 0:
            gap = timeframe_ms(feed.timeframe) / 1000 / feed.clock.speed
        return 2 * gap + 30.0

    def feed_up(self) -> bool:
        link = self.link()
        if link is not None:
            return link.state == "connected"
        return self.engine.stopped is None

    def healthy(self) -> tuple[bool, str]:
        """Whether the loop is fed and running, and if not why."""
        if self.engine.stopped is not None:
            return False, f"stopped: {self.engine.stopped.value}"
        if not self.feed_up():
            link = self.link()
            return False, f"feed down: {link.describe() if link else 'stopped'}"
        age, limit = self.last_event_age_s(), self.stale_limit_s()
        if age is None:
            return True, "waiting for the first event"
        if age > limit:
            return False, f"no market event for {age:.0f}s (limit {limit:.0f}s)"
        return True, "ok"

    def health(self) -> dict[str, Any]:
        ok, why = self.healthy()
        link = self.link()
        age = self.last_event_age_s()
        return {
            "ok": ok,
            "why": why,
            "last_event_age_s": None if age is None else round(age, 3),
            "stale_after_s": self.stale_limit_s(),
            "feed": {
                "up": self.feed_up(),
                "state": link.state if link else ("running" if self.feed_up() else "stopped"),
                "reconnects": link.reconnects if link else 0,
                "lag_s": round(self.tap.lag_s, 3),
                "detail": link.describe() if link else None,
            },
            "venue_message_age_s": _venue_age(link),
            "exchange": None if self.latency is None else self.latency.report(),
            "trading_state": self.control.state().name.lower(),
        }

    def positions(self) -> list[dict[str, Any]]:
        return [
            {
                "symbol": symbol,
                "amount": broker.position,
                "price": _num(price),
                "value": _num(broker.position * price),
                "cost": _num(getattr(broker, "cost", math.nan)),
            }
            for symbol, broker, price in self.engine.books()
            if broker.position > 0
        ]

    def orders(self) -> list[dict[str, Any]]:
        """The orders at work, every broker's (the simulator's book, or the venue's)."""
        return [
            {
                "symbol": symbol,
                "side": o.side.value,
                "type": o.type.value,
                "amount": o.amount,
                "price": _num(o.price),
                "tag": o.tag,
                "client_id": o.order_id,
                "status": o.status,
            }
            for symbol, broker, _ in self.engine.books()
            for o in broker.open_orders()
        ]

    def balance(self) -> dict[str, Any]:
        books = self.engine.books()
        cash = books[0][1].cash if books else math.nan
        return {
            "cash": _num(cash),
            "equity": _num(self.engine.equity),
            "holdings": {s: _num(b.holdings * p) for s, b, p in books},
        }

    def profit(self) -> list[dict[str, Any]]:
        return [
            {"day": day, "open": _num(o), "close": _num(c), "pnl": _num(c - o)}
            for day, (o, c) in sorted(self.tap.days.items())
        ]

    def risk_state(self) -> dict[str, Any]:
        risk, now = self.risk, self.engine.now_ms
        cooling = risk.cooldown_until_ms > now and not self.control.paused
        today = risk.day == now // 86_400_000
        return {
            "state": self.control.state().name.lower(),
            "paused": self.control.paused,
            "kill_switch_tripped": self.control.kill_switch_tripped(),
            "cooldown_until": utc_minute(risk.cooldown_until_ms) if cooling else None,
            "day_marked": _num(risk.day_marked if today else 0.0),  # max_daily_loss bounds it
            "day_realised": _num(risk.day_realised if today else 0.0),
            "limits": {
                "max_loss_per_trade": risk.limits.max_loss_per_trade,
                "max_daily_loss": risk.limits.max_daily_loss,
                "max_open_positions": risk.limits.max_open_positions,
                "cooldown_minutes": risk.limits.cooldown_minutes,
            },
            "fired": dict(risk.fired),
        }

    def status(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "market_time": utc_minute(engine.now_ms),
            "symbols": engine.feed.symbols,
            "timeframe": engine.feed.timeframe,
            "speed": engine.feed.clock.speed,
            "stopped": engine.stopped.value if engine.stopped else None,
            "steps": engine.health.steps,
            "balance": self.balance(),
            "pnl_today": _num(engine.pnl_today),
            "positions": self.positions(),
            "orders": self.orders(),
            "trades": list(self.tap.trades)[-20:],
            "risk": self.risk_state(),
            "health": self.health(),
            "equity_curve": [[utc_minute(t), round(e, 4)] for t, e in self.tap.curve],
        }


def _venue_age(link: FeedHealth | None) -> float | None:
    """Host seconds since the venue's websocket last spoke (the simulator: none)."""
    if link is None:
        return None
    age = link.message_age_s()
    return None if age is None else round(age, 3)
