"""A `thunes mode=paper exchange=binance_testnet` session on the Binance stand-in, operated
as a paper one is: its Prometheus endpoint scraped while it trades (the orders it sent to
the venue counted, the orders at work on the venue, the venue's REST latency), its control
API read (the position the venue filled, the orders the venue holds open, the latency in
/health) and commanded (a pause refuses new buys, so the venue gets none; a flatten sells
the position through the venue broker's queue, as the kill-switch does), its trades told
to a local JSON webhook (notifier=apprise), and a clean stop at its duration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.live.venue import held_until_warm, keyed_env, session_args, standin, state_file
from tests.notify.server import Inbox, listening
from tests.ops.test_live_session import _get, _metrics, _until, _wait_for
from thunes.domain.tags import KILL_TAG
from thunes.drift import persist


def _sent(metrics: dict[str, float]) -> float:
    """Orders the venue took (their `new` events), all symbols."""
    return sum(v for k, v in metrics.items() if k.startswith('thunes_orders_total{status="new"'))


def _scrape(url: str) -> dict[str, float]:
    """The metrics, or none this time: a scrape the loaded host resets is tried again."""
    try:
        return _metrics(url)
    except OSError:
        return {}


def _opened(body: dict[str, Any]) -> bool:
    return "trade opened BTC/USDT" in body["title"] and body["message"].startswith("buy ")


def _buys(server: Any) -> int:
    return sum(o.side.lower() == "buy" for o in server.account.orders.values())


def test_a_testnet_session_is_scraped_read_and_paused_through_its_api(tmp_path: Path) -> None:
    err, out = tmp_path / "stderr.txt", tmp_path / "stdout.txt"
    ops = ("ops.metrics_port=0", "ops.api_port=0", "drift=adwin", "drift.actions=[pause]")
    inbox = Inbox()
    with standin() as server, listening(inbox) as port, held_until_warm(server):
        notify = (
            f"notifier.urls=[{{url:'json://127.0.0.1:{port}/hook',tag:hook}}]",
            "notifier.rate_per_s=100",
        )
        args = session_args(server, tmp_path / "state", *ops, duration="10m")
        args = [a for a in args if a != "notifier=none"] + ["notifier=apprise", *notify]
        with err.open("w") as stderr, out.open("w") as stdout:
            process = subprocess.Popen(
                [sys.executable, "-m", "thunes", *args],
                cwd=tmp_path,
                stdout=stdout,
                stderr=stderr,
                env=keyed_env(),
            )
            try:
                metrics_url = _wait_for(r"metrics: (http://\S+/metrics)", err, 120)
                api = _wait_for(r"status page: (http://\S+/)", err, 120)
                scraped = _until(lambda: (m := _scrape(metrics_url)) and _sent(m) > 0 and m, 120)
                feed_up = 'thunes_feed_up{stream="market"}'
                _until(lambda: _scrape(metrics_url).get(feed_up) == 1.0, 60)  # the link's state
                assert scraped["thunes_trading_state"] == 0.0
                assert 'thunes_drift_alarms_total{detector="adwin"}' in scraped  # watched

                def sellable() -> Any:  # two buys filled: above the venue's minimum notional
                    status = json.loads(_get(api + "status")[1])
                    return [p for p in status["positions"] if (p["value"] or 0) > 15] and status

                status = _until(sellable, 120)
                (position,) = status["positions"]
                assert position["symbol"] == "BTC/USDT" and position["amount"] > 0
                assert inbox.wait(lambda bodies: any(_opened(b) for b in bodies), 60)

                def at_work() -> Any:  # the take-profit (a sell limit) rests on the venue
                    orders = json.loads(_get(api + "orders")[1])
                    return [o for o in orders if o["side"] == "sell"] and orders

                orders = _until(at_work, 120)
                open_on_venue = {o.client_id for o in server.account.orders.values() if o.is_open}
                assert {o["client_id"] for o in orders if o["status"] == "new"} <= open_on_venue
                assert all(o["symbol"] == "BTC/USDT" and o["tag"] for o in orders)
                scraped = _until(lambda: _scrape(metrics_url), 60)
                assert scraped['thunes_orders_open{symbol="BTC/USDT"}'] >= 1
                health = json.loads(_get(api + "health")[1])
                latency = health["exchange"]
                assert latency["answered"] > 0 and 0 < latency["last_s"] < 30, health
                assert 0 < scraped["thunes_exchange_latency_seconds"] < 30

                code, body = _get(api + "pause", {})
                assert code == 200 and json.loads(body)["trading_state"] == "reducing"
                paused_at, steps = _buys(server), status["steps"]
                _until(lambda: json.loads(_get(api + "status")[1])["steps"] >= steps + 2, 120)
                logs = json.loads(_get(api + "logs?limit=500")[1])
                refused = [r for r in logs if r["event"] == "order_rejected" and r["side"] == "buy"]
                assert refused and all("paused" in r["reason"] for r in refused)
                assert _until(lambda: _scrape(metrics_url))["thunes_trading_state"] == 1.0
                assert _buys(server) <= paused_at + 1  # at most one queued before the pause

                code, body = _get(api + "flatten", {"confirm": True})
                assert code == 200 and json.loads(body)["selling"] == ["BTC/USDT"]
                _until(lambda: not json.loads(_get(api + "status")[1])["positions"], 120)

                def sold() -> bool:  # the fill reaches the engine at its next step
                    trades = json.loads(_get(api + "trades")[1])
                    return any(t["side"] == "sell" and t["tag"] == KILL_TAG for t in trades)

                _until(sold, 60)
                venue = server.account.orders.values()
                assert any(o.side == "SELL" and o.type == "MARKET" for o in venue)
            except BaseException:
                process.terminate()
                raise
            finally:
                process.wait(timeout=240)
    text = out.read_text() + err.read_text()
    assert process.returncode == 0, text
    assert "paper.duration reached" in text, text
    assert persist.state_path(state_file(tmp_path / "state")).exists()  # the drift watch's
