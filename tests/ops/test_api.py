"""The control API as a client calls it (FastAPI's TestClient, the app a session serves)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from thunes.domain.orders import OrderIntent, OrderType, Side
from thunes.domain.tags import KILL_TAG
from thunes.errors import ConfigError
from thunes.ops.api import build_app
from thunes.ops.attach import Ops, check_exposure


def _client(ops: Ops, token: str | None = None) -> TestClient:
    return TestClient(build_app(ops.session, ops.reloader, ops.logs.recent.records, token))


def test_reads_say_where_the_session_stands(ops: Ops) -> None:
    api = _client(ops)
    status = api.get("/status").json()
    assert status["steps"] == 72 and status["stopped"] == "paper.duration reached"
    assert status["balance"]["equity"] == pytest.approx(ops.engine.equity)
    assert [o["tag"] for o in api.get("/orders").json()] == [o["tag"] for o in status["orders"]]
    trades = api.get("/trades").json()
    assert trades and {"client_order_id", "trade_id", "price"} <= trades[0].keys()
    days = [d["day"] for d in api.get("/profit").json()]
    assert days == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]  # the last close
    health = api.get("/health")  # the session has stopped: unhealthy, for a watchdog
    assert health.status_code == 503 and health.json()["why"].startswith("stopped")
    assert health.json()["exchange"] is None  # the simulator: no venue to time
    orders = api.get("/orders").json()  # the grid's buy limits resting on the simulated book
    assert [o for o in orders if o["side"] == "buy" and o["type"] == "limit"]
    assert all(o["type"] != "market" and o["client_id"] and o["status"] for o in orders)
    logs = api.get("/logs", params={"limit": 5}).json()
    assert len(logs) == 5 and all(r["run_id"] == "t0" for r in logs)
    risk, engine = status["risk"], ops.control.risk  # the day's PnL the daily limit bounds
    assert engine.day == ops.engine.now_ms // 86_400_000 and ops.engine.lanes[0].broker.position
    assert risk["day_marked"] == pytest.approx(engine.day_marked)  # holdings marked
    assert risk["day_realised"] == pytest.approx(engine.day_realised)
    assert risk["day_marked"] != risk["day_realised"]


def test_a_token_guards_everything_but_health_and_the_page(ops: Ops) -> None:
    api = _client(ops, token="s3cret-token")
    assert api.get("/status").status_code == 401
    assert api.post("/pause").status_code == 401
    assert api.get("/status", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.get("/status", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert api.get("/health").status_code == 503  # answered: no token needed
    assert "<title>THUNES status</title>" in api.get("/").text


def test_no_token_means_loopback_only() -> None:
    check_exposure("127.0.0.1", None)
    check_exposure("0.0.0.0", "a-token")
    with pytest.raises(ConfigError, match=r"ops.api_host=0.0.0.0 .* THUNES_API_TOKEN"):
        check_exposure("0.0.0.0", None)


def test_pause_refuses_entries_not_exits_until_resumed(ops: Ops) -> None:
    api, risk, now = _client(ops), ops.control.risk, ops.engine.now_ms
    buy = OrderIntent(Side.BUY, OrderType.MARKET)
    sell = OrderIntent(Side.SELL, OrderType.MARKET)
    assert api.post("/pause").json()["trading_state"] == "reducing"
    assert risk.allows(buy, now, 0, False) == "entries paused"
    assert risk.allows(sell, now, 0, True) is None  # exits still leave
    later = now + 3_600_000  # a losing exit's cool-down has run out: still paused
    assert ops.control.paused and risk.allows(buy, later, 0, False) == "entries paused"
    assert api.post("/resume").json() == {
        "command": "resume",
        "changed": True,
        "trading_state": "active",
    }
    assert risk.allows(buy, later, 0, False) is None


def test_flatten_and_reset_need_a_confirmation(ops: Ops) -> None:
    api = _client(ops)
    assert api.post("/flatten", json={}).status_code == 400
    assert api.post("/reset-kill-switch", json={"confirm": False}).status_code == 400
    assert ops.session.orders()  # nothing was done
    answer = api.post("/flatten", json={"confirm": True}).json()
    assert answer["trading_state"] == "reducing"
    assert ops.session.orders() == []  # every resting order withdrawn
    holding = [s for s, b, _ in ops.engine.books() if b.position > 0]
    assert answer["selling"] == holding
    # the kill-switch's own market sell, at work for the next open
    selling = [s for s, b, _ in ops.engine.books() if b.working([KILL_TAG])]  # type: ignore[attr-defined]
    assert selling == holding


def test_reset_lifts_a_tripped_kill_switch(ops: Ops) -> None:
    api, risk = _client(ops), ops.control.risk
    risk.halted_day = ops.engine.now_ms // 86_400_000
    assert api.get("/status").json()["risk"]["kill_switch_tripped"]
    answer = api.post("/reset-kill-switch", json={"confirm": True}).json()
    assert answer == {"command": "reset-kill-switch", "changed": True, "trading_state": "active"}
    assert risk.allows(OrderIntent(Side.BUY, OrderType.MARKET), ops.engine.now_ms, 0, False) is None


def test_reload_applies_risk_limits_and_refuses_the_rest(ops: Ops) -> None:
    api, risk = _client(ops), ops.control.risk
    answer = api.post(
        "/reload", json={"overrides": ["risk.max_open_positions=1", "strategy.levels=5"]}
    ).json()
    assert answer["diff"]["risk.max_open_positions"] == ["3", "1"]
    assert answer["applied"] == ["risk.max_open_positions"]
    assert answer["refused"] == {"strategy.levels": "needs a restart"}
    assert risk.limits.max_open_positions == 1 and risk.vector[3] == 1
    bad = api.post("/reload", json={"overrides": ["risk.max_loss_per_trade=50"]})
    assert bad.status_code == 422 and "max_loss_per_trade" in bad.json()["detail"]
    assert risk.limits.max_loss_per_trade == 5.0  # nothing applied
