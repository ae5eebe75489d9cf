"""Orders as every engine speaks them: intents from strategies, fills, skipped orders."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"  # fills at the next bar's open, taker
    LIMIT = "limit"  # rests; fills only when the market trades through its price, maker
    STOP = "stop"  # sell stop: triggers when the low reaches its price, fills as taker
    CANCEL = "cancel"  # withdraws the resting orders whose tag starts with `tag`


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy wants. Risk and filters decide whether it leaves.

    A buy says how much quote to spend (`quote`) or how much base to get (`amount`); a sell
    says `amount`, or None for the whole position. `tag` names the order for the strategy
    (e.g. "grid:3") and for the orders table.
    """

    side: Side
    type: OrderType
    amount: float | None = None
    quote: float | None = None
    price: float | None = None
    tag: str = ""

    @staticmethod
    def cancel(tag: str) -> OrderIntent:
        return OrderIntent(Side.SELL, OrderType.CANCEL, tag=tag)


@dataclass(frozen=True, slots=True)
class Fill:
    """An executed order; `bar` is the position of the candle it filled in."""

    bar: int
    side: Side
    price: float
    amount: float
    fee: float
    tag: str = ""
    maker: bool = False
    symbol: str = ""

    def placed(self, bar: int, symbol: str) -> Fill:
        """This fill at `bar` of `symbol` (dataclasses.replace costs 10x more per fill)."""
        return Fill(bar, self.side, self.price, self.amount, self.fee, self.tag, self.maker, symbol)


@dataclass(frozen=True, slots=True)
class SkippedOrder:
    """An order that never left (filters, cash, risk), kept so that no order vanishes."""

    bar: int
    side: Side
    price: float
    amount: float
    reason: str
    tag: str = ""
    symbol: str = ""

    def placed(self, bar: int, symbol: str) -> SkippedOrder:
        """This order at `bar` of `symbol` (as `Fill.placed`)."""
        return SkippedOrder(bar, self.side, self.price, self.amount, self.reason, self.tag, symbol)


class OrderStatus(StrEnum):
    ACCEPTED = "accepted"  # queued for the next open, or resting on the book
    CANCELED = "canceled"  # withdrawn by a cancel intent, or by the kill-switch
    REJECTED = "rejected"  # never left, or refused at fill time: see `reason`


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """What happened to an order, besides its fills (which arrive as `Fill`)."""

    status: OrderStatus
    side: Side
    type: OrderType
    price: float
    tag: str
    reason: str = ""
