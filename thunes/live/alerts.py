"""What a paper or live session tells its notifier, derived where it happens: trades opened
and closed, orders refused, the risk engine's kill-switch and cool-down, the daily PnL at
each UTC day's end (market time), the feed's link going down and up, and a session that
fails. The notifier queues them: nothing here waits on a network.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator

from thunes.domain.orders import Command, Fill, OrderEvent, OrderStatus, Side
from thunes.domain.timeframes import DAY_MS, utc_minute
from thunes.errors import ConfigError, interrupted, one_line
from thunes.execution.broker import Broker
from thunes.feeds.ccxt_feed import FeedHealth
from thunes.live.engine import LiveEngine
from thunes.notify.events import Event, Kind
from thunes.notify.notifiers import Notifier
from thunes.risk.engine import RiskEngine

_DOWN = ("reconnecting", "stalled")
FEED_POLL_S = 1.0


@contextlib.contextmanager
def notifying(notifier: Notifier) -> Iterator[None]:
    """A session that fails says so (Ctrl-C is no error, and a config refusal is the CLI's
    one line); what is queued is flushed at the end, within the notifier's bound."""
    try:
        yield
    except BaseException as error:
        if not interrupted(error) and not isinstance(error, ConfigError):
            notifier.publish(Event(Kind.ERROR, f"{type(error).__name__}: {one_line(error)}"))
        raise
    finally:
        notifier.close()


class Alerts:
    """An observer of the engine (`LiveEngine.observe`): `Alerts.watch(engine, risk,
    notifier)` after the engine is built."""

    @classmethod
    def watch(cls, engine: LiveEngine, risk: RiskEngine, notifier: Notifier) -> Alerts:
        alerts = cls(engine, risk, notifier)
        engine.observe(alerts)
        link = getattr(engine.feed, "health", None)
        if isinstance(link, FeedHealth):
            threading.Thread(target=alerts._watch_link, args=(link,), daemon=True).start()
        return alerts

    def __init__(
        self,
        engine: LiveEngine,
        risk: RiskEngine,
        notifier: Notifier,
    ) -> None:
        self.engine, self.risk, self.publish = engine, risk, notifier.publish
        self.trade_pnl: dict[str, float] = {}  # open trades: realised PnL of their sells
        self._halted = self._cooling_until = -1
        self._day, self._day_open, self._equity = -1, float("nan"), 0.0
        self._fills: Counter[int] = Counter()  # by market day
        self._pnl_day, self._pnl = -1, 0.0  # the risk engine's day PnL at the last fill

    # --- the kernel's recorder ------------------------------------------------------------

    def sending(self, symbol: str, command: Command) -> None:
        """An order leaving is no news: its fill or refusal is."""

    def event(self, symbol: str, event: OrderEvent) -> None:
        if event.status is not OrderStatus.REJECTED:
            return
        kind = Kind.ORDER_REJECTED if event.order_id else Kind.ORDER_SKIPPED  # never left
        at = "" if event.price != event.price else f" @ {event.price:,.2f}"
        what = f"{event.side.value} {event.type.value}{at} [{event.tag}]"
        self.publish(Event(kind, f"{what}: {event.reason or 'refused'}", symbol))

    def filled(self, fill: Fill) -> None:
        self._fills[fill.time_ms // DAY_MS] += 1
        pnl = self._realised()
        broker = self._broker(fill.symbol)
        what = f"{fill.side.value} {fill.amount:g} @ {fill.price:,.2f} [{fill.tag}]"
        if fill.side is Side.BUY and fill.symbol not in self.trade_pnl:
            if broker is None or broker.position - fill.tradable <= fill.tradable * 1e-9:
                self.trade_pnl[fill.symbol] = 0.0
                self.publish(Event(Kind.TRADE_OPENED, what, fill.symbol))
        elif fill.side is Side.SELL:
            total = self.trade_pnl.pop(fill.symbol, 0.0) + pnl
            if broker is not None and broker.position > 0:
                self.trade_pnl[fill.symbol] = total  # still open: a partial exit
            else:
                self.publish(Event(Kind.TRADE_CLOSED, f"{what}; PnL {total:+,.2f}", fill.symbol))
        self._risk_changes(fill.time_ms)

    # --- the engine's step ----------------------------------------------------------------

    def stepped(self, close_ms: int) -> None:
        day = close_ms // DAY_MS
        if day != self._day:
            if self._day >= 0:
                self._report(self._day)
            first = self._day < 0  # the session's first step: its day opened before it
            self._day_open = self.engine.day_open_equity if first else self._equity
            self._day = day
        self._equity = self.engine.equity
        self._risk_changes(close_ms)

    def _report(self, day: int) -> None:
        """The day that just ended (market time): equity, its change, fills, positions."""
        change = self._equity - self._day_open
        share = change / self._day_open if self._day_open else float("nan")
        realised = self.risk.day_realised if self.risk.day == day else 0.0
        held = [f"{s} {b.position:g}" for s, b, _ in self.engine.books() if b.position > 0]
        self.publish(
            Event(
                Kind.DAILY_REPORT,
                f"{utc_minute(day * DAY_MS)[:10]}: equity {self._equity:,.2f} ({change:+,.2f}, "
                f"{share:+.2%}); realised {realised:+,.2f}; {self._fills.pop(day, 0)} fills; "
                f"holding {', '.join(held) or 'nothing'}",
            )
        )

    def _risk_changes(self, now_ms: int) -> None:
        """The kill-switch tripped or lifted (a new UTC day), a cool-down begun."""
        risk, day = self.risk, now_ms // DAY_MS
        if risk.halted_day == day and self._halted != day:
            self._halted = day
            self.publish(
                Event(
                    Kind.KILL_SWITCH_TRIPPED,
                    f"day PnL {risk.day_marked:+,.2f} (realised and unrealised) reached"
                    f" max_daily_loss "
                    f"({risk.limits.max_daily_loss:g}): no new buys until 00:00 UTC"
                    + (", position flattened" if risk.limits.kill_switch else ""),
                )
            )
        elif self._halted >= 0 and risk.halted_day != day:
            self._halted = -1
            self.publish(Event(Kind.KILL_SWITCH_RESET, "a new UTC day: buys allowed again"))
        until = risk.cooldown_until_ms
        if until > now_ms and until != self._cooling_until:
            self._cooling_until = until
            self.publish(
                Event(
                    Kind.COOLDOWN, f"after a losing exit: no new buys until {utc_minute(until)} UTC"
                )
            )

    def _realised(self) -> float:
        """The PnL the last fill realised: the move of the risk engine's day PnL, as the
        state file books it."""
        risk = self.risk
        pnl = risk.day_realised - (self._pnl if risk.day == self._pnl_day else 0.0)
        self._pnl_day, self._pnl = risk.day, risk.day_realised
        return pnl

    def _broker(self, symbol: str) -> Broker | None:
        return next((b for s, b, _ in self.engine.books() if s == symbol), None)

    def _watch_link(self, link: FeedHealth) -> None:
        """The venue's websocket link down (reconnecting, stalled) and up again, polled:
        a silent feed calls nothing."""
        down = False
        while self.engine.stopped is None:
            time.sleep(FEED_POLL_S)
            if link.state in _DOWN and not down:
                down = True
                why = link.last_error or link.state
                self.publish(Event(Kind.FEED_DOWN, f"link {link.state}: {why}"))
            elif link.state == "connected" and down:
                down = False
                self.publish(Event(Kind.FEED_UP, link.describe()))
