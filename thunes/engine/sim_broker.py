"""A simulated spot broker: the one place where orders fill, in backtest and replay alike.

Conventions (the vectorized engine, thunes/backtest/engine.py, follows the same ones):
- Market orders queue until the next bar's open and fill there, moved against us by the
  slippage and rounded to the tick the adverse way; taker fee, paid on top.
- A resting limit fills only when the market trades *through* it (a buy when the low is
  below its price, a sell when the high is above), at its own price; maker fee.
- A sell stop triggers when the low reaches it and fills at its price, or at the open when
  the bar gaps through it, slipped; taker fee.
- Inside a bar the path is open -> low -> high -> close, the adverse order for a long-only
  account: stops and buys below are met before take-profits above. Orders a strategy
  places in answer to a fill rest from the next bar on, so no two orders fill from the
  same move. The risk engine's protective stop is the exception: it guards the position
  from the moment it exists.
- Amounts round down to the step exactly (1.0 on a 0.001 step stays 1.0, where vectorbt's
  `1.0 // 0.001 * 0.001` gives 0.999 and would strand 0.001 as dust); an order
  under min notional or min quantity, or beyond the free cash, is skipped and recorded.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import (
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    SkippedOrder,
)
from thunes.execution.filters import ceil_to, floor_to
from thunes.portfolio.sizing import Sizer
from thunes.risk.engine import KILL_TAG, MAX_LOSS_TAG, PositionBook, RiskEngine

_REL_TOL = 1e-9  # vectorbt's tolerance when it compares a size with the minimum


@dataclass
class RestingOrder:
    side: Side
    type: OrderType
    price: float
    amount: float | None  # None: the whole position when it triggers
    tag: str
    active_from: int  # first bar index it may fill in


class Wallet:
    """The quote balance every symbol's broker draws on: one account, as on the exchange."""

    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.brokers: list[SimBroker] = []

    def free(self) -> float:
        """Cash not locked by any resting buy limit."""
        return self.cash - sum(broker.reserved_cash for broker in self.brokers)


class SimBroker:
    def __init__(
        self,
        fees: Fees,
        slippage: float,
        filters: MarketFilters,
        sizer: Sizer,
        cash: float | Wallet,
        risk: RiskEngine | None = None,
    ) -> None:
        self.fees = fees
        self.slippage = slippage
        self.filters = filters
        self.sizer = sizer
        self.wallet = cash if isinstance(cash, Wallet) else Wallet(cash)
        self.wallet.brokers.append(self)
        self.position = 0.0
        self.risk = risk
        self.book = PositionBook()
        self.market: list[OrderIntent] = []
        self.resting: list[RestingOrder] = []
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []  # for the strategy; the engine drains it
        self.bar = 0
        self.time_ms = 0

    # ---- what the account holds
    @property
    def cash(self) -> float:
        return self.wallet.cash

    @cash.setter
    def cash(self, value: float) -> None:
        self.wallet.cash = value

    @property
    def reserved_cash(self) -> float:
        """Quote locked by resting buy limits, as an exchange locks it."""
        fee = 1 + self.fees.maker
        return sum(o.price * (o.amount or 0.0) * fee for o in self._buys())

    @property
    def committed(self) -> bool:
        """Holding, or about to: a position, a queued market buy or a resting buy limit.
        A position counts against max_open_positions from the moment its buy is sent."""
        return (
            self.position > 0
            or any(i.side is Side.BUY for i in self.market)
            or any(o.side is Side.BUY for o in self.resting)
        )

    def equity(self, price: float) -> float:
        return self.cash + self.position * price

    def _buys(self) -> list[RestingOrder]:
        return [o for o in self.resting if o.side is Side.BUY]

    # ---- orders in
    def submit(self, intent: OrderIntent, open_positions: int = 0) -> None:
        """Accept, rest or skip an intent at the current bar (after its close or a fill)."""
        if intent.type is OrderType.CANCEL:
            self._cancel(lambda order: order.tag.startswith(intent.tag))
            return
        if self.risk is not None:
            reason = self.risk.allows(intent, self.time_ms, open_positions, self.committed)
            if reason is not None:
                self._skip(intent, intent.price or math.nan, intent.amount or math.nan, reason)
                return
        if intent.type is OrderType.MARKET:
            self.market.append(intent)
            self._event(OrderStatus.ACCEPTED, intent.side, intent.type, math.nan, intent.tag)
            return
        up = intent.side is Side.SELL  # a buy limit never above its price, a sell never below
        price = float(
            ceil_to(intent.price or 0.0, self.filters.tick_size)
            if up
            else floor_to(intent.price or 0.0, self.filters.tick_size)
        )
        if price <= 0:
            self._skip(intent, price, intent.amount or math.nan, "price under one tick")
            return
        amount = (
            None if intent.amount is None and intent.quote is None else self._amount(intent, price)
        )
        if (
            amount is not None
            and intent.type is OrderType.LIMIT
            and self._refused(intent, price, amount, self.fees.maker)
        ):
            return
        self.resting.append(
            RestingOrder(intent.side, intent.type, price, amount, intent.tag, self.bar + 1)
        )
        self._event(OrderStatus.ACCEPTED, intent.side, intent.type, price, intent.tag)

    def _cancel(self, which: Callable[[RestingOrder], bool]) -> None:
        for order in [o for o in self.resting if which(o)]:
            self.resting.remove(order)
            if order.tag != MAX_LOSS_TAG:  # the risk engine's own stop is not the strategy's
                self._event(OrderStatus.CANCELED, order.side, order.type, order.price, order.tag)

    def _event(
        self,
        status: OrderStatus,
        side: Side,
        type_: OrderType,
        price: float,
        tag: str,
        reason: str = "",
    ) -> None:
        self.events.append(OrderEvent(status, side, type_, price, tag, reason))

    def _amount(self, intent: OrderIntent, price: float) -> float:
        amount = intent.amount if intent.amount is not None else (intent.quote or 0.0) / price
        return float(floor_to(amount, self.filters.step_size))

    def _refused(self, intent: OrderIntent, price: float, amount: float, fee: float) -> bool:
        """Skip (and record) an order the venue would reject; True if skipped."""
        minimum = max(self.filters.min_qty, self.filters.min_notional / price)
        if amount <= 0 or (
            amount < minimum and not math.isclose(amount, minimum, rel_tol=_REL_TOL)
        ):
            self._skip(
                intent, price, amount, "below minimum" if intent.side is Side.BUY else "dust"
            )
            return True
        if (
            intent.side is Side.BUY
            and intent.type is OrderType.LIMIT
            and (amount * price * (1 + fee) > self.wallet.free())
        ):
            self._skip(intent, price, amount, "insufficient cash")
            return True
        return False

    def _skip(self, intent: OrderIntent, price: float, amount: float, reason: str) -> None:
        self.skipped.append(SkippedOrder(self.bar, intent.side, price, amount, reason, intent.tag))
        self._event(OrderStatus.REJECTED, intent.side, intent.type, price, intent.tag, reason)

    # ---- one bar of market
    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        """Fill what this bar's prices reach, along open -> low -> high."""
        self.bar, self.time_ms = bar, time_ms
        if not self.market and not self.resting:
            return []  # most bars: nothing to fill
        first = len(self.fills)
        queued, self.market = self.market, []
        for intent in queued:
            self._fill_market(intent, open_)
        self._descend(open_, low)
        for order in sorted(
            (
                o
                for o in self.resting
                if o.side is Side.SELL
                and o.type is OrderType.LIMIT
                and o.active_from <= bar
                and high > o.price
            ),
            key=lambda o: o.price,
        ):
            if order in self.resting:
                self._fill_resting(order, order.price, maker=True)
        return self.fills[first:]

    def _descend(self, open_: float, low: float) -> None:
        """Buy limits and stops met on the way down, highest price first (stops on ties).

        Each event carries the price the market is at when it happens: a stop fills there,
        which is its own price, the open when the bar gapped through it, or, for a
        protective stop born above the market by a buy on the way down, that buy's price.
        """
        order_ids = itertools.count()
        events = [
            (-min(o.price, open_), o.type is OrderType.LIMIT, next(order_ids), o)
            for o in self.resting
            if o.active_from <= self.bar
            and (
                (o.type is OrderType.LIMIT and o.side is Side.BUY and low < o.price)
                or (o.type is OrderType.STOP and low <= o.price)
            )
        ]
        heapq.heapify(events)
        while events:
            key, _, _, order = heapq.heappop(events)
            if order not in self.resting:
                continue
            level, filled = -key, len(self.fills)
            if order.type is OrderType.STOP:
                slipped = level * (1 - self.slippage)
                self._fill_resting(
                    order, float(floor_to(slipped, self.filters.tick_size)), maker=False
                )
            else:
                self._fill_resting(order, order.price, maker=True)
            if len(self.fills) == filled:
                continue  # refused (e.g. dust): nothing changed, so no new stop to meet
            stop = self._protective_stop()
            if stop is not None and low <= stop.price:
                heapq.heappush(events, (-min(stop.price, level), False, next(order_ids), stop))

    # ---- fills
    def _fill_market(self, intent: OrderIntent, open_: float) -> None:
        if intent.side is Side.BUY:
            price = float(ceil_to(open_ * (1 + self.slippage), self.filters.tick_size))
            if intent.amount is not None:
                wanted = intent.amount
            elif intent.quote is not None:
                wanted = intent.quote / price
            else:
                wanted = self.sizer.buy_amount(self.wallet.free(), price, self.fees.taker)
            affordable = self.wallet.free() / (1 + self.fees.taker) / price
            amount = float(floor_to(min(wanted, affordable), self.filters.step_size))
        else:
            if self.position <= 0:
                return
            price = float(floor_to(open_ * (1 - self.slippage), self.filters.tick_size))
            amount = self.position if intent.amount is None else min(intent.amount, self.position)
        if not self._refused(intent, price, amount, self.fees.taker):
            self._execute(intent.side, price, amount, self.fees.taker, intent.tag, maker=False)

    def _fill_resting(self, order: RestingOrder, price: float, maker: bool) -> None:
        self.resting.remove(order)
        amount = self.position if order.amount is None else order.amount
        if order.side is Side.SELL:
            amount = min(amount, self.position)
            if amount <= 0:
                return
        fee = self.fees.maker if maker else self.fees.taker
        intent = OrderIntent(order.side, order.type, amount, price=price, tag=order.tag)
        if not self._refused(intent, price, amount, fee):
            self._execute(order.side, price, amount, fee, order.tag, maker)

    def _execute(
        self, side: Side, price: float, amount: float, fee_rate: float, tag: str, maker: bool
    ) -> None:
        fee = amount * price * fee_rate
        if side is Side.BUY:
            self.cash -= amount * price + fee
            self.position = round(self.position + amount, 12)  # no binary dust
        else:
            self.cash += amount * price - fee
            self.position = round(self.position - amount, 12) if amount < self.position else 0.0
        fill = Fill(self.bar, side, price, amount, fee, tag, maker)
        self.fills.append(fill)
        self._after_fill(fill)

    def _after_fill(self, fill: Fill) -> None:
        pnl = self.book.on_fill(fill)
        if self.risk is None:
            return
        self._protective_stop()
        if fill.side is Side.SELL and self.risk.on_realised(pnl, self.time_ms, fill.tag):
            self._cancel(lambda order: order.side is Side.BUY)
            if self.position > 0:
                self.market.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=KILL_TAG))

    def _protective_stop(self) -> RestingOrder | None:
        """Place, move or drop the risk engine's stop so it matches the open position."""
        self.resting = [o for o in self.resting if o.tag != MAX_LOSS_TAG]
        price = self.risk.stop_price(self.book) if self.risk is not None else None
        if price is None:
            return None
        protective = float(ceil_to(price, self.filters.tick_size))  # rounded up: loss stays <=
        stop = RestingOrder(
            Side.SELL,
            OrderType.STOP,
            protective,
            None,
            MAX_LOSS_TAG,
            self.bar,
        )
        self.resting.append(stop)
        return stop
