"""Phase 6's definition of done, on the stand-in (not run by the suite): testnet sessions of
grid, DCA and SMA cross on BTC, ETH and SOL at a high market speed, each on an account
(stand-in) of its own, send at least 1,000 orders between them, and the venue answers none
with -1013 (a filter failure): every order is prepared to the real-style filters first.

    .venv/bin/python -m tests.live.phase6 --speed 60 --span 6h [--logs /tmp/phase6]

Each session writes its lines to a file (kept with --logs), not to a pipe: a pipe nobody
reads blocks the session in write() once its 64 KiB are full (the DCA, ~2 lines an order,
did so after ~650 orders while the script waited on the grid, and stepped ~190 of 360
closes). Each stand-in runs in a process of its own (tests/fakes/binance/process.py), so
its CPU seconds are its own; sharing one process was not what held the DCA back (with
files, three stand-ins in this process also let every session step all 360 closes).

Each session's line says what happened to every close of its span: stepped, back-filled
(read late, after a reconnect), missing (the exchange had none) or behind the market clock
at the stop (never stepped: still to read or queued), and the CPU seconds the session and
its stand-in used.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from tests.fakes.binance import SymbolSpec
from tests.fakes.binance.process import StandinProcess, Tally
from tests.live.venue import DCA_EVERY_BAR, T0, keyed_env, session_args

SYMBOLS = (
    SymbolSpec("BTCUSDT", "BTC", "USDT"),
    SymbolSpec(
        "ETHUSDT", "ETH", "USDT", step_size="0.00010000", min_qty="0.00010000", start_price=1_500.0
    ),
    SymbolSpec(
        "SOLUSDT", "SOL", "USDT", step_size="0.01000000", min_qty="0.01000000", start_price=100.0
    ),
)
STRATEGIES = {  # tuned to trade often on 1m candles: many orders in a market day
    "grid": (
        "strategy=grid",
        "strategy.lower=-0.01",
        "strategy.upper=0.01",
        "strategy.quote_per_level=10",
        "strategy.recenter_after=30",
    ),
    "dca": (  # no cool-down: its 0.2% take-profit nets a loss after two 0.1% fees, and an
        # hour's global cool-down after each would stop it most of the day
        *DCA_EVERY_BAR,
        "strategy.every_bars=2",
        "strategy.take_profit_pct=0.002",
        "risk.cooldown_minutes=0",
    ),
    "sma": ("strategy=sma_cross", "strategy.fast=3", "strategy.slow=8"),
}

MORE = ("symbols=[btcusdt,ethusdt,solusdt]", "sizing.amount=20", "live.work_every_s=0.3")


def _closes(out: str) -> str:
    """What happened to every close of the session's span: stepped, missing on the exchange
    (a gap), back-filled (read late, after a reconnect), or never stepped: behind the market
    clock at the stop (still to read, or queued). The session's own closing lines say it."""
    said = " ".join(out.split())  # the console wraps long lines
    steps = re.search(r"after ([\d,]+) steps", said)
    feed = re.search(r"(\d+) back-filled, (\d+) missing", said)
    behind = re.search(r"(\d+) close\(s\) behind at the stop", said)
    return (
        f"{steps.group(1) if steps else '?'} steps,"
        f" {feed.group(1) if feed else '?'} back-filled, {feed.group(2) if feed else '?'} missing,"
        f" {behind.group(1) if behind else '?'} closes behind the market clock at the stop"
    )


def _per_symbol(tally: Tally) -> str:
    return ", ".join(f"{symbol} {n}" for symbol, n in sorted(tally.by_symbol.items()))


def _cpu_s(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--span", default="1d", help="each session's market time")
    parser.add_argument(
        "--strategies", default=",".join(STRATEGIES), help="which sessions run (comma-separated)"
    )
    parser.add_argument("--logs", help="keep each session's output here (default: dropped)")
    args = parser.parse_args()
    env = keyed_env()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as work, ExitStack() as stack:
        logs = Path(args.logs or work)
        logs.mkdir(parents=True, exist_ok=True)
        runs = {}
        for name in args.strategies.split(","):
            venue = stack.enter_context(
                StandinProcess(
                    SYMBOLS, start_ms=T0, speed=args.speed, tick_s=0.02, balances={"USDT": "100000"}
                )
            )
            state = Path(work) / name
            cmd = [
                sys.executable,
                "-m",
                "thunes",
                *session_args(venue, state, *MORE, duration=args.span, strategy=STRATEGIES[name]),
            ]
            out = logs / f"{name}.log"
            with out.open("w") as sink:  # a file, not a pipe: a full pipe would stall it
                process = subprocess.Popen(
                    cmd, cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT
                )
            runs[name] = (venue, process, out)
        total = filter_failures = 0
        for name, (venue, process, out) in runs.items():
            _, status, usage = os.wait4(process.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            tally = venue.stop()
            said = out.read_text()
            total += tally.orders
            filter_failures += tally.errors[-1013]
            print(f"{name}: exit {code}, {_closes(said)}")
            print(
                f"  {tally.orders} orders ({_per_symbol(tally)}), {tally.trades} trades,"
                f" venue errors {dict(tally.errors)}; CPU: session {_cpu_s(usage):.0f} s,"
                f" stand-in {tally.cpu_s:.0f} s"
            )
            if code:
                print(said[-3000:])
    print(f"load average at the end {os.getloadavg()[0]:.1f}, {time.monotonic() - began:.0f} s")
    print(
        f"phase 6: {total} orders, {filter_failures} answered -1013:"
        f" {'OK' if total >= 1000 and not filter_failures else 'NOT MET'}"
    )
    sys.exit(0 if total >= 1000 and not filter_failures else 1)


if __name__ == "__main__":
    main()
