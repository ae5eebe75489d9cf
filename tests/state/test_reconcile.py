"""Reconciliation against hand-built exchange snapshots: each case a user relies on after a
crash, a timeout or a manual trade, and twice in a row changes nothing the second time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.state.conftest import ACCOUNT, BUY, IDS, make_fill
from thunes.domain.orders import OrderStatus, Side
from thunes.state.reconcile import Plan, Snapshot, VenueOrder, reconcile, to_look_up
from thunes.state.records import ADOPTED, UNKNOWN, Booking, Position
from thunes.state.store import StateStore

SYMBOLS = ["BTC/USDT"]
T = 1_000_000  # when the snapshot's balances were read


def venue(client_id: str, status: str = "new", filled: float = 0.0, eid: str = "9") -> VenueOrder:
    return VenueOrder(client_id, eid, "BTC/USDT", "buy", "limit", 100.0, 0.5, filled, status)


def run(store: StateStore, snap: Snapshot) -> Plan:
    """One reconciliation as the engine runs it."""
    return store.reconcile(snap, SYMBOLS, [IDS.prefix], snap.time_ms)


def dump(store: StateStore) -> dict[str, list[tuple]]:
    with sqlite3.connect(store.path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def twice(store: StateStore, snap: Snapshot) -> Plan:
    """Reconcile, then check that a second reconciliation plans and writes nothing."""
    plan = run(store, snap)
    before = dump(store)
    again = reconcile(store.view(snap, SYMBOLS, [IDS.prefix]), snap)
    assert (again.adopt, again.changes, again.fills, again.foreign, again.gone_foreign) == (
        (),
        (),
        (),
        (),
        (),
    )
    assert again.outside == {} and again.unresolved == plan.unresolved
    store.apply(again, snap.time_ms + 1)
    assert dump(store) == before
    return plan


def sent(store: StateStore, status: str = OrderStatus.NEW, eid: str = "9") -> str:
    cid = store.order_sending(IDS, BUY, 10)
    store.order_status(cid, status, 11, exchange_id=eid if status != UNKNOWN else "")
    return cid


@pytest.fixture
def known(store: StateStore) -> StateStore:
    """A store that has reconciled once: the account held 2 BTC besides the bot."""
    plan = run(store, Snapshot(T - 1, {"BTC": 2.0, "USDT": 1000.0}))
    assert plan.outside == {"BTC": 2.0} and plan.entries_allowed
    assert store.balances() == {"BTC": 2.0, "USDT": 1000.0}
    return store


def test_an_order_of_ours_open_on_the_exchange_is_adopted(known: StateStore) -> None:
    theirs = IDS.of(41)  # sent by a run whose record is lost
    plan = twice(known, Snapshot(T, {"BTC": 2.0}, open_orders=(venue(theirs),)))
    assert [o.client_id for o in plan.adopt] == [theirs] and plan.entries_allowed
    adopted = known.order(theirs)
    assert adopted is not None and (adopted.origin, adopted.status) == (ADOPTED, "new")
    assert known.order_sending(IDS, BUY, 1) == IDS.of(42)  # never reused


def test_an_order_filled_while_away_is_marked_and_its_fills_recorded(known: StateStore) -> None:
    cid = sent(known)
    trades = (
        make_fill(cid, 1, amount=0.3, time_ms=T - 5),
        make_fill(cid, 2, amount=0.2, time_ms=T - 4),
    )
    snap = Snapshot(
        T, {"BTC": 2.5}, trades=trades, looked_up={cid: venue(cid, "filled", filled=0.5)}
    )
    assert to_look_up(known.orders(), snap.open_orders) == [cid]
    plan = twice(known, snap)
    assert [(c.client_id, c.status, c.filled) for c in plan.changes] == [(cid, "filled", 0.5)]
    assert {f.trade_id for f in plan.fills} == {1, 2} and plan.entries_allowed
    assert [f.trade_id for f in known.unbooked()] == [1, 2]  # for the engine to book
    assert known.orders() == []


def test_an_order_canceled_on_the_exchange_is_marked_canceled(known: StateStore) -> None:
    cid = sent(known)
    plan = twice(known, Snapshot(T, {"BTC": 2.0}, looked_up={cid: venue(cid, "canceled")}))
    assert [c.status for c in plan.changes] == ["canceled"]
    order = known.order(cid)
    assert order is not None and order.status == "canceled"


def test_unknown_orders_are_resolved_by_their_lookup(known: StateStore) -> None:
    placed, never, unasked = sent(known, UNKNOWN), sent(known, UNKNOWN), sent(known, UNKNOWN)
    snap = Snapshot(
        T, {"BTC": 2.0}, open_orders=(venue(placed, eid="123"),), looked_up={never: None}
    )
    assert to_look_up(known.orders(), snap.open_orders) == [placed, never, unasked]
    plan = twice(known, snap)
    assert plan.unresolved == (unasked,) and not plan.entries_allowed
    statuses = {cid: known.order(cid) for cid in (placed, never, unasked)}
    assert {cid: (o.status, o.exchange_id) for cid, o in statuses.items() if o} == {
        placed: ("new", "123"),
        never: ("rejected", ""),
        unasked: ("unknown", ""),
    }


def test_an_open_order_the_exchange_no_longer_knows_expires(known: StateStore) -> None:
    cid = sent(known)
    twice(known, Snapshot(T, {"BTC": 2.0}, looked_up={cid: None}))
    order = known.order(cid)
    assert order is not None and (order.status, order.reason) == (
        "expired",
        "gone from the exchange",
    )


def test_an_order_finished_here_but_open_on_the_exchange_reopens(known: StateStore) -> None:
    cid = sent(known)
    twice(known, Snapshot(T, {"BTC": 2.0}, looked_up={cid: None}))  # pruned, we thought
    plan = twice(known, Snapshot(T + 1, {"BTC": 2.0}, open_orders=(venue(cid),)))
    assert plan.adopt == () and [c.status for c in plan.changes] == ["new"]
    assert [o.client_id for o in known.orders()] == [cid]


def test_foreign_orders_are_flagged_once_and_never_adopted(known: StateStore) -> None:
    by_hand = VenueOrder("web_abc", "5", "BTC/USDT", "sell", "limit", 200.0, 1.0, 0.0, "new")
    plan = twice(known, Snapshot(T, {"BTC": 2.0}, open_orders=(by_hand,)))
    assert plan.foreign == (by_hand,) and plan.adopt == () and plan.entries_allowed
    assert known.order("web_abc") is None
    gone = twice(known, Snapshot(T + 1, {"BTC": 2.0}))
    assert gone.gone_foreign == ("web_abc",)


def test_a_balance_nothing_explains_pauses_entries_and_says_why(known: StateStore) -> None:
    manual = make_fill("", 77, amount=0.7, fee=0.0)  # bought by hand: no client id of ours
    plan = twice(known, Snapshot(T, {"BTC": 2.7}, trades=(manual,)))
    assert plan.fills == () and not plan.entries_allowed
    (why,) = plan.mismatches
    assert why == (
        "BTC: the exchange holds 2.7, the bot expected 2 (0 its own, 2 outside it);"
        " 1 trade(s) not ours"
    )
    assert known.pauses() == [why]
    known.resume()  # someone looked: the account is taken as it is
    assert run(known, Snapshot(T + 1, {"BTC": 2.7})).outside == {"BTC": 2.7}
    assert known.pauses() == []


def test_fills_not_booked_and_fills_after_the_balances_explain_the_balance(
    known: StateStore,
) -> None:
    cid = sent(known)
    known.fill(make_fill(cid, 1, amount=0.5, fee_base=0.0005, remaining=0.5, time_ms=T - 9))
    booked = make_fill(cid, 2, amount=0.5, fee_base=0.0005, time_ms=T - 8)
    known.fill(booked, Booking(Position(0.4995, 0.0, 50.05)))  # the first one is not booked
    later = make_fill(cid, 3, amount=0.25, side=Side.SELL, time_ms=T + 5)
    known.fill(later, Booking(Position(0.2495, 0.0, 25.0)))
    # the exchange read 2 + 0.4995 + 0.4995 before the sell, which it has not counted yet
    plan = twice(known, Snapshot(T, {"BTC": 2.999}, looked_up={cid: venue(cid, "filled", 1.0)}))
    assert plan.mismatches == () and plan.entries_allowed


def test_our_missing_trades_explain_the_balance_once_recorded(known: StateStore) -> None:
    buy, sell = sent(known), sent(known)
    trade = make_fill(buy, 4, amount=0.5, fee_base=0.0005, time_ms=T - 1)
    after = make_fill(sell, 5, side=Side.SELL, amount=0.1, time_ms=T + 3)  # not in the balances
    finished = {buy: venue(buy, "filled", 0.5), sell: venue(sell, "filled", 0.1)}
    snap = Snapshot(T, {"BTC": 2.4995}, trades=(trade, after), looked_up=finished)
    assert twice(known, snap).mismatches == ()
    short = Snapshot(T + 10, {"BTC": 2.3995})  # the trades are no longer in the recent ones
    assert run(known, short).mismatches == ()
    assert [f.trade_id for f in known.unbooked()] == [4, 5]


def test_a_trade_of_ours_for_an_order_lost_here_is_recorded(known: StateStore) -> None:
    lost = make_fill(IDS.of(50), 8, amount=0.1, time_ms=T - 1)
    plan = twice(known, Snapshot(T, {"BTC": 2.1}, trades=(lost,)))
    assert plan.fills == (lost,) and plan.entries_allowed
    assert known.order_sending(IDS, BUY, 1) == IDS.of(51)


def test_a_restart_after_a_crash_before_the_answer_resumes_from_the_exchange(
    tmp_path: Path,
) -> None:
    store = StateStore.open(tmp_path, ACCOUNT)
    cid = store.order_sending(IDS, BUY, 10)
    store.close()  # killed before the answer came: the order may or may not exist
    store = StateStore.open(tmp_path, ACCOUNT)
    assert to_look_up(store.orders(), ()) == [cid]
    trade = make_fill(cid, 1, amount=0.5, fee_base=0.0005, time_ms=T - 1)
    snap = Snapshot(T, {"BTC": 0.4995}, trades=(trade,), looked_up={cid: venue(cid, "filled", 0.5)})
    plan = run(store, snap)
    assert plan.entries_allowed and plan.outside == {"BTC": 0.0}
    for fill in store.unbooked():  # the engine books what it missed, once
        assert store.booked(fill, Booking(Position(0.4995, 0.0, 50.05)))
    assert store.positions() == {"BTC/USDT": Position(0.4995, 0.0, 50.05)}
    assert run(store, Snapshot(T + 1, {"BTC": 0.4995})).mismatches == ()
    store.close()
