"""`thunes mode=paper` keeps its state: a second process on the same account refuses to
start, a restart resumes where the last one stopped, and a run SIGKILLed at random points
and restarted each time ends with the fills, orders, position and cash of one run that was
never interrupted."""

from __future__ import annotations

import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from thunes.risk import rules as risk_rules

REPO = Path(__file__).resolve().parents[2]
SPAN = ["paper.speed=0", "paper.start=2024-03-01", "paper.view=false"]  # 1m candles


def _env() -> dict[str, str]:
    """A `thunes` child's environment: this checkout, and the suite's numba cache."""
    return {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(REPO / ".cache/numba")}


def _command(state: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "thunes", "mode=paper", *SPAN, f"state.dir={state}", *args]


def _thunes(
    state: Path, *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    cmd, env = _command(state, *args), _env()
    if wait:
        return subprocess.run(
            cmd, cwd=state.parent, env=env, capture_output=True, text=True, timeout=120
        )
    return subprocess.Popen(
        cmd, cwd=state.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(state: Path, *args: str) -> str:
    done = _thunes(state, *args)
    assert isinstance(done, subprocess.CompletedProcess)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _account(state: Path) -> dict[str, Any]:
    """What the state file says the run did: fills, orders, positions, cash."""
    (path,) = state.glob("*.sqlite")
    db = sqlite3.connect(path)
    fills = db.execute(
        "SELECT symbol, trade_id, client_id, side, price, amount, fee FROM fills ORDER BY rowid"
    ).fetchall()
    orders = db.execute("SELECT client_id, status, side, type, price FROM orders").fetchall()
    positions = db.execute("SELECT symbol, amount, dust, cost FROM positions").fetchall()
    risk = db.execute("SELECT field, value FROM risk ORDER BY field").fetchall()
    (book,) = db.execute("SELECT value FROM resume WHERE key = 'book'").fetchone()
    (last,) = db.execute("SELECT value FROM resume WHERE key = 'last_ms'").fetchone()
    db.close()
    cash = float(np.load(io.BytesIO(book))["acct"][0])
    return {
        "fills": fills,
        "orders": sorted(orders),
        "positions": positions,
        "risk": risk,
        "cash": cash,
        "last": last,
    }


def test_a_restart_resumes_and_a_changed_strategy_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    whole = tmp_path / "whole"
    _finish(whole, "paper.duration=12h", "strategy=grid")
    _finish(state, "paper.duration=6h", "strategy=grid")
    out = _finish(state, "paper.duration=12h", "strategy=grid")
    assert "paper: resuming" in out
    assert _account(state) == _account(whole)  # two halves: the same as one run

    refused = _thunes(state, "paper.duration=12h", "strategy=grid", "strategy.levels=4")
    assert isinstance(refused, subprocess.CompletedProcess)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "holds a paper run of Grid(" in line and "state.account" in line


def test_a_second_process_on_the_same_account_refuses_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _thunes(state, "paper.speed=1", "paper.start=null", wait=False)
    assert isinstance(first, subprocess.Popen)
    try:
        lock = state / "sim-default-paper.lock"
        deadline = time.monotonic() + 90
        while not (lock.exists() and lock.read_text().strip()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = _thunes(state, "paper.duration=1h")
        assert isinstance(second, subprocess.CompletedProcess)
        assert second.returncode == 1
        (line,) = second.stderr.strip().splitlines()
        assert f"pid {first.pid}" in line and "one process per account" in line
        other = _thunes(state, "paper.duration=1h", "state.account=other")  # another account
        assert isinstance(other, subprocess.CompletedProcess)
        assert other.returncode == 0, other.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def _reached(state: Path) -> str | None:
    """The market time the run's last checkpoint reached (None: none yet), read while it runs."""
    try:
        db = sqlite3.connect(next(state.glob("*.sqlite")), timeout=5)
        row = db.execute("SELECT value FROM resume WHERE key = 'last_ms'").fetchone()
        db.close()
    except (StopIteration, sqlite3.OperationalError):  # not created yet
        return None
    return None if row is None else str(row[0])


def _past_checkpoint(state: Path) -> tuple[int, int]:
    """The orders and fills the state file holds that are newer than its last checkpoint: a
    kill landed between a step that recorded them and that step's checkpoint."""
    paths = list(state.glob("*.sqlite"))
    if not paths:
        return 0, 0
    db = sqlite3.connect(paths[0])
    try:
        row = db.execute("SELECT value FROM resume WHERE key = 'last_ms'").fetchone()
        last = -1 if row is None else int(row[0])
        (orders,) = db.execute(
            "SELECT count(*) FROM orders WHERE created_ms > ?", (last,)
        ).fetchone()
        (fills,) = db.execute("SELECT count(*) FROM fills WHERE time_ms > ?", (last,)).fetchone()
    finally:
        db.close()
    return int(orders), int(fills)


def crash_and_restart(
    tmp_path: Path,
    restarts: int,
    seed: int,
    delay: float,
    args: tuple[str, ...] = ("paper.duration=2d",),  # 2,880 1m steps of sma_cross: 42 fills
) -> tuple[int, dict[str, Any]]:
    """SIGKILL a paper run of `args` at `restarts` random points, each up to `delay` s after
    it made progress, restarting it each time, then let it finish; (SIGKILLs, the account it
    ended with, checked equal to the uninterrupted run's)."""
    whole = tmp_path / "whole"
    _finish(whole, *args)
    expected = _account(whole)
    state, rng, kills = tmp_path / "state", random.Random(seed), 0
    for _ in range(restarts):
        before = _reached(state)
        run = _thunes(state, *args, wait=False)
        assert isinstance(run, subprocess.Popen)
        while run.poll() is None and _reached(state) == before:
            time.sleep(0.02)  # killed only once it stepped: not during its start-up
        time.sleep(rng.uniform(0.0, delay))
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            kills += 1
        run.wait()
    _finish(state, *args)
    got = _account(state)
    assert got == expected  # same fills (trade and client ids), orders, position, cash
    return kills, got


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart_ends_as_one_uninterrupted_run(
    tmp_path: Path,
) -> None:
    kills, account = crash_and_restart(tmp_path, 6, seed=7, delay=0.15)
    assert kills >= 4  # each after at least one step, before the end
    assert len(account["fills"]) >= 20


# `thunes` whose process dies (as SIGKILL would: no clean-up) at the checkpoint of its
# `KILL_AT`-th step that placed an order: the order is in the state file, the step's
# checkpoint is not (and quiet steps before it may be unwritten too)
_DIES_BEFORE_A_CHECKPOINT = """
import os, sys
from thunes.live import persist
left, placed = [int(os.environ["KILL_AT"])], [False]
event, checkpoint = persist.PaperState.event, persist.PaperState._checkpoint
def noting(self, symbol, accepted):
    event(self, symbol, accepted)
    placed[0] = placed[0] or (accepted.status.value == "new" and bool(accepted.order_id))
def dying(self, close_ms):
    if placed[0]:
        left[0] -= 1
        if left[0] == 0:
            os._exit(137)
    placed[0] = False
    checkpoint(self, close_ms)
persist.PaperState.event, persist.PaperState._checkpoint = noting, dying
from thunes.cli import main
sys.argv[0] = "thunes"
main()
"""


def test_a_kill_between_a_recorded_step_and_its_checkpoint_neither_doubles_nor_loses_it(
    tmp_path: Path,
) -> None:
    args = ("mode=paper", *SPAN, "paper.duration=2d")  # 79 orders, 42 fills
    _finish(tmp_path / "whole", "paper.duration=2d")
    expected = _account(tmp_path / "whole")
    state = tmp_path / "state"
    env = _env()
    for at in (1, 5, 2, 9):
        cmd = [sys.executable, "-c", _DIES_BEFORE_A_CHECKPOINT, *args, f"state.dir={state}"]
        died = subprocess.run(
            cmd, cwd=tmp_path, env={**env, "KILL_AT": str(at)}, capture_output=True, timeout=120
        )
        assert died.returncode == 137, died.stderr
        newer, _ = _past_checkpoint(state)
        assert newer >= 1  # it died after recording an order its checkpoint does not hold
    _finish(state, "paper.duration=2d")
    assert _account(state) == expected  # the order placed again under its id, once


def test_a_restart_keeps_the_kill_switch_and_the_cooldown(tmp_path: Path) -> None:
    from tests.config.compose import composed
    from thunes.components import build
    from thunes.engine.kernel import Kernel
    from thunes.engine.lane import simulated_lanes
    from thunes.live.persist import PaperState
    from thunes.state.account import Account
    from thunes.state.store import StateStore

    account = Account.of("sim", "default", "paper", None)

    def restarted() -> tuple[PaperState, Kernel, Any]:
        with composed("mode=paper", "strategy=grid") as cfg:
            parts = build(cfg)
        lanes, risk = simulated_lanes(parts, [pd.DataFrame()], False, "p1")
        kernel = Kernel(lanes)
        state = PaperState(StateStore.open(tmp_path, account, durable=False), "grid")
        state.attach(lanes, risk, kernel, "p1", 0, lambda: 0)
        return state, kernel, risk

    state, kernel, risk = restarted()
    risk.halted_day = 19_800  # the kill-switch tripped today
    risk.vector[risk_rules.RiskRow.COOLDOWN_UNTIL] = 1_710_000_000_000.0
    kernel.bars = [42]
    state.stepped(1_709_999_000_000)
    state.store.close()

    state, kernel, risk = restarted()
    assert risk.halted_day == 19_800 and risk.cooldown_until_ms == 1_710_000_000_000
    assert kernel.bars == [42] and state.last_ms == 1_709_999_000_000
    state.store.close()


# the scalper on the simulator's book ticks, trading often: a 30 s cool-down after a loss,
# and a day's loss limit its 30 minutes cross, so the kill-switch halts it
SCALPER = (
    "strategy=scalper",
    "data=sim_ticks",
    "risk.cooldown_minutes=0.5",
    "risk.max_daily_loss=3",
    "risk.max_loss_per_trade=2",
    "paper.duration=30min",
)


def _risk_orders(state: Path) -> set[tuple[str, str, str]]:
    """(tag, type, status) of the risk engine's own orders in the state's orders table."""
    db = sqlite3.connect(next(state.glob("*.sqlite")))
    rows = db.execute("SELECT tag, type, status FROM orders WHERE tag LIKE 'risk:%'").fetchall()
    db.close()
    return set(rows)


def test_the_scalper_resumes_its_ticks_after_ctrl_c_or_sigkill(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    out = _finish(whole, *SCALPER)
    assert "state saved in" in out and "the next start resumes it" in out
    expected = _account(whole)
    assert len(expected["fills"]) >= 20
    # each entry's protective stop, withdrawn once the position was sold; the day's loss,
    # holdings marked at the bid, may trip the kill-switch while it holds: it sells them
    risk_orders = _risk_orders(whole)
    assert ("risk:max_loss", "stop", "canceled") in risk_orders
    assert risk_orders <= {
        ("risk:max_loss", "stop", "canceled"),
        ("risk:kill_switch", "market", "filled"),
    }

    # Ctrl-C once it has checkpointed a minute; the next start resumes
    state = tmp_path / "state"
    run = _thunes(state, *SCALPER, wait=False)
    assert isinstance(run, subprocess.Popen)
    while run.poll() is None and _reached(state) is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "the next start resumes it" in stdout
    assert "paper: resuming" in _finish(state, *SCALPER)
    assert _account(state) == expected

    (tmp_path / "killed").mkdir()
    kills, _ = crash_and_restart(tmp_path / "killed", 4, seed=3, delay=0.3, args=SCALPER)
    assert kills >= 2


def test_the_risk_engines_stop_is_in_the_orders_table_once_placed(tmp_path: Path) -> None:
    from tests.config.compose import composed
    from thunes.components import build
    from thunes.domain.tags import MAX_LOSS_TAG
    from thunes.domain.ticks import BookTick
    from thunes.engine.lane import simulated_ticks
    from thunes.live.persist import PaperState
    from thunes.state.account import Account
    from thunes.state.store import StateStore

    with composed("mode=paper", "strategy=scalper", "strategy.entry=taker") as cfg:
        parts = build(cfg)
    engine, risk = simulated_ticks(parts, "p1")
    store = StateStore.open(tmp_path, Account.of("sim", "default", "paper", None), False)
    state = PaperState(store, "scalper")
    state.attach_ticks(engine, risk, "p1", 0, lambda: 0)
    t = 1_709_251_200_000
    engine.on_tick(BookTick(t, 100.0, 9.0, 100.1, 1.0))  # leans to the bid: a market buy
    engine.on_tick(BookTick(t + 100, 100.0, 1.0, 100.1, 1.0))  # bought at this ask
    assert engine.broker.position > 0
    (stop,) = [o for o in store.orders() if o.tag == MAX_LOSS_TAG]
    assert (stop.type, stop.status, stop.side) == ("stop", "new", "sell")
    assert [o.order_id for o in engine.broker.working([MAX_LOSS_TAG])] == [stop.client_id]
    engine.on_tick(BookTick(t + 200, 97.0, 1.0, 97.1, 1.0))  # its own stop sells: not ours
    assert engine.broker.position == 0
    state.stepped(t + 200)
    assert store.order(stop.client_id).status == "canceled"  # withdrawn with the position
    store.close()
