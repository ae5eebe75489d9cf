"""One stand-in account in a process of its own (`python -m tests.fakes.binance`), and the
handle a script holds on it.

Several FakeBinance servers in one Python process share its one GIL: each ticker thread
streams the book every `tick_s`, and at a high speed a session's REST calls wait behind the
others' ticks. A process each gives every account its own interpreter. The tests keep the
in-process FakeBinance (they reach into its state); a script that only reads the totals at
the end (tests/live/phase6.py) runs them apart.

    with StandinProcess(symbols, start_ms=T0, speed=60, balances={"USDT": "1e5"}) as venue:
        ...  # venue.url, venue.speed: point a session at it
    venue.tally  # orders by symbol, trades, error codes, the stand-in's CPU seconds

The child prints `url <base url>` once it serves; it stops when its stdin closes (the
parent's `stop()`, or the parent's death: no stand-in outlives its script) or on SIGTERM,
and then prints one `tally <json>` line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from tests.fakes.binance.market import DEFAULT_SYMBOLS, SymbolSpec
from tests.fakes.binance.server import DEFAULT_BALANCES, FakeBinance


@dataclass(frozen=True)
class Tally:
    """What a stand-in saw, read at its stop."""

    orders: int
    trades: int
    by_symbol: dict[str, int]
    errors: Counter[int] = field(default_factory=Counter)
    duplicate_client_ids: int = 0
    cpu_s: float = 0.0
    """The stand-in process's own CPU seconds (user + system), start-up included."""


def _tally(server: FakeBinance) -> dict[str, Any]:
    stats, times = server.stats, os.times()
    return {
        "orders": stats.orders,
        "trades": stats.trades,
        "by_symbol": dict(Counter(o.symbol for o in server.account.orders.values())),
        "errors": {str(code): n for code, n in stats.errors.items()},
        "duplicate_client_ids": len(stats.duplicate_client_ids),
        "cpu_s": round(times.user + times.system, 2),
    }


def _read_tally(line: str) -> Tally:
    raw = json.loads(line)
    return Tally(
        raw["orders"],
        raw["trades"],
        raw["by_symbol"],
        Counter({int(code): n for code, n in raw["errors"].items()}),
        raw["duplicate_client_ids"],
        raw["cpu_s"],
    )


class StandinProcess:
    """A FakeBinance served by a child process: its url and speed, and its tally once stopped."""

    def __init__(
        self,
        symbols: Sequence[SymbolSpec] = DEFAULT_SYMBOLS,
        *,
        start_ms: int,
        speed: float = 1.0,
        seed: int = 0,
        balances: Mapping[str, float | str] = DEFAULT_BALANCES,
        tick_s: float = 0.05,
    ) -> None:
        self.speed = speed
        self._argv = [
            sys.executable,
            "-m",
            "tests.fakes.binance",
            "--symbols",
            json.dumps([dataclasses.asdict(s) for s in symbols]),
            f"--start-ms={start_ms}",
            f"--speed={speed:g}",
            f"--seed={seed}",
            f"--tick-s={tick_s:g}",
            "--balances",
            json.dumps({asset: str(amount) for asset, amount in balances.items()}),
        ]
        self._child: subprocess.Popen[str] | None = None
        self._url = ""
        self.tally: Tally | None = None

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("StandinProcess is not started")
        return self._url

    def start(self) -> StandinProcess:
        child = self._child = subprocess.Popen(
            self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.startswith("url "):
            child.kill()
            raise RuntimeError(f"the stand-in did not start (exit {child.wait()}): {line!r}")
        self._url = line.split()[1]
        return self

    def stop(self) -> Tally:
        """Stop the stand-in and read its tally (once; later calls return it again)."""
        child = self._child
        if self.tally is None and child is not None:
            out, _ = child.communicate(timeout=30)  # closes its stdin: the stop
            lines = [line for line in out.splitlines() if line.startswith("tally ")]
            if not lines:
                raise RuntimeError(f"the stand-in stopped without its tally (exit {child.wait()})")
            self.tally = _read_tally(lines[-1].removeprefix("tally "))
        assert self.tally is not None
        return self.tally

    def __enter__(self) -> StandinProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._child is not None and self.tally is None:
            if kind is None:
                self.stop()
            else:
                self._child.kill()
                self._child.wait()


def _spec(fields: dict[str, Any]) -> SymbolSpec:
    if "order_types" in fields:  # a JSON list
        fields = {**fields, "order_types": tuple(fields["order_types"])}
    return SymbolSpec(**fields)


def serve(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> None:
    """The child's side: serve until stdin closes or SIGTERM, then print the tally."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.binance", description=__doc__)
    parser.add_argument("--symbols", help="JSON list of SymbolSpec fields (default: BTC, ETH)")
    parser.add_argument("--start-ms", type=int, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tick-s", type=float, default=0.05)
    parser.add_argument("--balances", help='JSON {"asset": "amount"}', default=None)
    args = parser.parse_args(argv)
    symbols = tuple(map(_spec, json.loads(args.symbols))) if args.symbols else DEFAULT_SYMBOLS
    balances = json.loads(args.balances) if args.balances else DEFAULT_BALANCES
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def until_stdin_closes() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    with FakeBinance(
        symbols,
        start_ms=args.start_ms,
        speed=args.speed,
        seed=args.seed,
        balances=balances,
        tick_s=args.tick_s,
    ) as server:
        print(f"url {server.url}", file=out, flush=True)
        while not done.wait(1.0):
            continue
    print(f"tally {json.dumps(_tally(server))}", file=out, flush=True)
