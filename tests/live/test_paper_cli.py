"""`thunes mode=paper` as a user runs it: it acts, stops by itself, says what is open, never
imports vectorbt, pandas or scipy.linalg (nor FastAPI or Telegram's bot when it serves
neither); `thunes mode=live` refuses to start unconfirmed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.run import run_thunes

REPO = Path(__file__).resolve().parents[2]
HOUR = ["data.timeframe=1h", "paper.view=false"]  # 1h: the simulator's path is short

_PROBE = """
import json, sys, time
sys.argv = ["thunes", *sys.argv[1:]]
from thunes import cli
started = time.perf_counter()
try:
    cli.main()
except SystemExit as stopped:
    code = stopped.code or 0
else:
    code = 0
print(json.dumps({"code": code, "vectorbt": "vectorbt" in sys.modules,
                  "unserved": [m for m in ("fastapi", "telegram", "apscheduler", "pandas",
                                           "scipy.linalg") if m in sys.modules],
                  "seconds": time.perf_counter() - started}))
"""


def test_paper_once_acts_on_the_last_close_without_importing_vectorbt(tmp_path: Path) -> None:
    """Nor the control API's FastAPI, nor python-telegram-bot: a once run serves neither;
    nor APScheduler: the simulator has no periodic job (markets refresh) to schedule; nor
    pandas (a backtest's frames) nor scipy.linalg (numba's BLAS probe, see jit_cache)."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, "mode=paper", "paper.once=true", "strategy=grid", *HOUR],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
        check=False,
    )
    *lines, last = out.stdout.strip().splitlines()
    probe = json.loads(last)
    assert probe["code"] == 0, out.stderr
    assert probe["vectorbt"] is False, "paper mode imported vectorbt"
    assert probe["unserved"] == [], f"paper.once imported {probe['unserved']}"
    text = " ".join(" ".join(lines).split())
    assert "acted on the last closed candle" in text
    # the grid lays its buy limits at once, on the first close it hears
    assert "0 open order(s)" not in text and "buy limit" in text


def test_paper_duration_stops_it_and_says_what_is_still_open(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mode=paper", "paper.speed=0", "paper.duration=3d", "paper.start=2024-03-01"]
    assert run_thunes([*args, "strategy=grid", *HOUR], monkeypatch, tmp_path) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "paper.duration reached at market 2024-03-04 00:00 UTC after 72 steps" in out
    assert "FILL buy" in out  # the grid traded in three market days
    assert "BTC/USDT: position" in out and "open order(s)" in out


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["paper.speed=-1"], "paper.speed=-1.0 is not allowed: must be >= 0"),
        (["paper.duration=soon"], "paper.duration='soon' is not allowed"),
        (["paper.duration=-2d"], "paper.duration='-2d' is not allowed: must be > 0"),
        (["paper.start=someday"], "paper.start='someday' is not allowed"),
    ],
)
def test_a_wrong_paper_setting_is_one_line_naming_the_key(
    overrides: list[str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_thunes(["mode=paper", *overrides], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and expected in err, err


@pytest.mark.parametrize(
    ("confirm", "said"),
    [([], "set live.confirm=true"), (["live.confirm=true"], "THUNES_LIVE_CONFIRM=sim:default")],
)
def test_live_refuses_to_start_unconfirmed(
    confirm: list[str],
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The live guard's refusals (tests/live/test_guard.py has the rest)."""
    assert run_thunes(["mode=live", *confirm], monkeypatch, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and said in err


def test_ctrl_c_stops_a_session_cleanly_and_says_what_is_open(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) mid-session: exit 0, and the summary of what is still open."""
    cmd = [sys.executable, "-m", "thunes", "mode=paper", "paper.speed=3600", *HOUR]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        said = ""
        while "Ctrl-C stops" not in " ".join(said.split()):  # printed as it starts
            line = proc.stdout.readline()
            assert line, f"it stopped before starting: {proc.stderr and proc.stderr.read()}"
            said += line
        time.sleep(2)  # two market hours: a close or two
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    text = " ".join(out.split())
    assert "paper: interrupted at market" in text and "BTC/USDT: position" in text


def test_the_scalper_paper_trades_the_simulators_book_ticks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["mode=paper", "strategy=scalper", "data=sim_ticks", "paper.speed=0"]
    window = ["paper.start=2024-03-01", "paper.duration=30m", "paper.view=false"]
    assert run_thunes([*args, *window], monkeypatch, tmp_path) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "paper.duration reached at market 2024-03-01 00:30 UTC after 18,001 steps" in out
