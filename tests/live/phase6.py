"""Phase 6's definition of done, on the stand-in (not run by the suite): testnet sessions of
grid, DCA and SMA cross on BTC, ETH and SOL at a high market speed, each on an account
(stand-in) of its own, send at least 1,000 orders between them, and the venue answers none
with -1013 (a filter failure): every order is prepared to the real-style filters first.

    .venv/bin/python -m tests.live.phase6 --speed 600 --span 1d
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.fakes.binance import FakeBinance, SymbolSpec
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
    "dca": (*DCA_EVERY_BAR, "strategy.every_bars=2", "strategy.take_profit_pct=0.002"),
    "sma": ("strategy=sma_cross", "strategy.fast=3", "strategy.slow=8"),
}

MORE = ("symbols=[btcusdt,ethusdt,solusdt]", "sizing.amount=20", "live.work_every_s=0.3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--span", default="1d", help="each session's market time")
    args = parser.parse_args()
    env = keyed_env()
    with tempfile.TemporaryDirectory() as work, ExitStack() as stack:
        runs = {}
        for name, strategy in STRATEGIES.items():
            server = stack.enter_context(
                FakeBinance(
                    SYMBOLS, start_ms=T0, speed=args.speed, tick_s=0.02, balances={"USDT": "100000"}
                )
            )
            state = Path(work) / name
            cmd = [
                sys.executable,
                "-m",
                "thunes",
                *session_args(server, state, *MORE, duration=args.span, strategy=strategy),
            ]
            process = subprocess.Popen(
                cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            runs[name] = (server, process)
        total = filter_failures = 0
        for name, (server, process) in runs.items():
            out, _ = process.communicate()
            steps = re.search(r"after ([\d,]+) steps", out)
            stats = server.stats
            total += stats.orders
            filter_failures += stats.errors[-1013]
            print(
                f"{name}: exit {process.returncode}, {steps.group(1) if steps else '?'} steps,"
                f" {stats.orders} orders, {stats.trades} trades, errors {dict(stats.errors)}"
            )
            if process.returncode:
                print(out[-3000:])
    print(
        f"phase 6: {total} orders, {filter_failures} answered -1013:"
        f" {'OK' if total >= 1000 and not filter_failures else 'NOT MET'}"
    )
    sys.exit(0 if total >= 1000 and not filter_failures else 1)


if __name__ == "__main__":
    main()
