"""What the venue-session tests share: a stand-in account, the command line that points a
testnet session at it, and what the state file holds."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pytest

from tests.fakes.binance import API_KEY, SECRET, FakeBinance
from tests.fakes.binance.orders import Order

REPO = Path(__file__).resolve().parents[2]
SPEED = 20.0  # market seconds per real second: a 1m candle every 3 s (a loaded machine copes)
T0 = 1_704_067_200_000 + 30_000
KEY_ENV = "BINANCE_TESTNET_API_KEY"
SECRET_ENV = "BINANCE_TESTNET_API_SECRET"


def keyed_env() -> dict[str, str]:
    """The environment of a `thunes` process on the stand-in: this checkout, its numba
    cache, the key pair, and its lines as they come (unbuffered)."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NUMBA_CACHE_DIR": str(REPO / ".cache/numba"),
        "PYTHONUNBUFFERED": "1",
        KEY_ENV: API_KEY,
        SECRET_ENV: SECRET,
    }


def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET)


def standin(speed: float = SPEED) -> FakeBinance:
    return FakeBinance(start_ms=T0, speed=speed, tick_s=0.02, balances={"USDT": "1000"})


DCA_EVERY_BAR = (
    "strategy=dca",
    "strategy.every_bars=1",
    "strategy.drop_pct=null",
    "strategy.volume_multiplier=1",
    "strategy.max_safety_orders=60",
)
"""A DCA that buys 10 USDT on every close, for an hour: orders fill within minutes, and a
run resumed still has buys to place (the shipped 3 safety buys are spent in 4 closes, and
the take-profit 1.5% up seldom fills in a test's minutes)."""


class Venue(Protocol):
    """A stand-in a session points at: a FakeBinance in this process, or a StandinProcess."""

    @property
    def url(self) -> str: ...

    @property
    def speed(self) -> float: ...


def session_args(
    server: Venue,
    state: Path,
    *extra: str,
    duration: str = "6m",
    strategy: tuple[str, ...] = DCA_EVERY_BAR,
) -> list[str]:
    """`thunes mode=paper exchange=binance_testnet` on the stand-in, `duration` of market
    time."""
    return [
        "mode=paper",
        "exchange=binance_testnet",
        f"exchange.base_url={server.url}",
        "exchange.max_retries=0",
        f"paper.speed={server.speed:g}",
        f"paper.duration={duration}",
        "paper.view=false",
        *strategy,
        "tracking=none",
        "notifier=none",
        "live.work_every_s=0.5",
        f"state.dir={state}",
        *extra,
    ]


def state_file(state: Path) -> Path:
    return state / "binance_testnet-default-paper.sqlite"


def stored(state: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """The client ids of the orders the state file holds, and its fills (order, trade)."""
    db = sqlite3.connect(state_file(state))
    try:
        orders = [c for (c,) in db.execute("SELECT client_id FROM orders")]
        fills = [(o, int(t)) for o, t in db.execute("SELECT client_id, trade_id FROM fills")]
    finally:
        db.close()
    return orders, fills


@contextmanager
def held_until_warm(server: FakeBinance) -> Iterator[None]:
    """The stand-in's market held still while a session starts (imports, checks and the
    reconciliation take market minutes at 60x on a loaded machine), and let go once the
    session reads its warm-up candles: its `paper.duration` is then all trading."""
    now, speed = server.clock.now_ms(), server.clock.speed
    seen = len(server.requests_to("/api/v3/klines"))
    server.clock.pin(now)

    def release(done: threading.Event) -> None:
        while not done.wait(0.01) and len(server.requests_to("/api/v3/klines")) <= seen:
            continue
        server.clock.run(now, speed)

    with _beside(release):
        yield


@contextmanager
def in_lockstep(server: FakeBinance, state: Path, step_ms: int, lead: float) -> Iterator[None]:
    """The stand-in's market waits for the session (`MarketClock.lockstep`): no more than
    `lead` candles of `step_ms` past the last close the session stepped, as its state file
    says (written at each step, before the step's orders leave; read here as a restart
    would, so a session that stops and resumes is followed too)."""
    server.clock.lockstep(step_ms, lead)

    def follow(done: threading.Event) -> None:
        db: sqlite3.Connection | None = None
        while not done.wait(0.01):
            try:
                db = db or sqlite3.connect(f"file:{state_file(state)}?mode=ro", uri=True)
                row = db.execute("SELECT value FROM resume WHERE key = 'last_ms'").fetchone()
            except sqlite3.Error:  # not created yet, or not yet a state file
                db = None
                continue
            if row is not None:
                server.clock.stepped(int(row[0]))
        if db is not None:
            db.close()

    with _beside(follow):
        yield


@contextmanager
def _beside(work: Callable[[threading.Event], None]) -> Iterator[None]:
    """`work` on a thread of its own while the block runs; told to stop (its event set) and
    joined when the block ends."""
    done = threading.Event()
    thread = threading.Thread(target=work, args=(done,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def resent(server: FakeBinance) -> list[str]:
    """Client order ids the venue received more than once other than after a refusal before
    matching (a 400 such as -1021, a 429): a blind retry after a 5xx or a lost answer, a
    restart sending again what it had sent. Binance would book the second one too once
    the first is closed."""
    sent: Counter[str] = Counter(
        r.params.get("newClientOrderId", "")
        for r in server.requests_to("/api/v3/order")
        if r.method == "POST" and r.status not in (400, 429)
    )
    return sorted(cid for cid, n in sent.items() if n > 1)


def open_stops(server: FakeBinance, symbol: str = "BTCUSDT") -> list[Order]:
    """The stop orders resting on the venue for `symbol`."""
    return [
        o for o in server.account.orders.values() if o.symbol == symbol and o.is_stop and o.is_open
    ]


def held(server: FakeBinance, asset: str = "BTC") -> float:
    """What the account holds of `asset`, free and locked (under its sells)."""
    balance = server.account.balances.get(asset)
    return 0.0 if balance is None else float(balance.free + balance.locked)
