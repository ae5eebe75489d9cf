"""SIGKILL a testnet session on the stand-in at random points, restart it each time, then
let it finish: no client id is ever sent twice, the venue's trades are the store's fills,
and the position the store books is what the exchange holds.

The suite runs a few kills (tests/live/test_venue_crash.py); the issue's 50:

    .venv/bin/python -m tests.live.crash_venue --kills 50
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from tests.live.venue import KEY_ENV, SECRET_ENV, session_args, standin, state_file

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    kills: int
    orders: int
    trades: int
    fills: int
    duplicate_client_ids: list[str]
    missing_fills: set[int]
    extra_fills: set[int]
    position: float  # the store's, amount and dust
    held: float  # the exchange's BTC, free and locked
    last_out: str

    @property
    def ok(self) -> bool:
        return (
            not self.duplicate_client_ids
            and not self.missing_fills
            and not self.extra_fills
            and abs(self.position - self.held) < 1e-9
        )


def _thunes(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NUMBA_CACHE_DIR": str(REPO / ".cache/numba"),
        KEY_ENV: API_KEY,
        SECRET_ENV: SECRET,
    }
    cmd = [sys.executable, "-m", "thunes", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def crash(kills: int, seed: int, work: Path, speed: float = 120.0, span: str = "90m") -> Outcome:
    """`kills` SIGKILLs, each at a random moment of a run (from 1.5 to 6 real seconds after
    it started, start-up included), then a run to the end of `span`."""
    rng = random.Random(seed)
    state = work / "state"
    with standin(speed) as server:
        args = session_args(server, state, "live.work_every_s=0.2", duration=span)
        for _ in range(kills):
            process = _thunes(args, work)
            time.sleep(rng.uniform(1.5, 6.0))
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        process = _thunes(args, work)
        out, _ = process.communicate(timeout=600)
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
    parser.add_argument("--span", default="6h", help="the session's market time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        outcome = crash(args.kills, args.seed, Path(work), span=args.span)
    print(
        f"{outcome.kills} kills: {outcome.orders} orders, {outcome.trades} trades on the venue,"
        f" {outcome.fills} fills stored; duplicate client ids {outcome.duplicate_client_ids},"
        f" missing fills {sorted(outcome.missing_fills)}, extra {sorted(outcome.extra_fills)};"
        f" position {outcome.position:.8f} stored, {outcome.held:.8f} on the exchange:"
        f" {'OK' if outcome.ok else 'FAILED'}"
    )
    sys.exit(0 if outcome.ok else 1)


if __name__ == "__main__":
    main()
