"""One symbol's orders on a venue: the intents queued for the pump and the orders sent
and not done, under the one lock the engine's thread and the pump's share (no network
call holds it)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from thunes.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.venue.events import Events


@dataclass
class Working:
    """An order this broker sent (or is sending), until it is done."""

    client_id: str
    order: OrderIntent  # as prepared: rounded and sized (a stop's price: its trigger)
    status: str
    checked_s: float  # when the venue last told us about it (host clock)
    exchange_id: str = ""
    amount: float = 0.0  # as the venue reports it (a quote-sized buy's is the venue's)
    filled: float = 0.0  # booked from its fills
    cancel: bool = False  # a cancel is wanted and not yet confirmed
    limit: float | None = None  # a stop-limit's limit
    reserve: float = 0.0  # the quote a buy sets aside, whole

    @property
    def size(self) -> float:
        return self.amount or self.order.amount or 0.0

    @property
    def rest(self) -> float:
        """What is left of it to fill (base), as far as the broker knows."""
        return max(0.0, self.size - self.filled)

    @property
    def set_aside(self) -> float:
        """The quote a buy still holds: its reserve, less the part filled."""
        if self.order.side is not Side.BUY:
            return 0.0
        return self.reserve * (self.rest / self.size if self.size else 1.0)


def is_protective(order: OrderIntent) -> bool:
    """The risk engine's protective stop (not a strategy's stop, nor its market sell)."""
    return order.tag == MAX_LOSS_TAG and order.type is OrderType.STOP


def is_max_loss_sale(order: OrderIntent) -> bool:
    """The max-loss rule's market sell of the position."""
    return order.tag == MAX_LOSS_TAG and order.type is OrderType.MARKET


class AtWork:
    """The queue (`outbox`) and the orders at work (`orders`, by client id, oldest
    first); `bar` and `now_ms`: the market's moment, stamped on what is recorded."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self.outbox: deque[OrderIntent] = deque()
        self.orders: dict[str, Working] = {}
        self.lock = threading.RLock()
        self.bar, self.now_ms = 0, 0

    def queued(self) -> list[OrderIntent]:
        with self.lock:
            return list(self.outbox)

    def working(self) -> list[Working]:
        with self.lock:
            return list(self.orders.values())

    def buying(self) -> bool:
        """A buy queued, sending or at work."""
        with self.lock:
            return any(i.side is Side.BUY for i in self.outbox) or any(
                w.order.side is Side.BUY for w in self.orders.values()
            )

    def protective(self) -> list[Working]:
        return [w for w in list(self.orders.values()) if is_protective(w.order)]

    def selling_out(self) -> bool:
        """A max-loss market sell is queued or at work: no stop under it."""
        return any(is_max_loss_sale(i) for i in self.outbox) or any(
            is_max_loss_sale(w.order) for w in self.orders.values()
        )

    def free_base(self, position: float) -> float:
        """The position not held by this broker's sells at work (limits and stops hold
        their base on the venue until they fill or their cancel is confirmed)."""
        held = sum(w.rest for w in self.orders.values() if w.order.side is Side.SELL)
        return max(0.0, round(position - held, 12))

    def set_aside(self) -> float:
        """The quote this broker's buys at work hold (the wallet reads it)."""
        return sum(w.set_aside for w in list(self.orders.values()))

    def refuse(self, intent: OrderIntent, why: str) -> None:
        self.events.refuse(intent, why, self.bar)

    def refuse_queue(self, why: str) -> None:
        with self.lock:
            while self.outbox:
                self.refuse(self.outbox.popleft(), why)

    def cancel(self, tag: str) -> None:
        """Withdraw queued intents at once; ask the venue for orders sent. The protective
        stop is the risk rules', not the strategy's to cancel."""
        for intent in [i for i in self.outbox if i.tag.startswith(tag) and i.tag != MAX_LOSS_TAG]:
            self.outbox.remove(intent)
            self.events.event(OrderStatus.CANCELED, intent, "", "")
        for working in self.orders.values():
            if working.order.tag.startswith(tag) and working.order.tag != MAX_LOSS_TAG:
                working.cancel = True

    def cancel_buys(self) -> None:
        for intent in [i for i in self.outbox if i.side is Side.BUY]:
            self.outbox.remove(intent)
            self.events.event(OrderStatus.CANCELED, intent, "", "")
        for working in self.orders.values():
            working.cancel = working.cancel or working.order.side is Side.BUY
