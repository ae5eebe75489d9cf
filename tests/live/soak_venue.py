"""A soak on the stand-in (not run by the suite): a testnet grid session for seven market
days at a high market speed, with a fault every few market minutes (a dropped message
stream, a silent stall, sockets cut, a 5xx, a 429 with Retry-After, an order accepted then
answered 5xx). A session that dies is counted as a crash and started again (it resumes).
At the end: crashes, steps against the candles of seven days, and the feed's counts.

    .venv/bin/python -m tests.live.soak_venue --speed 1800 --days 7
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.fakes.binance import FakeBinance
from tests.live.crash_venue import _outcome
from tests.live.phase6 import _closes
from tests.live.venue import keyed_env, resent, session_args, standin

GRID = ("strategy=grid", "strategy.lower=-0.02", "strategy.upper=0.02")


def fault(server: FakeBinance, rng: random.Random, hold_s: float) -> str:
    """One fault, held for `hold_s` real seconds where it lasts."""
    kind = rng.choice(["drop", "stall", "cut", "5xx", "429", "lost reply"])
    faults = server.faults
    if kind == "drop":
        faults.drop_every = 3
        time.sleep(hold_s)
        faults.drop_every = 0
    elif kind == "stall":
        faults.stalled = True
        time.sleep(hold_s)
        faults.stalled = False
    elif kind == "cut":
        server.close_sockets()
    elif kind == "5xx":
        faults.server_error_next("/api/v3/order")
    elif kind == "429":
        faults.rate_limit_next(1, "/api/v3/order", retry_after_s=1)
    else:
        faults.lose_order_replies(1)
    return kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=1800.0)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--fault-every-min", type=float, default=5.0, help="market minutes")
    args = parser.parse_args()
    env = keyed_env()
    rng = random.Random(5)
    done = threading.Event()
    counts: dict[str, int] = {}
    every_s = args.fault_every_min * 60 / args.speed

    with tempfile.TemporaryDirectory() as work, standin(args.speed) as server:

        def inject() -> None:
            while not done.wait(every_s * rng.uniform(0.5, 1.5)):
                kind = fault(server, rng, min(3.0, every_s))
                counts[kind] = counts.get(kind, 0) + 1

        threading.Thread(target=inject, daemon=True).start()
        cmd = [
            sys.executable,
            "-m",
            "thunes",
            *session_args(server, Path(work) / "state", duration=f"{args.days}d", strategy=GRID),
        ]
        crashes, steps, outs = 0, 0, []
        while True:
            process = subprocess.run(
                cmd, cwd=work, env=env, capture_output=True, text=True, check=False
            )
            outs.append(process.stdout + process.stderr)
            found = re.search(r"after ([\d,]+) steps", process.stdout)
            steps += int(found.group(1).replace(",", "")) if found else 0
            if process.returncode == 0:
                break
            crashes += 1
            print(f"crash {crashes} (exit {process.returncode}): {process.stderr[-600:]}")
        done.set()
        stats, twice = server.stats, resent(server)
        booked = _outcome(server, Path(work) / "state", crashes, outs[-1])
    said = " ".join(outs[-1].split())  # the console wraps long lines
    link = re.search(r"link .*? missing", said)
    print(f"soak: {args.days} market days at {args.speed:g}x, faults {counts}")
    print(
        f"crashes {crashes}, steps {steps} of {args.days * 1440} candles,"
        f" {stats.orders} orders, {stats.trades} trades, venue errors {dict(stats.errors)};"
        f" duplicate client ids {stats.duplicate_client_ids}, sent twice {twice}"
    )
    print(
        f"fills stored {booked.fills}, missing {sorted(booked.missing_fills)},"
        f" extra {sorted(booked.extra_fills)}; position {booked.position:.8f} stored,"
        f" {booked.held:.8f} on the exchange"
    )
    print(f"last session: {_closes(said)}; {link.group(0) if link else said[-2000:]}")


if __name__ == "__main__":
    main()
