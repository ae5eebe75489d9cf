"""SIGKILL a writer at 50 random points: after each, the store holds every write that was
acknowledged (committed), no fill twice, a position equal to its fills, and the next start
never reuses a client id."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.state.crash_writer import ACCOUNT, PARTS
from thunes.state.lock import AccountLock
from thunes.state.records import OPEN, SENDING, TERMINAL
from thunes.state.store import StateStore

KILLS = 50
ROOT = Path(__file__).resolve().parents[2]


def _killed_run(directory: Path, after: float) -> list[str]:
    """Start a writer, SIGKILL it `after` seconds into its work; what it acknowledged."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.state.crash_writer", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()))
    reader.start()  # read as it writes: a full pipe would stop it at a print
    time.sleep(after)
    process.kill()
    process.wait()
    reader.join()
    return [line.strip() for line in lines]


@pytest.mark.slow
def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    sent: Counter[str] = Counter()
    answered: set[str] = set()
    recorded: Counter[int] = Counter()
    refused = 0
    for _ in range(KILLS):
        for line in _killed_run(tmp_path, rng.uniform(0.0, 0.25)):
            what, name, *rest = line.split()
            if what == "sent":
                sent[name] += 1
            elif what == "answered":
                answered.add(name)
            elif rest == ["1"]:
                recorded[int(name)] += 1
            else:
                refused += 1
        with AccountLock(tmp_path, ACCOUNT):  # the killed writer left no stale lock
            store = StateStore.open(tmp_path, ACCOUNT)
            try:
                _check(store, sent, answered, recorded)
            finally:
                store.close()
    assert max(sent.values()) == 1, "a client id was used twice"
    assert max(recorded.values()) == 1, "a fill was recorded twice"
    assert len(sent) >= 10 and refused > 0  # it did work, and fills did come again
    print(f"{KILLS} kills: {len(sent)} orders, {len(recorded)} fills, {refused} replays refused")


def _check(
    store: StateStore, sent: Counter[str], answered: set[str], recorded: Counter[int]
) -> None:
    """What was acknowledged is there, and the fills, orders and position agree."""
    orders = {o.client_id: o for o in store.orders(OPEN | TERMINAL | {SENDING})}
    assert set(sent) <= set(orders)
    assert all(orders[c].status != SENDING for c in answered)
    fills = {fill.trade_id: fill.amount for fill in store.fills()}
    assert set(recorded) <= set(fills)
    position = store.positions().get("BTC/USDT")
    total = sum(fills.values())
    assert (position.amount if position else 0.0) == pytest.approx(total, abs=1e-9)
    done = Counter(trade_id // 10 for trade_id in fills)
    for client_id, order in orders.items():
        n = int(client_id.rpartition("-")[2])
        assert (order.status == "filled") == (done[n] == len(PARTS)), client_id
