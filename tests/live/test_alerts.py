"""What a session tells its notifier, derived from the engine's records, the risk engine's
state and the venue link's health (thunes/live/alerts.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from thunes.domain.orders import Fill, OrderEvent, OrderStatus, OrderType, Side
from thunes.domain.timeframes import DAY_MS
from thunes.feeds.ccxt_feed import FeedHealth
from thunes.live import alerts as alerts_module
from thunes.live.alerts import Alerts, notifying
from thunes.notify.channel import Counts
from thunes.notify.events import Event, Kind
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.risk.rules import RiskRow

DAY = 19_783 * DAY_MS  # 2024-03-01 00:00 UTC


class Heard:
    """A notifier that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = 0

    def publish(self, event: Event) -> None:
        self.events.append(event)

    def close(self, timeout_s: float | None = None) -> None:
        self.closed += 1

    def counts(self) -> dict[str, Counts]:
        return {}

    def kinds(self) -> list[Kind]:
        return [event.kind for event in self.events]


def _setup(**engine: Any) -> tuple[Alerts, Heard, RiskEngine, SimpleNamespace]:
    broker = SimpleNamespace(position=0.0)
    fake = SimpleNamespace(
        equity=1000.0,
        day_open_equity=1000.0,
        books=lambda: [("BTC/USDT", broker, 60_000.0)],
        stopped=None,
        **engine,
    )
    risk = RiskEngine(RiskLimits(5.0, 20.0, 3, 60.0, True), 0.001)
    heard = Heard()
    return Alerts(fake, risk, heard), heard, risk, broker  # type: ignore[arg-type]


def _fill(side: Side, amount: float, at_ms: int) -> Fill:
    return Fill(0, side, 60_000.0, amount, 0.06, "entry", symbol="BTC/USDT", time_ms=at_ms)


def test_a_trade_opens_on_the_first_buy_and_closes_when_the_position_is_gone() -> None:
    alerts, heard, _, broker = _setup()
    broker.position = 0.01
    alerts.filled(_fill(Side.BUY, 0.01, DAY))
    broker.position = 0.02  # adding to it: no new trade
    alerts.filled(_fill(Side.BUY, 0.01, DAY + 1))
    broker.position = 0.01  # a partial exit
    alerts.filled(_fill(Side.SELL, 0.01, DAY + 2))
    broker.position = 0.0
    alerts.filled(_fill(Side.SELL, 0.01, DAY + 3))
    assert heard.kinds() == [Kind.TRADE_OPENED, Kind.TRADE_CLOSED]
    assert heard.events[0].text == "buy 0.01 @ 60,000.00 [entry]"
    assert heard.events[1].text.startswith("sell 0.01 @ 60,000.00 [entry]; PnL ")


def test_a_refusal_before_the_order_left_is_a_skip_and_after_a_rejection() -> None:
    alerts, heard, _, _ = _setup()
    refused = OrderEvent(OrderStatus.REJECTED, Side.BUY, OrderType.LIMIT, 59_000.0, "grid:3")
    alerts.event("BTC/USDT", OrderEvent(**{**_fields(refused), "reason": "cooldown"}))
    alerts.event("BTC/USDT", OrderEvent(**{**_fields(refused), "order_id": "p1-Grid-BTC-7"}))
    alerts.event("BTC/USDT", OrderEvent(OrderStatus.NEW, Side.BUY, OrderType.LIMIT, 1.0, "x"))
    assert heard.kinds() == [Kind.ORDER_SKIPPED, Kind.ORDER_REJECTED]
    assert heard.events[0].text == "buy limit @ 59,000.00 [grid:3]: cooldown"


def _fields(event: OrderEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in OrderEvent.__dataclass_fields__}


def test_the_kill_switch_trips_once_and_resets_the_next_utc_day_a_cooldown_is_told() -> None:
    alerts, heard, risk, _ = _setup()
    alerts.stepped(DAY + 3_600_000)
    risk.halted_day = DAY // DAY_MS
    risk.vector[RiskRow.COOLDOWN_UNTIL] = DAY + 3 * 3_600_000
    alerts.stepped(DAY + 2 * 3_600_000)
    alerts.stepped(DAY + 3 * 3_600_000)  # still halted, the same cool-down: nothing new
    alerts.stepped(DAY + DAY_MS + 3_600_000)  # the next UTC day
    assert heard.kinds() == [
        Kind.KILL_SWITCH_TRIPPED,
        Kind.COOLDOWN,
        Kind.DAILY_REPORT,
        Kind.KILL_SWITCH_RESET,
    ]
    assert "no new buys until 00:00 UTC, position flattened" in heard.events[0].text
    assert "until 2024-03-01 03:00 UTC" in heard.events[1].text
    assert heard.events[2].text.startswith("2024-03-01: equity 1,000.00 (+0.00, +0.00%)")


def test_the_venue_link_going_down_and_up_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alerts_module, "FEED_POLL_S", 0.01)
    link = FeedHealth(state="connected")
    alerts, heard, _, _ = _setup()
    engine = alerts.engine
    watcher = alerts_module.threading.Thread(target=alerts._watch_link, args=(link,))
    watcher.start()
    link.state, link.last_error = "reconnecting", "NetworkError: socket closed"
    _until(lambda: Kind.FEED_DOWN in heard.kinds())
    link.state = "connected"
    _until(lambda: Kind.FEED_UP in heard.kinds())
    engine.stopped = "done"
    watcher.join()
    assert heard.kinds() == [Kind.FEED_DOWN, Kind.FEED_UP]
    assert heard.events[0].text == "link reconnecting: NetworkError: socket closed"


def _until(condition: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_failing_session_says_so_and_flushes_ctrl_c_is_no_error() -> None:
    heard = Heard()
    with pytest.raises(RuntimeError), notifying(heard):
        raise RuntimeError("the venue\nwent away")
    with pytest.raises(KeyboardInterrupt), notifying(heard):
        raise KeyboardInterrupt
    assert heard.kinds() == [Kind.ERROR]
    assert heard.events[0].text == "RuntimeError: the venue went away"
    assert heard.closed == 2
