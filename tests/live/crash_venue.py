"""SIGKILL a testnet session on the stand-in at random points, restart it each time, then
let it finish: no client id is ever sent twice (nor booked twice), the venue's trades are
the store's fills, and the position the store books is what the exchange holds.

The suite runs a few kills (tests/live/test_venue_crash.py); the issue's 50:

    .venv/bin/python -m tests.live.crash_venue --kills 50
"""

from __future__ import annotations

import argparse
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.live.venue import T0, keyed_env, resent, session_args, standin, state_file


@dataclass
class Outcome:
    kills: int
    orders: int
    trades: int
    fills: int
    duplicate_client_ids: list[str]
    resent: list[str]  # client ids the venue received twice (venue.resent)
    missing_fills: set[int]
    extra_fills: set[int]
    position: float  # the store's, amount and dust
    held: float  # the exchange's BTC, free and locked
    last_out: str

    @property
    def ok(self) -> bool:
        return (
            not self.duplicate_client_ids
            and not self.resent
            and not self.missing_fills
            and not self.extra_fills
            and abs(self.position - self.held) < 1e-9
        )


def _thunes(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], threading.Event, list[str]]:
    """A session started; the event is set once it has reconciled and trades."""
    env = keyed_env()
    cmd = [sys.executable, "-m", "thunes", *args]
    process = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ready, lines = threading.Event(), []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "waiting for the next close" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    return process, ready, lines


def _sends(server: FakeBinance, orders: int, timeout_s: float) -> None:
    """Wait until the venue has accepted more than `orders` orders (at most `timeout_s`)."""
    end = time.monotonic() + timeout_s
    while server.stats.orders <= orders and time.monotonic() < end:
        time.sleep(0.05)


def _started_ms(state: Path) -> int:
    """When the session first started, in market time (T0 if no step was ever saved)."""
    db = sqlite3.connect(state_file(state))
    try:
        row = db.execute("SELECT value FROM resume WHERE key = 'started_ms'").fetchone()
    finally:
        db.close()
    return T0 if row is None else int(row[0])


def crash(kills: int, seed: int, work: Path, speed: float = 30.0) -> Outcome:
    """`kills` SIGKILLs, each at a random moment of a run (one in four during its start-up,
    the others up to 4 real seconds after it sent its first order), then a run that ends
    45 market minutes after it starts."""
    rng = random.Random(seed)
    state = work / "state"
    with standin(speed) as server:
        for n in range(kills):
            process, ready, _ = _thunes(session_args(server, state, duration="30d"), work)
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.5, 4.0))
            else:  # while it trades: once it has sent an order (a loaded machine starts slowly)
                ready.wait(300)
                _sends(server, server.stats.orders, 10.0)
                time.sleep(rng.uniform(0.0, 4.0))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            print(f"kill {n + 1}: {server.stats.orders} orders so far", flush=True)
        elapsed = (server.clock.now_ms() - _started_ms(state)) // 60_000 if kills else 0
        args = session_args(server, state, duration=f"{elapsed + 45}m")
        process, _, lines = _thunes(args, work)
        try:
            process.wait(timeout=1800)
        except subprocess.TimeoutExpired:  # stopped as Ctrl-C would: its state is saved
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        time.sleep(0.5)  # the reader's last lines
        out = "".join(lines)
        if process.returncode != 0:
            raise RuntimeError(f"the last run failed ({process.returncode}): {out[-2000:]}")
        return _outcome(server, state, kills, out)


def _outcome(server: FakeBinance, state: Path, kills: int, out: str) -> Outcome:
    db = sqlite3.connect(state_file(state))
    try:
        fills = {int(t) for (t,) in db.execute("SELECT trade_id FROM fills")}
        position = sum(a + d for a, d in db.execute("SELECT amount, dust FROM positions"))
    finally:
        db.close()
    trades = {t.trade_id for t in server.account.trades}
    btc = server.account.balances.get("BTC")
    held = Decimal(0) if btc is None else btc.free + btc.locked
    return Outcome(
        kills,
        server.stats.orders,
        len(trades),
        len(fills),
        server.stats.duplicate_client_ids,
        resent(server),
        trades - fills,
        fills - trades,
        float(position),
        float(held),
        out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        outcome = crash(args.kills, args.seed, Path(work))
    print(
        f"{outcome.kills} kills: {outcome.orders} orders, {outcome.trades} trades on the venue,"
        f" {outcome.fills} fills stored; duplicate client ids {outcome.duplicate_client_ids},"
        f" sent twice {outcome.resent},"
        f" missing fills {sorted(outcome.missing_fills)}, extra {sorted(outcome.extra_fills)};"
        f" position {outcome.position:.8f} stored, {outcome.held:.8f} on the exchange:"
        f" {'OK' if outcome.ok else 'FAILED'}"
    )
    sys.exit(0 if outcome.ok else 1)


if __name__ == "__main__":
    main()
