"""The Prometheus endpoint (`ops.metrics_port`): the session's numbers, read from the
engine at each scrape (nothing to keep in step), on a registry of its own, served from a
daemon thread. Names follow Prometheus' conventions: `thunes_` prefix, base units,
`_total` on counters; the Grafana dashboard and the alert rules use exactly these."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from thunes.drift.watch import DriftWatch
from thunes.notify.notifiers import Notifier
from thunes.ops.status import Session

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _gauge(name: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _counter(
    name: str, doc: str, labels: list[str], counts: Iterable[tuple[tuple[str, ...], int]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, n in sorted(counts):
        family.add_metric(list(values), n)
    return family


class SessionCollector(Collector):
    """Every metric but the latency histogram, computed from the session when scraped."""

    def __init__(
        self,
        session: Session,
        notifier: Notifier,
        drift: DriftWatch | None,
        ignored: Callable[[], int] | None = None,
    ) -> None:
        """`ignored`: the Telegram bot's count of messages from other chats (no bot: None)."""
        self.session, self.notifier, self.drift = session, notifier, drift
        self.ignored = ignored
        self.detector = "none" if drift is None else drift.parts.drift.name

    def collect(self) -> Iterator[Metric]:
        s = self.session
        engine, tap, link = s.engine, s.tap, s.link()
        stream = "market"
        yield _gauge("thunes_equity_quote", "Account equity, in quote.", _zero(engine.equity))
        yield _gauge(
            "thunes_pnl_today_quote",
            "Equity change since the UTC day opened.",
            _zero(engine.pnl_today),
        )
        positions = GaugeMetricFamily("thunes_positions_open", "Open positions.", labels=["symbol"])
        orders = GaugeMetricFamily("thunes_orders_open", "Orders at work.", labels=["symbol"])
        for symbol, broker, _ in engine.books():
            positions.add_metric([symbol], 1.0 if broker.position > 0 else 0.0)
            orders.add_metric([symbol], float(len(broker.open_orders())))
        yield positions
        yield orders
        yield _counter(
            "thunes_orders", "Order events by status.", ["status", "symbol"], tap.orders.items()
        )
        yield _counter(
            "thunes_filter_skips",
            "Orders that never left: filters, cash, dust.",
            ["symbol"],
            [((symbol,), n) for symbol, n in tap.skips.items()],
        )
        yield _counter(
            "thunes_risk_refusals",
            "Buys the risk engine refused.",
            ["reason", "symbol"],
            tap.refusals.items(),
        )
        reconnects = CounterMetricFamily(
            "thunes_ws_reconnects", "Websocket reconnections.", labels=["stream"]
        )
        reconnects.add_metric([stream], link.reconnects if link else 0)
        yield reconnects
        yield _gauge(
            "thunes_feed_up", "1 while the feed delivers.", float(s.feed_up()), stream=stream
        )
        yield _gauge("thunes_feed_lag_seconds", "Host seconds from a close to its step.", tap.lag_s)
        age = s.last_event_age_s()
        yield _gauge(
            "thunes_last_event_age_seconds",
            "Host seconds since the last market event.",
            0.0 if age is None else age,
        )
        last = None if s.latency is None else s.latency.last_s
        if last is not None:  # a venue's, once it answered (the simulator has none)
            yield _gauge(
                "thunes_exchange_latency_seconds",
                "Host seconds the venue took to answer its last REST request.",
                last,
            )
        yield _gauge(
            "thunes_trading_state",
            "0 active, 1 reducing (entries paused), 2 halted.",
            float(s.control.state()),
        )
        yield _gauge(
            "thunes_kill_switch_tripped",
            "1 while the daily kill-switch holds.",
            float(s.control.kill_switch_tripped()),
        )
        drift = CounterMetricFamily("thunes_drift_alarms", "Drift detected.", labels=["detector"])
        alarms = 0 if self.drift is None else len(self.drift.monitor.alarms)
        drift.add_metric([self.detector], float(alarms))
        yield drift
        failed = sum(c.failed for c in self.notifier.counts().values())
        yield CounterMetricFamily(
            "thunes_notifications_failed", "Notifications given up on.", value=failed
        )
        if self.ignored is not None:
            yield CounterMetricFamily(
                "thunes_telegram_ignored",
                "Telegram messages from chats other than the configured one, ignored.",
                value=self.ignored(),
            )


def _zero(value: float) -> float:
    return 0.0 if value != value else value


class Metrics:
    """The registry and the latency histogram (the tap observes it); `watch` adds what a
    scrape reads, `serve(host, port)` starts the endpoint, `close()` stops it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "thunes_event_to_order_seconds",
            "Host seconds from a market event's arrival to an order it caused.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.server: WSGIServer | None = None

    def watch(
        self,
        session: Session,
        notifier: Notifier,
        drift: DriftWatch | None,
        ignored: Callable[[], int] | None = None,
    ) -> None:
        self.registry.register(SessionCollector(session, notifier, drift, ignored))

    def serve(self, host: str, port: int) -> int:
        """Start serving; the port bound (`port` 0: a free one)."""
        self.server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(self.server.server_address[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
