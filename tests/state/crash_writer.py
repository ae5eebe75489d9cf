"""A process that writes through the store as the live engine does, until it is killed:
orders sent, answered and filled (a fill and its booking in one transaction), and, at
each start, the last orders' fills delivered again, as a reconnected stream does. It
prints a line only once the write it names is committed: what the killer may rely on.

    python -m tests.state.crash_writer STATE_DIR
"""

from __future__ import annotations

import sys
from itertools import count
from pathlib import Path

from thunes.domain.orders import ClientIds, Fill, OrderIntent, OrderStatus, OrderType, Side
from thunes.state.account import Account
from thunes.state.lock import AccountLock
from thunes.state.records import STATUSES, Booking, Position
from thunes.state.store import StateStore

ACCOUNT = Account.of("sim", "crash", "paper", None)
IDS = ClientIds("crash0", "grid", "BTC/USDT")
PARTS = (0.25, 0.5)  # every order fills in two trades: 0.25, then 0.5
REPLAYED = 3  # the last orders whose fills come again at a start


def trades(client_id: str) -> list[Fill]:
    """The venue's trades of an order: their ids follow from the order's (`<prefix><n>`)."""
    n = int(client_id.rpartition("-")[2])
    return [
        Fill(
            0,
            Side.BUY,
            100.0,
            amount,
            amount * 0.1,
            symbol="BTC/USDT",
            remaining=sum(PARTS[k + 1 :]),
            time_ms=n * 1000 + k,
            order_id=client_id,
            trade_id=n * 10 + k,
        )
        for k, amount in enumerate(PARTS)
    ]


def deliver(store: StateStore, fill: Fill) -> None:
    """Book a fill on the position the store holds, unless it is already recorded."""
    held = store.positions().get(fill.symbol, Position())
    booking = Booking(Position(held.amount + fill.amount, 0.0, held.cost + fill.amount * 100))
    recorded = store.fill(fill, booking)
    print(f"fill {fill.trade_id} {int(recorded)}", flush=True)


def main(directory: Path) -> None:
    with AccountLock(directory, ACCOUNT):
        store = StateStore.open(directory, ACCOUNT)
        print("ready", flush=True)
        sent = [o.client_id for o in store.orders(STATUSES)][-REPLAYED:]
        for client_id in sent:
            for fill in trades(client_id):
                deliver(store, fill)
        for now in count():
            order = OrderIntent(Side.BUY, OrderType.LIMIT, sum(PARTS), price=100.0)
            client_id = store.order_sending(IDS, order, now)
            print(f"sent {client_id}", flush=True)
            store.order_status(client_id, OrderStatus.NEW, now, exchange_id=str(now))
            print(f"answered {client_id}", flush=True)
            for fill in trades(client_id):
                deliver(store, fill)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
