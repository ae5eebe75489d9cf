"""The state file: one SQLite database per exchange, account and mode, in WAL mode. Every
write is a committed transaction when its call returns, so the engine acts only on what a
restart will find again ("state is written before it is acted on").

The engine's calls, in order:
- start: `AccountLock`, `StateStore.open`, restore `positions()` and `risk()`, reconcile
  (`reconcile()`), book each of `unbooked()` with `booked()`, then strategies run.
  Entries wait while `pauses()` (until `resume()`) or the plan's `unresolved` say so.
- send: `order_sending()` names the order and records it; then the network call with that id.
- answer: `order_status(id, NEW or REJECTED..., exchange_id=...)`; a timeout, 5xx or -1007:
  `order_status(id, UNKNOWN)`, then look the order up by client id and report what the
  venue says (a definite unknown order: REJECTED, "never placed").
- fill: `fill(fill, booking)`, the position and risk state after it in the same
  transaction; act on the fill only if it returned True.
- cancel: `order_status(id, CANCELED, filled=...)` once the venue confirms, not before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from thunes.domain.orders import ClientIds, Fill, OrderEvent, OrderIntent, OrderStatus
from thunes.errors import ConfigError, one_line
from thunes.state import writes as w
from thunes.state.account import Account
from thunes.state.reconcile import LocalView, Plan, Snapshot, base_of, reconcile
from thunes.state.records import (
    OPEN,
    OURS,
    SENDING,
    STATUSES,
    TERMINAL,
    UNRESOLVED,
    Booking,
    OrderRecord,
    Position,
    rank,
)

_STARTS = "CREATE TABLE IF NOT EXISTS starts (time_ms INTEGER PRIMARY KEY, summary TEXT NOT NULL)"


class StateStore:
    """Open with `StateStore.open(directory, account)`, under the account's lock."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = threading.RLock()  # APScheduler may run a job on a worker thread

    @classmethod
    def open(cls, directory: Path, account: Account, durable: bool = True) -> StateStore:
        """The account's state file, created on first use. A file of another account,
        exchange or mode, or of another layout, is refused (with one line) and untouched.

        Every commit survives the process's death (SIGKILL); `durable` (an fsync a commit,
        about 4 ms here) makes it survive the machine's too: live money wants it, a paper
        run at full speed may not."""
        path = account.state_path(directory)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"state file {path} cannot be opened: {one_line(error)}") from None
        try:
            w.check_or_create(db, path, account)
        except BaseException:
            db.close()
            raise
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("PRAGMA busy_timeout=5000")
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- orders ---------------------------------------------------------------------------

    def order_sending(self, ids: ClientIds, order: OrderIntent, now_ms: int) -> str:
        """Name the order (as prepared: rounded, filtered) with the next client id of its
        run, strategy and symbol, and record it as sending, in one transaction: call it
        before the network call, and send that id."""
        with self._tx() as db:
            (seq,) = db.execute(
                "INSERT INTO sequences VALUES (?, 2) ON CONFLICT (prefix) DO UPDATE "
                "SET next = next + 1 RETURNING next - 1",
                (ids.prefix,),
            ).fetchone()
            client_id = ids.of(seq)
            db.execute(
                "INSERT INTO orders (client_id, symbol, side, type, price, amount, quote, tag,"
                " status, origin, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    client_id,
                    ids.symbol,
                    order.side.value,
                    order.type.value,
                    order.price,
                    order.amount,
                    order.quote,
                    order.tag,
                    SENDING,
                    OURS,
                    now_ms,
                    now_ms,
                ),
            )
        return client_id

    def order_status(
        self,
        client_id: str,
        status: str,
        now_ms: int,
        *,
        exchange_id: str = "",
        filled: float | None = None,
        reason: str = "",
    ) -> bool:
        """The venue's answer or a later report (or `UNKNOWN` when the answer never came).
        A late or replayed report never moves an order back; False: nothing changed."""
        if status not in STATUSES:
            raise ValueError(f"order status {status!r} is none of {sorted(STATUSES)}")
        with self._tx() as db:
            row = db.execute(
                "SELECT status, exchange_id FROM orders WHERE client_id = ?", (client_id,)
            ).fetchone()
            if row is None:
                return False
            if row[0] in TERMINAL or rank(status) < rank(row[0]):
                if exchange_id and not row[1]:  # the answer, after its fills: keep its id
                    w.set_status(db, client_id, row[0], now_ms, exchange_id, None, reason)
                return False
            w.set_status(db, client_id, status, now_ms, exchange_id, filled, reason)
        return True

    def order_placed(
        self,
        symbol: str,
        accepted: OrderEvent,
        amount: float | None,
        quote: float | None,
        now_ms: int,
    ) -> None:
        """Record an order a simulated book accepted and named itself (paper), as open:
        once, however often a step cut short by a crash places it again under its id."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO orders (client_id, symbol, side, type, price, amount,"
                " quote, tag, status, origin, created_ms, updated_ms)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    accepted.order_id,
                    symbol,
                    accepted.side.value,
                    accepted.type.value,
                    None if accepted.price != accepted.price else accepted.price,
                    amount,
                    quote,
                    accepted.tag,
                    OrderStatus.NEW.value,
                    OURS,
                    now_ms,
                    now_ms,
                ),
            )
            w.never_reuse(db, accepted.order_id)

    def order(self, client_id: str) -> OrderRecord | None:
        rows = self._orders("client_id = ?", (client_id,))
        return rows[0] if rows else None

    def orders(self, statuses: Iterable[str] = OPEN | UNRESOLVED) -> list[OrderRecord]:
        """Orders in these statuses (default: open or unresolved), oldest first."""
        wanted = sorted(statuses)
        marks = ",".join("?" * len(wanted))
        return self._orders(f"status IN ({marks}) ORDER BY created_ms, rowid", wanted)

    def _orders(self, where: str, args: Iterable[object]) -> list[OrderRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM orders WHERE {where}", tuple(args))
            return [OrderRecord(*row) for row in rows.fetchall()]

    # --- fills ----------------------------------------------------------------------------

    def fill(self, fill: Fill, booking: Booking | None = None) -> bool:
        """Record a fill once (by symbol and trade id) and, given the engine's `booking`
        of it, the position, PnL and risk state after it, in the same transaction. False:
        already recorded, and nothing was written: do not act on it again."""
        with self._tx() as db:
            if not w.record_fill(db, fill, booked=booking is not None):
                return False
            if booking is not None:
                w.book(db, fill, booking)
        return True

    def booked(self, fill: Fill, booking: Booking) -> bool:
        """Book a fill recorded without a booking (one reconciliation found): once."""
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE fills SET booked = 1 WHERE symbol = ? AND trade_id = ? AND booked = 0",
                (fill.symbol, fill.trade_id),
            )
            if cursor.rowcount == 0:
                return False
            w.book(db, fill, booking)
        return True

    def unbooked(self) -> list[Fill]:
        """Fills recorded but not yet booked by the engine, in the order they traded."""
        return self._fills("booked = 0 ORDER BY time_ms, rowid", ())

    def fills(self, since_ms: int = 0) -> list[Fill]:
        """Fills that traded from `since_ms` on, in the order they traded (a day's report)."""
        return self._fills("time_ms >= ? ORDER BY time_ms, rowid", (since_ms,))

    def seen(self, symbol: str, trade_id: int) -> bool:
        return bool(self._fills("symbol = ? AND trade_id = ?", (symbol, trade_id)))

    def _fills(self, where: str, args: Iterable[object]) -> list[Fill]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {w.FILL_COLUMNS} FROM fills WHERE {where}", tuple(args)
            )
            return [w.fill_of(row) for row in rows.fetchall()]

    # --- what the engine restores ---------------------------------------------------------

    def positions(self) -> dict[str, Position]:
        with self._lock:
            rows = self._db.execute("SELECT symbol, amount, dust, cost FROM positions")
            return {symbol: Position(*rest) for symbol, *rest in rows.fetchall()}

    def risk(self) -> dict[str, float]:
        """The risk state by field name (RiskEngine.restore takes it back)."""
        with self._lock:
            return dict(self._db.execute("SELECT field, value FROM risk").fetchall())

    def save_risk(self, state: Mapping[str, float]) -> None:
        """The risk state outside a fill (a refusal counted, a new day)."""
        with self._tx() as db:
            w.save_risk(db, state)

    def day_pnl(self, day: int) -> dict[str, float]:
        """Realised PnL per symbol on UTC day `day` (epoch ms // 86,400,000)."""
        with self._lock:
            rows = self._db.execute("SELECT symbol, pnl FROM day_pnl WHERE day = ?", (day,))
            return dict(rows.fetchall())

    def balances(self) -> dict[str, float]:
        """The exchange's balances (asset -> total) as the last reconciliation read them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT asset, total FROM balances"
                " WHERE time_ms = (SELECT MAX(time_ms) FROM balances)"
            )
            return dict(rows.fetchall())

    def pauses(self) -> list[str]:
        """Why entries are paused (empty: they are not)."""
        with self._lock:
            rows = self._db.execute("SELECT reason FROM pauses ORDER BY since_ms, reason")
            return [reason for (reason,) in rows.fetchall()]

    def resume(self) -> None:
        """Someone looked: lift the pauses, and take the account's holdings as they will be
        at the next reconciliation (what the bot does not own is left outside it)."""
        with self._tx() as db:
            db.execute("DELETE FROM pauses")
            db.execute("DELETE FROM outside")

    # --- what a paper run resumes from ---------------------------------------------------

    def checkpoint(self, values: Mapping[str, bytes | str], risk: Mapping[str, float]) -> None:
        """Where a run stands (its book, its strategies, the market time it reached) and
        the risk state, in one transaction: a restart resumes from the last one."""
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO resume VALUES (?,?)", values.items())
            w.save_risk(db, risk)

    def resumed(self, key: str) -> bytes | str | None:
        """A value of the last checkpoint (None: never written)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM resume WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # --- what each live start put at stake ------------------------------------------------

    def record_start(self, time_ms: int, lines: Iterable[str]) -> None:
        """The live guard's start-up summary (thunes/modes/guard.py), kept with every start.
        Its table is made on first use: a file from before it is not refused for lacking it."""
        with self._tx() as db:
            db.execute(_STARTS)
            db.execute("INSERT OR REPLACE INTO starts VALUES (?,?)", (time_ms, "\n".join(lines)))

    def starts(self) -> list[tuple[int, list[str]]]:
        """(exchange time in ms, summary lines) of every recorded start, oldest first."""
        with self._tx() as db:
            db.execute(_STARTS)
            rows = db.execute("SELECT time_ms, summary FROM starts ORDER BY time_ms").fetchall()
        return [(time_ms, text.split("\n")) for time_ms, text in rows]

    # --- reconciliation -------------------------------------------------------------------

    def reconcile(
        self, snap: Snapshot, symbols: Iterable[str], prefixes: Iterable[str], now_ms: int
    ) -> Plan:
        """Reconcile with the exchange's `snap` and apply the plan; what to act on."""
        plan = reconcile(self.view(snap, symbols, prefixes), snap)
        self.apply(plan, now_ms)
        return plan

    def view(self, snap: Snapshot, symbols: Iterable[str], prefixes: Iterable[str]) -> LocalView:
        """What reconciling `snap` for `symbols` needs; `prefixes`: the run's own."""
        symbols = sorted(set(symbols))
        keys = [(t.symbol, t.trade_id) for t in snap.trades]
        with self._lock:
            db = self._db
            recorded = frozenset(k for k in keys if self.seen(*k))
            fills = [
                f
                for f in self._fills("booked = 0 OR time_ms > ?", (snap.time_ms,))
                if f.symbol in symbols
            ]
            unbooked = frozenset((f.symbol, f.trade_id) for f in self.unbooked())
            positions = self.positions()
            held: dict[str, float] = {}
            for symbol in symbols:
                position = positions.get(symbol, Position())
                held[base_of(symbol)] = held.get(base_of(symbol), 0.0)
                held[base_of(symbol)] += position.amount + position.dust
            orders = {order.client_id: order for order in self.orders()}
            for client_id in {o.client_id for o in snap.open_orders} | set(snap.looked_up):
                order = orders.get(client_id) or self.order(client_id)
                if order is not None:  # even a finished one: the exchange is the truth
                    orders[client_id] = order
            return LocalView(
                orders=tuple(orders.values()),
                prefixes=frozenset(prefixes)
                | {p for (p,) in db.execute("SELECT prefix FROM sequences").fetchall()},
                recorded=recorded,
                fills=tuple(fills),
                unbooked=unbooked,
                held=held,
                outside=dict(db.execute("SELECT asset, amount FROM outside").fetchall()),
                flagged=frozenset(
                    c for (c,) in db.execute("SELECT client_id FROM foreign_orders").fetchall()
                ),
            )

    def apply(self, plan: Plan, now_ms: int) -> None:
        """Teach the store what the exchange said, in one transaction. Recovered fills are
        recorded unbooked: the engine books them (`unbooked`, then `booked`)."""
        with self._tx() as db:
            for order in plan.adopt:
                w.adopt(db, order, now_ms)
            for fill in plan.fills:
                w.record_fill(db, fill, booked=False)
                w.never_reuse(db, fill.order_id)
            for change in plan.changes:  # after the fills: the exchange's status wins
                filled, exchange_id = change.filled, change.exchange_id
                w.set_status(
                    db, change.client_id, change.status, now_ms, exchange_id, filled, change.reason
                )
            db.executemany(
                "INSERT OR IGNORE INTO foreign_orders VALUES (?,?,?,?)",
                [(o.client_id, o.exchange_id, o.symbol, now_ms) for o in plan.foreign],
            )
            db.executemany(
                "DELETE FROM foreign_orders WHERE client_id = ?",
                [(c,) for c in plan.gone_foreign],
            )
            db.executemany("INSERT OR REPLACE INTO outside VALUES (?,?)", plan.outside.items())
            db.executemany(
                "INSERT OR IGNORE INTO pauses VALUES (?,?)",
                [(reason, now_ms) for reason in plan.mismatches],
            )
            w.snapshot(db, plan.time_ms, plan.balances)
