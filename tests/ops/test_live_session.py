"""A real `thunes mode=paper` run on the embedded simulator, watched and steered as an
operator would: its Prometheus endpoint scraped twice, its control API (real uvicorn, same
process and loop as the engine) read and commanded, its status page rendered by a real
headless Chromium, its JSON log file read line by line."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
RUN = [
    "mode=paper",
    "paper.speed=3600",  # a 1h candle a second
    "data.timeframe=1h",
    "paper.view=false",
    "paper.start=2024-03-01",
    "strategy=grid",  # lays its buy limits at the first close,
    # 50% and 45% of it: they rest whatever the host's pace (the seeded market first falls
    # to half its first close 451 market hours in, 7 minutes of the run), so the test reads
    # the same orders at every step however long a loaded machine takes between its reads
    "strategy.lower=-0.55",
    "strategy.upper=-0.5",
    "strategy.levels=2",
    "strategy.recenter_after=null",
    "tracking=none",
    "ops.metrics_port=0",
    "ops.api_port=0",
]


def _get(url: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _metrics(url: str) -> dict[str, float]:
    _, text = _get(url)
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("thunes_")
    }


def _wait_for(pattern: str, path: Path, timeout_s: float = 240) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text())
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in {path.read_text()}")


def _until(check: Any, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.fixture
def session(tmp_path: Path) -> Any:
    """The paper run, its metrics and API base URLs; stopped by SIGTERM at the end (as
    systemd or docker stop it; a shell's background job ignores SIGINT)."""
    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr, (tmp_path / "stdout.txt").open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "thunes", *RUN],
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            metrics = _wait_for(r"metrics: (http://\S+/metrics)", err)
            api = _wait_for(r"status page: (http://\S+/)", err)
            yield metrics, api, tmp_path
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=240)
    assert process.returncode == 0, err.read_text()


def test_a_paper_run_is_scraped_read_commanded_and_logged(session: Any) -> None:
    metrics_url, api, folder = session
    resting = 'thunes_orders_open{symbol="BTC/USDT"}'
    new = 'thunes_orders_total{status="new",symbol="BTC/USDT"}'
    first = _until(lambda: (m := _metrics(metrics_url)).get(resting) and m.get(new) and m)
    assert first['thunes_feed_up{stream="market"}'] == 1.0
    assert first["thunes_event_to_order_seconds_count"] > 0
    assert first["thunes_trading_state"] == 0.0 and first["thunes_kill_switch_tripped"] == 0.0
    assert "thunes_exchange_latency_seconds" not in first  # the simulator: no venue to time
    time.sleep(2)
    assert (
        _metrics(metrics_url)["thunes_last_event_age_seconds"]
        != first["thunes_last_event_age_seconds"]
    )

    code, body = _get(api + "health")
    health = json.loads(body)
    assert code == 200 and health["ok"] and health["feed"]["up"]
    status = json.loads(_get(api + "status")[1])
    assert status["symbols"] == ["BTC/USDT"] and status["steps"] > 0
    assert status["orders"] and all(o["side"] == "buy" for o in status["orders"])
    assert status["equity_curve"] and status["balance"]["equity"] is not None
    assert json.loads(_get(api + "profit")[1])[0]["day"] == "2024-03-01"

    assert _get(api + "flatten", {})[0] == 400  # no confirmation: nothing done
    assert _get(api + "status")[0] == 200 and _metrics(metrics_url)[resting] > 0
    code, body = _get(api + "pause", {})
    assert code == 200 and json.loads(body)["trading_state"] == "reducing"
    assert _metrics(metrics_url)["thunes_trading_state"] == 1.0
    assert json.loads(_get(api + "resume", {})[1])["trading_state"] == "active"
    code, body = _get(api + "flatten", {"confirm": True})
    assert code == 200 and json.loads(body)["trading_state"] == "reducing"  # entries paused
    after = _metrics(metrics_url)
    assert after[resting] == 0 and after["thunes_trading_state"] == 1.0  # buys withdrawn
    canceled = 'thunes_orders_total{status="canceled",symbol="BTC/USDT"}'
    _until(lambda: _metrics(metrics_url).get(canceled, 0) > 0)  # told at the next step

    logs = json.loads(_get(api + "logs?limit=500")[1])
    sent = [r for r in logs if r["event"] == "order_new"]
    assert sent and sent[0]["client_order_id"] and sent[0]["symbol"] == "BTC/USDT"
    assert any(r["event"] == "command" and r["command"] == "pause" for r in logs)

    if CHROMIUM:
        _render_status_page(api, folder)

    (path,) = (folder / "experiments" / "paper").glob("*/*/logs/thunes.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert {"time", "level", "event", "run_id", "market_time"} <= records[0].keys()
    assert {r["run_id"] for r in records} == {records[0]["run_id"]}
    assert any(r.get("logger", "").startswith("uvicorn") for r in records)  # third-party too


def _render_status_page(api: str, folder: Path) -> None:
    """The page in a real headless Chromium: it fetched /status and filled itself in."""
    flags = [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={folder / 'chromium'}",
        "--virtual-time-budget=5000",
        "--window-size=1000,900",
    ]
    dom = subprocess.run(
        [*flags, "--dump-dom", api], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "BTC/USDT 1h" in dom and "polyline" in dom  # filled in from /status
    assert ">reducing<" in dom and "connecting..." not in dom  # the risk state, after flatten
    shot = folder / "status.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", api], capture_output=True, timeout=120, check=True
    )
    assert shot.stat().st_size > 10_000
    out = os.environ.get("THUNES_TEST_OUTPUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(out) / "status.png")
