"""The log pipeline: one JSON object a line in logs/thunes.jsonl, THUNES's and third-party
loggers alike, readable text on the terminal, and no secret in either."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from thunes.ops.logs import LOG_NAME, install


def test_every_logger_writes_json_lines_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINANCE_API_SECRET", "hunter2-binance-secret")
    logs = install(
        tmp_path, "run42", lambda: "2024-03-01 10:00", "info", "warning", secrets={"ping-uuid-1234"}
    )
    try:
        structlog.get_logger("thunes.ops").info(
            "order_new", symbol="BTC/USDT", client_order_id="p1-Grid-BTCUSDT-1"
        )
        logging.getLogger("ccxt.base.exchange").warning(
            "GET %s failed with key hunter2-binance-secret", "https://x/ping-uuid-1234"
        )
        logging.getLogger("apscheduler.scheduler").debug("below the file's level")
    finally:
        logs.close()
    lines = (tmp_path / "logs" / LOG_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records][:1] == ["order_new"] and len(records) == 2
    order, ccxt = records
    assert order["client_order_id"] == "p1-Grid-BTCUSDT-1" and order["symbol"] == "BTC/USDT"
    assert {r["run_id"] for r in records} == {"run42"}
    assert order["level"] == "info" and order["market_time"] == "2024-03-01 10:00"
    assert ccxt["logger"] == "ccxt.base.exchange" and ccxt["level"] == "warning"
    assert "hunter2" not in ccxt["event"] and "ping-uuid" not in ccxt["event"]
    terminal = capsys.readouterr().err
    assert "GET https://x/*** failed with key ***" in terminal and "order_new" not in terminal
    assert "{" not in terminal.splitlines()[-1]  # text, not JSON
