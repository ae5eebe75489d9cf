"""`thunes mode=paper` refuses a control API on a public address without a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.run import run_thunes


def test_a_public_api_without_a_token_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("THUNES_API_TOKEN", raising=False)
    args = ["mode=paper", "paper.view=false", "data.timeframe=1h", "tracking=none"]
    assert run_thunes([*args, "ops.api_host=0.0.0.0"], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "thunes: config error: ops.api_host=0.0.0.0 exposes the control API: set a token in "
        "THUNES_API_TOKEN, or keep ops.api_host=127.0.0.1"
    )


def test_a_wrong_ops_value_names_its_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_thunes(["mode=paper", "ops.api_port=70000"], monkeypatch, tmp_path) == 2
    assert "ops.api_port=70000 is not allowed: a TCP port, 0-65535" in capsys.readouterr().err
