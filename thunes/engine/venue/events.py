"""An exchange broker's news for the strategy: its orders' events and its refusals."""

from __future__ import annotations

import math

from thunes.domain.orders import OrderEvent, OrderIntent, OrderStatus, SkippedOrder
from thunes.domain.tags import MAX_LOSS_TAG


class Events:
    """What the engine takes from the broker: `events` (an order's news) and `skipped`
    (the intents refused, with why)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []

    def refuse(self, intent: OrderIntent, why: str, bar: int) -> None:
        price = math.nan if intent.price is None else intent.price
        amount = math.nan if intent.amount is None else intent.amount
        self.skipped.append(
            SkippedOrder(bar, intent.side, price, amount, why, intent.tag, self.symbol)
        )
        self.event(OrderStatus.REJECTED, intent, why, "")

    def event(self, status: OrderStatus, intent: OrderIntent, why: str, client_id: str) -> None:
        """An order's news for the strategy; the protective stop's resting and withdrawal
        are the risk engine's business (as in the simulator), its refusals are news."""
        if intent.tag == MAX_LOSS_TAG and status in (OrderStatus.NEW, OrderStatus.CANCELED):
            return
        price = math.nan if intent.price is None else intent.price
        self.events.append(
            OrderEvent(status, intent.side, intent.type, price, intent.tag, why, client_id)
        )
