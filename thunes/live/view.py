"""The paper (and later live) terminal view: what a user watches while the engine runs, and
the summary it leaves when it stops."""

from __future__ import annotations

import math
import time

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from thunes.domain.timeframes import DAY_MS, utc_minute
from thunes.execution.broker import Broker
from thunes.feeds.link import FeedHealth
from thunes.live.activity import Activity
from thunes.live.engine import LiveEngine
from thunes.risk.engine import RiskEngine


def _money(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:,.2f}"


def _open_orders(broker: Broker) -> list[str]:
    return [
        f"{o.side.value} {o.type.value} "
        f"{'all' if o.amount is None else f'{o.amount:g}'}"
        f"{'' if math.isnan(o.price) else f' @ {o.price:,.2f}'} [{o.tag}]"
        for o in broker.open_orders()
    ]


def positions(engine: LiveEngine) -> Table:
    table = Table(expand=False, title=None)
    for name in ("symbol", "price", "position", "open orders", "fills", "refused"):
        table.add_column(name, justify="left" if name == "symbol" else "right")
    for symbol, broker, close in engine.books():
        refused = f"{len(broker.skipped)}" + (
            f" ({broker.skipped[-1].reason})" if broker.skipped else ""
        )
        table.add_row(
            symbol,
            _money(close),
            f"{broker.position:g}",
            str(len(_open_orders(broker))),
            str(len(broker.fills)),
            refused,
        )
    return table


def _risk_line(risk: RiskEngine, now_ms: int) -> str:
    day = now_ms // DAY_MS
    halted = risk.halted_day == day
    cooling = risk.cooldown_until_ms > now_ms
    state = f"{risk.trading(now_ms).upper()} for the day (max_daily_loss)" if halted else "active"
    if cooling and not halted:
        state = f"cooldown until {utc_minute(risk.cooldown_until_ms)}"
    fired = ", ".join(f"{k} {v}" for k, v in risk.fired.items()) or "none"
    today = risk.day == day
    marked, realised = (risk.day_marked, risk.day_realised) if today else (0.0, 0.0)
    return (
        f"risk: {state}; day PnL {marked:,.2f} (realised {realised:,.2f}, holdings marked);"
        f" fired: {fired}"
    )


def _feed_line(engine: LiveEngine) -> str:
    h = engine.health
    if h.last_real is None:
        return f"feed: waiting for the first close (market {utc_minute(engine.now_ms)})"
    age = time.monotonic() - h.last_real
    link = getattr(engine.feed, "health", None)  # a venue's websocket feed has a link to watch
    return (
        f"feed: {h.events:,} events, {h.steps:,} steps; last {utc_minute(h.last_event_ms or 0)} "
        f"market, {age:.1f}s ago" + (f"\n{link.describe()}" if isinstance(link, FeedHealth) else "")
    )


def render(engine: LiveEngine, activity: Activity, risk: RiskEngine, title: str) -> RenderableType:
    head = Text(f"{title}   market {utc_minute(engine.now_ms)} UTC", style="bold")
    cash = engine.books()[0][1].cash
    account = (
        f"cash {_money(cash)}   equity {_money(engine.equity)}   "
        f"PnL today {_money(engine.pnl_today)}"
    )
    last = Text("\n".join(activity.lines) or "(no orders yet)", style="dim")
    return Group(
        head,
        positions(engine),
        Text(account),
        Text(_risk_line(risk, engine.now_ms)),
        Text(_feed_line(engine)),
        Text("last events:", style="bold"),
        last,
    )


def summary(engine: LiveEngine, activity: Activity, risk: RiskEngine) -> list[str]:
    """What is still open when it stops, and where the account stands."""
    stopped = engine.stopped.value if engine.stopped else "stopped"
    fills = sum(len(broker.fills) for _, broker, _ in engine.books())
    sent = "" if engine.ticks else f"{activity.sent} orders sent, "  # a tick engine sends its own
    lines = [
        f"paper: {stopped} at market {utc_minute(engine.stopped_ms)} UTC after "
        f"{engine.health.steps:,} steps; {sent}{fills} fills",
        f"cash {_money(engine.books()[0][1].cash)}, equity {_money(engine.equity)}, "
        f"PnL today {_money(engine.pnl_today)}; {_risk_line(risk, engine.now_ms)}",
    ]
    for symbol, broker, _ in engine.books():
        still = _open_orders(broker)
        lines.append(
            f"{symbol}: position {broker.position:g}, "
            f"{len(still)} open order(s)" + (": " + "; ".join(still) if still else "")
        )
    return lines
