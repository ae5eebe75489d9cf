"""The state store: every call a committed transaction, fills once, ids never reused, and
a file that is not this account's refused without a write."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path

import pytest

from tests.state.conftest import ACCOUNT, BUY, IDS, make_fill
from thunes.domain.orders import OrderStatus, Side
from thunes.errors import ConfigError
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.state.account import Account
from thunes.state.records import SENDING, UNKNOWN, Booking, Position
from thunes.state.store import StateStore

LIMITS = RiskLimits(
    max_loss_per_trade=math.inf,
    max_daily_loss=50.0,
    max_open_positions=1,
    cooldown_minutes=0,
    kill_switch=False,
)


def test_an_order_is_named_and_recorded_before_it_is_sent(store: StateStore) -> None:
    first, second = store.order_sending(IDS, BUY, 10), store.order_sending(IDS, BUY, 11)
    assert (first, second) == (IDS.of(1), IDS.of(2))
    order = store.order(first)
    assert order is not None and (order.status, order.price, order.tag) == (
        SENDING,
        100.0,
        "grid:1",
    )


def test_a_restart_never_reuses_a_client_id(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path, ACCOUNT)
    used = {store.order_sending(IDS, BUY, 1) for _ in range(3)}
    store.close()
    store = StateStore.open(tmp_path, ACCOUNT)
    assert store.order_sending(IDS, BUY, 2) not in used
    other = store.order_sending(IDS.__class__("a1b2c3", "dca", "BTC/USDT"), BUY, 3)
    assert other.endswith("-1")  # a sequence per strategy and symbol


def test_the_answer_and_later_reports_move_an_order_forward_only(store: StateStore) -> None:
    cid = store.order_sending(IDS, BUY, 1)
    assert store.order_status(cid, UNKNOWN, 2, reason="timeout")
    assert store.order_status(cid, OrderStatus.NEW, 3, exchange_id="77")
    assert store.order_status(cid, OrderStatus.PARTIALLY_FILLED, 4, filled=0.2)
    assert not store.order_status(cid, OrderStatus.NEW, 5)  # a late websocket event
    assert store.order_status(cid, OrderStatus.CANCELED, 6, filled=0.2)
    assert not store.order_status(cid, OrderStatus.FILLED, 7)  # final
    order = store.order(cid)
    assert order is not None
    assert (order.status, order.exchange_id, order.filled, order.updated_ms) == (
        "canceled",
        "77",
        0.2,
        6,
    )
    assert store.orders() == []
    assert not store.order_status("nobody", OrderStatus.NEW, 8)
    with pytest.raises(ValueError, match="status 'open'"):
        store.order_status(cid, "open", 9)


def test_a_fill_before_the_answer_keeps_the_answers_exchange_id(store: StateStore) -> None:
    cid = store.order_sending(IDS, BUY, 1)
    assert store.fill(make_fill(cid, 3, remaining=0.0))  # the stream beat the REST answer
    assert not store.order_status(cid, OrderStatus.NEW, 2, exchange_id="88")
    order = store.order(cid)
    assert order is not None and (order.status, order.exchange_id) == ("filled", "88")


def test_a_fill_is_recorded_once_with_its_booking(store: StateStore) -> None:
    cid = store.order_sending(IDS, BUY, 1)
    risk = RiskEngine(LIMITS, 0.001)
    risk.vector[rules.RiskRow.DAY_REALISED] = -3.0  # something to find again
    booking = Booking(Position(0.4995, 0.0, 50.05), pnl=0.0, risk=risk.state())
    fill = make_fill(cid, 7, remaining=0.0, time_ms=86_400_000 * 3 + 5)
    assert store.fill(fill, booking)
    again = Booking(Position(0.999, 0.0, 100.1), pnl=9.0, risk={"day_pnl": 99.0})
    assert not store.fill(fill, again)  # replayed: nothing written
    assert store.positions() == {"BTC/USDT": Position(0.4995, 0.0, 50.05)}
    assert store.risk() == risk.state()
    assert store.day_pnl(3) == {"BTC/USDT": 0.0}
    order = store.order(cid)
    assert order is not None and order.status == "filled"
    assert store.seen("BTC/USDT", 7) and not store.seen("ETH/USDT", 7)
    restored = RiskEngine(LIMITS, 0.001)
    restored.restore(store.risk())
    assert restored.day_realised == -3.0


def test_a_recovered_fill_is_booked_once(store: StateStore) -> None:
    sell = make_fill("x-1", 9, side=Side.SELL, amount=0.2, remaining=0.3, time_ms=5)
    assert store.fill(sell)
    assert store.unbooked() == [sell]
    booking = Booking(Position(0.3, 0.0, 30.0), pnl=-1.5)
    assert store.booked(sell, booking)
    assert not store.booked(sell, booking)
    assert store.unbooked() == [] and store.day_pnl(0) == {"BTC/USDT": -1.5}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "other",
    [
        Account.of("binance", "main", "live", "another-key"),
        Account.of("binance", "main", "paper", "an-api-key-never-stored"),
        Account.of("kraken", "main", "live", "an-api-key-never-stored"),
    ],
)
def test_another_accounts_file_is_refused_and_left_as_it_was(
    tmp_path: Path, other: Account
) -> None:
    store = StateStore.open(tmp_path, ACCOUNT)
    store.order_sending(IDS, BUY, 1)
    store.close()
    theirs = ACCOUNT.state_path(tmp_path)
    other.state_path(tmp_path).write_bytes(theirs.read_bytes())  # a copied or renamed file
    before = _digest(other.state_path(tmp_path))
    with pytest.raises(ConfigError) as error:
        StateStore.open(tmp_path, other)
    message = str(error.value)
    assert "\n" not in message and "belongs to binance account 'main'" in message
    assert ACCOUNT.fingerprint in message and "another-key" not in message
    assert _digest(other.state_path(tmp_path)) == before


def test_a_file_that_is_no_state_is_refused(tmp_path: Path) -> None:
    ACCOUNT.state_path(tmp_path).write_text("not a database, " * 100)
    with pytest.raises(ConfigError, match="cannot be read"):
        StateStore.open(tmp_path, ACCOUNT)
    other = tmp_path / "other"
    other.mkdir()
    with sqlite3.connect(ACCOUNT.state_path(other)) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(ConfigError, match="has layout none"):
        StateStore.open(other, ACCOUNT)
    with pytest.raises(ConfigError, match="cannot be opened"):
        StateStore.open(ACCOUNT.state_path(other) / "below a file", ACCOUNT)


def test_the_api_key_never_reaches_the_file(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path, ACCOUNT)
    cid = store.order_sending(IDS, BUY, 1)
    store.fill(make_fill(cid, 1))
    store.close()
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"an-api-key-never-stored" not in written
    assert ACCOUNT.fingerprint.encode() in written
    assert "an-api-key" not in repr(ACCOUNT) + str(ACCOUNT)
