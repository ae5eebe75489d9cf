"""SIGKILL a simulator paper session (`thunes mode=paper paper.speed=0`) at random points,
restart it each time, then let it finish; its state file must end as one uninterrupted run
of the same command: orders, fills row for row (trade and client ids), positions, cash.

A quiet step is checkpointed at most once a second of host time (thunes/live/persist.py),
a step that recorded something at once: so some kills land the moment an order or fill is
printed (it was recorded: its checkpoint may not be written yet), some just after the
checkpoint moved, some at any moment of a start. After each kill the state file tells
whether the kill left an order or fill recorded past the last checkpoint (the restart must
place it again under its id, and not twice). The suite runs a few kills
(tests/live/test_paper_resume.py); the issue's 50:

    .venv/bin/python -m tests.live.crash_paper --kills 50
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.live.test_paper_resume import _account, _command, _env, _past_checkpoint, _reached

STRATEGY = ("paper.duration=120d",)  # sma_cross on 1m candles: ~4,900 orders, ~2,500 fills


@dataclass
class Tally:
    kills: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # how each kill was timed
    past_checkpoint: int = 0  # kills that left a record newer than the last checkpoint
    restarts: int = 0


class Run:
    """One `thunes` process whose output is read as it comes (an unread pipe would stall
    it): `records` counts its order and fill lines."""

    def __init__(self, state: Path, args: tuple[str, ...]) -> None:
        cmd, env = _command(state, *args), {**_env(), "PYTHONUNBUFFERED": "1"}
        state.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            cmd, cwd=state.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.records, self.lines = 0, list[str]()
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if " order " in line or " FILL " in line:
                with self.changed:
                    self.records += 1
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def after_records(self, state: Path, n: int, timeout_s: float = 120.0) -> None:
        """Return as soon as `n` more order or fill lines were printed, or the state file
        holds more orders and fills (the tick engine prints none), or it ended."""
        end, stored = time.monotonic() + timeout_s, _records(state)
        with self.changed:
            target = self.records + n
            while self.records < target and self.process.poll() is None:
                if _records(state) > stored or time.monotonic() > end:
                    return
                self.changed.wait(0.005)

    def kill(self) -> bool:
        """SIGKILL (False: it had ended already)."""
        alive = self.process.poll() is None
        if alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=60)
        return alive


def _records(state: Path) -> int:
    """Orders and fills the state file holds (0: none yet, or busy)."""
    paths = list(state.glob("*.sqlite"))
    if not paths:
        return 0
    try:
        db = sqlite3.connect(paths[0], timeout=0.1)
        try:
            (n,) = db.execute(
                "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM fills)"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError:  # being created, or locked
        return 0
    return int(n)


def crash(
    work: Path, kills: int, seed: int, args: tuple[str, ...] = STRATEGY
) -> tuple[Tally, dict[str, Any], dict[str, Any]]:
    """(the tally, the account of the run killed `kills` times, the uninterrupted run's)."""
    whole = Run(work / "whole" / "state", args)
    if whole.process.wait(timeout=1800) != 0:
        raise RuntimeError("".join(whole.lines[-40:]))
    expected = _account(work / "whole" / "state")
    state, rng, tally = work / "crashed" / "state", random.Random(seed), Tally()
    while tally.kills < kills:
        before = _reached(state)
        run = Run(state, args)
        tally.restarts += 1
        draw = rng.random()
        if draw < 0.2:  # any moment: its start-up, its first steps
            kind = "at a random moment"
            time.sleep(rng.uniform(0.2, 3.0))
        elif draw < 0.6:  # as an order or fill is printed: recorded, maybe not checkpointed
            kind = "on an order or fill"
            run.after_records(state, rng.randint(1, 3))
        else:  # just after the checkpoint moved
            kind = "after a checkpoint"
            while run.process.poll() is None and _reached(state) == before:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.2))
        if not run.kill():
            raise RuntimeError(f"the run ended before kill {tally.kills + 1}: use a longer span")
        tally.kills += 1
        tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
        tally.past_checkpoint += sum(_past_checkpoint(state)) > 0
        print(f"kill {tally.kills} ({kind}): checkpoint at {_reached(state)}", flush=True)
    last = Run(state, args)
    if last.process.wait(timeout=1800) != 0:
        raise RuntimeError("".join(last.lines[-40:]))
    return tally, _account(state), expected


def differences(got: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between two accounts, key by key (fills: the first row that differs)."""
    out = []
    for key, want in expected.items():
        have = got[key]
        if have == want:
            continue
        if key in ("fills", "orders"):
            first = next(
                (k for k, (a, b) in enumerate(zip(have, want, strict=False)) if a != b),
                min(len(have), len(want)),
            )
            out.append(f"{key}: {len(have)} against {len(want)}, first difference at row {first}")
        else:
            out.append(f"{key}: {have} against {want}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", default="120d", help="paper.duration (market time)")
    parser.add_argument("overrides", nargs="*", help="more of the command, e.g. strategy=grid")
    options = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        tally, got, expected = crash(
            Path(work),
            options.kills,
            options.seed,
            (f"paper.duration={options.duration}", *options.overrides),
        )
    diff = differences(got, expected)
    fills = got["fills"]
    print(
        f"{tally.kills} kills ({', '.join(f'{n} {k}' for k, n in tally.kinds.items())}),"
        f" {tally.past_checkpoint} of them with an order or fill recorded past the last"
        f" checkpoint; {tally.restarts + 1} starts"
    )
    print(
        f"orders {len(got['orders'])} (uninterrupted {len(expected['orders'])}),"
        f" fills {len(fills)} ({len(expected['fills'])}), distinct trade ids"
        f" {len({(f[0], f[1]) for f in fills})}, client ids"
        f" {len({o[0] for o in got['orders']})}"
    )
    print(f"positions {got['positions']} ({expected['positions']})")
    print(f"cash {got['cash']:.6f} ({expected['cash']:.6f}); last close {got['last']}")
    print(f"wall {time.monotonic() - started:.0f} s: {'OK' if not diff else 'FAILED'}")
    for line in diff:
        print("  " + line)
    sys.exit(0 if not diff else 1)


if __name__ == "__main__":
    main()
