"""The SQL each write of the store runs, inside the caller's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thunes.domain.orders import Fill, Side
from thunes.errors import ConfigError
from thunes.state import schema
from thunes.state.account import Account
from thunes.state.reconcile import VenueOrder
from thunes.state.records import ADOPTED, TERMINAL, Booking, rank

DAY_MS = 86_400_000
FILL_COLUMNS = "symbol, trade_id, client_id, side, price, amount, fee, fee_base, maker, "
FILL_COLUMNS += "remaining, tag, time_ms"


def check_or_create(db: sqlite3.Connection, path: Path, account: Account) -> None:
    """Refuse a file that is not this account's state; lay out a new one."""
    wanted = {
        "schema": str(schema.VERSION),
        "exchange": account.exchange,
        "account": account.name,
        "mode": account.mode,
        "fingerprint": account.fingerprint,
    }
    try:
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            db.execute("BEGIN IMMEDIATE")
            for statement in schema.TABLES.split(";"):
                db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
            db.execute("COMMIT")
            return
        meta = (
            dict(db.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        )
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"state file {path} cannot be read: {error}") from None
    if meta.get("schema") != wanted["schema"]:
        found = meta.get("schema", "none")
        raise ConfigError(
            f"state file {path} has layout {found}, this THUNES reads {schema.VERSION}"
        )
    if meta != wanted:
        owner = Account(meta["exchange"], meta["account"], meta["mode"], meta["fingerprint"])
        raise ConfigError(
            f"state file {path} belongs to {owner}, not to {account}: use that account's key"
            " and settings, or another state directory"
        )


def set_status(
    db: sqlite3.Connection,
    client_id: str,
    status: str,
    now_ms: int,
    exchange_id: str,
    filled: float | None,
    reason: str,
) -> None:
    db.execute(
        "UPDATE orders SET status = ?, exchange_id = COALESCE(NULLIF(?, ''), exchange_id),"
        " filled = COALESCE(?, filled), reason = ?, updated_ms = ? WHERE client_id = ?",
        (status, exchange_id, filled, reason, now_ms, client_id),
    )


def record_fill(db: sqlite3.Connection, fill: Fill, booked: bool) -> bool:
    """Insert the fill unless its trade is recorded; an order it fills is known to exist."""
    cursor = db.execute(
        f"INSERT INTO fills ({FILL_COLUMNS}, booked) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT DO NOTHING",
        (
            fill.symbol,
            fill.trade_id,
            fill.order_id,
            fill.side.value,
            fill.price,
            fill.amount,
            fill.fee,
            fill.fee_base,
            int(fill.maker),
            fill.remaining,
            fill.tag,
            fill.time_ms,
            int(booked),
        ),
    )
    if cursor.rowcount == 0:
        return False
    row = db.execute("SELECT status FROM orders WHERE client_id = ?", (fill.order_id,)).fetchone()
    if row is not None and row[0] not in TERMINAL and rank(fill.status) >= rank(row[0]):
        set_status(db, fill.order_id, fill.status, fill.time_ms, "", None, "")
    return True


def book(db: sqlite3.Connection, fill: Fill, booking: Booking) -> None:
    position = booking.position
    db.execute(
        "INSERT OR REPLACE INTO positions VALUES (?,?,?,?,?)",
        (fill.symbol, position.amount, position.dust, position.cost, fill.time_ms),
    )
    db.execute(
        "INSERT INTO day_pnl VALUES (?,?,?,?,1) ON CONFLICT (day, symbol) DO UPDATE SET"
        " pnl = pnl + excluded.pnl, fees = fees + excluded.fees, fills = fills + 1",
        (fill.time_ms // DAY_MS, fill.symbol, booking.pnl, fill.fee),
    )
    save_risk(db, booking.risk)


def save_risk(db: sqlite3.Connection, state: Mapping[str, float]) -> None:
    db.executemany("INSERT OR REPLACE INTO risk VALUES (?,?)", state.items())


def adopt(db: sqlite3.Connection, order: VenueOrder, now_ms: int) -> None:
    db.execute(
        "INSERT OR IGNORE INTO orders (client_id, symbol, side, type, price, amount, tag,"
        " status, exchange_id, filled, origin, created_ms, updated_ms)"
        " VALUES (?,?,?,?,?,?,'',?,?,?,?,?,?)",
        (
            order.client_id,
            order.symbol,
            order.side,
            order.type,
            order.price,
            order.amount,
            order.status,
            order.exchange_id,
            order.filled,
            ADOPTED,
            order.time_ms or now_ms,
            now_ms,
        ),
    )
    never_reuse(db, order.client_id)


def never_reuse(db: sqlite3.Connection, client_id: str) -> None:
    """Move the sequence of an id's prefix past it (ids are `<prefix><seq>`)."""
    prefix, _, seq = client_id.rpartition("-")
    if prefix and seq.isdigit():
        db.execute(
            "INSERT INTO sequences VALUES (?, ?) ON CONFLICT (prefix) DO UPDATE"
            " SET next = MAX(next, excluded.next)",
            (f"{prefix}-", int(seq) + 1),
        )


def snapshot(db: sqlite3.Connection, time_ms: int, balances: Mapping[str, float]) -> None:
    """Keep the exchange's balances when they differ from the last ones kept."""
    last = db.execute(
        "SELECT asset, total FROM balances WHERE time_ms = (SELECT MAX(time_ms) FROM balances)"
    )
    if dict(last.fetchall()) != dict(balances):
        db.executemany(
            "INSERT OR REPLACE INTO balances VALUES (?,?,?)",
            [(time_ms, asset, total) for asset, total in balances.items()],
        )


def fill_of(row: tuple[Any, ...]) -> Fill:
    symbol, trade_id, client_id, side, price, amount, fee, fee_base, maker = row[:9]
    remaining, tag, time_ms = row[9:]
    return Fill(
        0,
        Side(side),
        price,
        amount,
        fee,
        tag,
        bool(maker),
        symbol,
        remaining,
        fee_base,
        time_ms,
        client_id,
        trade_id,
    )
