"""A second broker, in plain Python, on the seam paper and live brokers plug into.

It implements `thunes.execution.broker.Broker` with a book of its own and keeps nothing of
the simulated broker but the shared functions every broker must call: order preparation
(`prepare`, `refusal`), the risk rules (`rules.allows`, `rules.refused`,
`rules.after_fill`) and the intent's row format. Its matching follows the documented
conventions (sim_broker.py): market orders at the next open, slipped the adverse way;
limits filled only when traded through; stops at their price or the gapped open; the path
open -> low -> high; orders placed after a fill rest from the next bar, the risk engine's
stop at once. If it gives the compiled broker's fills, the seam carries everything an
engine needs, and the rules live in the shared functions, not in the broker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import (
    CancelOrders,
    Command,
    Fill,
    OrderEvent,
    OrderStatus,
    OrderType,
    Side,
    SkippedOrder,
)
from thunes.domain.reasons import REASONS
from thunes.domain.rows import KILL_CODE, MAX_LOSS_CODE, ORDER
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG, TAGS
from thunes.engine.sim_broker import as_row, venue
from thunes.execution.broker import OpenOrder
from thunes.execution.prepare import VenueRow, prepare, refusal
from thunes.execution.rounding import to_grid
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import RiskEngine

_KINDS = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)


@dataclass
class _Order:
    side: Side
    type: OrderType
    price: float
    amount: float  # NaN: the whole position when it fills
    quote: float
    tag: str
    active_from: int


@dataclass
class PythonAccount:
    """The quote every symbol's broker shares."""

    cash: float
    brokers: list[PythonBroker] = field(default_factory=list)

    def free(self) -> float:
        locked = 0.0
        for broker in self.brokers:
            for o in broker.book:
                if o.type is not OrderType.MARKET and o.side is Side.BUY:
                    amount = 0.0 if math.isnan(o.amount) else o.amount
                    locked += o.price * amount * (1 + broker.fees.maker)
        return self.cash - locked


class PythonBroker:
    def __init__(
        self,
        fees: Fees,
        slippage: float,
        filters: MarketFilters,
        sizer: Sizer,
        account: PythonAccount,
        risk: RiskEngine | None = None,
    ) -> None:
        self.fees, self.account, self.risk = fees, account, risk
        self.venue = np.array(venue(fees, slippage, filters, sizer), dtype=np.float64)
        self.rk = rules.risk_vector(None, 0.0) if risk is None else risk.vector
        self.book: list[_Order] = []
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []
        self.position = 0.0
        self.dust = 0.0  # what a fee kept in base left under one step
        self.basis = (0.0, 0.0)  # amount and cost (fees in) of the open position
        self.bar, self.time_ms = 0, 0
        self.lane = len(account.brokers)  # its rows in the risk vector
        account.brokers.append(self)

    # ---- Account
    @property
    def cash(self) -> float:
        return self.account.cash

    @property
    def holdings(self) -> float:
        return self.position + self.dust

    def equity(self, price: float) -> float:
        return self.cash + self.position * price

    @property
    def committed(self) -> bool:
        return self.position > 0 or any(o.side is Side.BUY for o in self.book)

    def open_orders(self) -> list[OpenOrder]:
        return [
            OpenOrder(
                o.side,
                o.type,
                o.price,
                None if math.isnan(o.amount) else o.amount,
                o.tag,
                "",
                "new",
            )
            for o in self.book
            if o.type is not OrderType.MARKET
        ]

    def at(self, time_ms: int, last_price: float = math.nan) -> None:
        self.time_ms = time_ms
        rules.mark(self.lane, last_price, float(time_ms), self.rk)
        if rules.owes(self.lane, self.rk):
            out = np.empty((rules.MAX_COMMANDS, ORDER))
            self._carry_out(out[: rules.obey(self.lane, self.position, self.rk, out, 0)])

    # ---- orders in
    def submit(self, command: Command, open_positions: int = 0) -> None:
        if isinstance(command, CancelOrders):
            self._cancel(lambda o: o.tag.startswith(command.tag))
            return
        row = as_row(command)
        buy = command.side is Side.BUY
        limit = command.price if command.type is OrderType.LIMIT else None
        working = len([o for o in self.book if o.tag != MAX_LOSS_TAG])
        reason = rules.allows(
            self.lane,
            buy,
            math.nan if limit is None else limit,
            float(self.time_ms),
            open_positions,
            self.committed if buy else True,
            working,
            self.rk,
        )
        if reason:
            rules.refused(reason, self.rk)
            price = math.nan if command.price is None else command.price
            amount = math.nan if command.amount is None else command.amount
            self._skip(command.side, command.type, price, amount, reason, command.tag)
            return
        if command.type is OrderType.MARKET:
            amount = math.nan if command.amount is None else command.amount
            quote = math.nan if command.quote is None else command.quote
            order = _Order(command.side, command.type, math.nan, amount, quote, command.tag, 0)
            self.book.append(order)
            rules.sent(float(self.time_ms), self.rk)
            self._event(OrderStatus.NEW, order)
            return
        free = self.account.free() if command.side is Side.BUY else 0.0
        reason, price, amount = prepare(row, math.nan, free, self.position, self.venue)
        if reason:
            amount = math.nan if amount == 0 else amount
            self._skip(command.side, command.type, price, amount, reason, command.tag)
            return
        order = _Order(command.side, command.type, price, amount, math.nan, command.tag, 0)
        order.active_from = self.bar + 1
        self.book.append(order)
        rules.sent(float(self.time_ms), self.rk)
        self._event(OrderStatus.NEW, order)

    # ---- a bar of market
    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        self.bar, self.time_ms, first = bar, time_ms, len(self.fills)
        queued = [o for o in self.book if o.type is OrderType.MARKET]
        self.book = [o for o in self.book if o.type is not OrderType.MARKET]
        for order in queued:
            self._fill_market(order, open_)
        self._descend(open_, low)
        rising = sorted(
            (o for o in self.book if self._met_going_up(o, high)), key=lambda o: o.price
        )
        for order in rising:
            if order in self.book:
                self._fill_resting(order, order.price, maker=True)
        return self.fills[first:]

    def _descend(self, open_: float, low: float) -> None:
        """Buy limits and stops met on the way down, highest first (stops on ties, then in
        the order placed); the stop the risk engine moves after a fill is met too."""
        met = [(-min(o.price, open_), o.type is OrderType.LIMIT, n, o) for n, o in
               enumerate(self.book) if self._met_going_down(o, low)]  # fmt: skip
        placed = len(met)
        while met:
            met.sort(key=lambda e: (e[0], e[1], e[2]))
            key, _, _, order = met.pop(0)
            if order not in self.book:
                continue
            level, before = -key, len(self.fills)
            if order.type is OrderType.STOP:
                slipped = to_grid(
                    level * (1 - self.venue[VenueRow.SLIP]), self.venue[VenueRow.TICK], False
                )
                self._fill_resting(order, slipped, maker=False)
            else:
                self._fill_resting(order, order.price, maker=True)
            if len(self.fills) == before:
                continue
            stop = next((o for o in self.book if o.tag == MAX_LOSS_TAG), None)
            if stop is not None and low <= stop.price:
                met.append((-min(stop.price, level), False, placed, stop))
                placed += 1

    def _met_going_down(self, o: _Order, low: float) -> bool:
        if o.active_from > self.bar:
            return False
        limit_buy = o.type is OrderType.LIMIT and o.side is Side.BUY and low < o.price
        return limit_buy or (o.type is OrderType.STOP and low <= o.price)

    def _met_going_up(self, o: _Order, high: float) -> bool:
        sell = o.type is OrderType.LIMIT and o.side is Side.SELL
        return sell and o.active_from <= self.bar and high > o.price

    def _fill_market(self, order: _Order, open_: float) -> None:
        buy = order.side is Side.BUY
        if not buy and self.position <= 0:
            return
        slip = self.venue[VenueRow.SLIP]
        price = to_grid(open_ * (1 + slip if buy else 1 - slip), self.venue[VenueRow.TICK], buy)
        free = self.account.free() if buy else 0.0
        row = self._row(order)
        why, price, amount = prepare(row, price, free, self.position, self.venue)
        if why:
            self._skip(order.side, order.type, price, amount, why, order.tag)
            return
        self._execute(order, price, amount, self.venue[VenueRow.TAKER], False)

    def _fill_resting(self, order: _Order, price: float, maker: bool) -> None:
        self.book.remove(order)
        buy, limit = order.side is Side.BUY, order.type is OrderType.LIMIT
        amount = self.position if math.isnan(order.amount) else order.amount
        if not buy:
            amount = min(amount, self.position)
            if amount <= 0:
                return
        fee = self.venue[VenueRow.MAKER] if maker else self.venue[VenueRow.TAKER]
        free = self.account.free() if buy and limit else 0.0
        why = refusal(buy, limit, price, amount, fee, free, True, self.venue)
        if why:
            self._skip(order.side, order.type, price, amount, why, order.tag)
            return
        self._execute(order, price, amount, fee, maker)

    def _execute(
        self, order: _Order, price: float, amount: float, rate: float, maker: bool
    ) -> None:
        buy, fee = order.side is Side.BUY, amount * price * rate
        held, cost = self.basis
        withheld, kept, cost_fee = 0.0, amount, fee
        if buy and self.fees.from_received:  # the fee out of the base received
            withheld = amount * rate
            balance = self.position + self.dust + (amount - withheld)
            sellable = to_grid(balance, self.venue[VenueRow.STEP], False)
            self.dust = balance - sellable
            kept = float(np.round(sellable - self.position, 12))
            cost_fee = (amount - kept) * price
            self.account.cash -= amount * price
        elif buy:
            self.account.cash -= amount * price + fee
        if buy:
            self.position = float(np.round(self.position + kept, 12))
            self.basis, pnl = (held + kept, cost + (kept * price + cost_fee)), 0.0
        else:
            self.account.cash += amount * price - fee
            self.position = (
                float(np.round(self.position - amount, 12)) if amount < self.position else 0.0
            )
            share = min(1.0, amount / held) if held > 0 else 1.0
            left = max(0.0, held - amount)
            self.basis = (left, cost - cost * share if left else 0.0)
            pnl = amount * price - fee - cost * share
        self.fills.append(
            Fill(
                self.bar,
                order.side,
                price,
                amount,
                fee,
                order.tag,
                maker,
                fee_base=withheld,
                time_ms=self.time_ms,
                received=kept,
            )
        )
        self._react(not buy, pnl, price, order.tag == MAX_LOSS_TAG)

    def _react(self, sell: bool, pnl: float, price: float, by_max_loss: bool) -> None:
        """Carry out the risk engine's reactions (rules.after_fill), as the seam requires."""
        out = np.empty((rules.MAX_COMMANDS, ORDER))
        held, cost = self.basis
        tick = self.venue[VenueRow.TICK]
        args = (self.lane, sell, pnl, price, float(self.time_ms), by_max_loss, held, cost)
        args = (*args, self.position, tick)
        self._carry_out(out[: rules.after_fill(*args, self.rk, out)])

    def _carry_out(self, rows: np.ndarray) -> None:
        for row in rows.tolist():
            kind, tag = _KINDS[int(row[1])] if row[1] < 3 else None, int(row[5])
            if kind is None and tag == rules.EVERY_BUY:
                self._cancel(lambda o: o.side is Side.BUY)
            elif kind is None and tag == rules.EVERY_ORDER:
                self._cancel(lambda o: True)
            elif kind is None:
                self.book = [o for o in self.book if o.tag != MAX_LOSS_TAG]
            elif tag == MAX_LOSS_CODE:
                stop = _Order(Side.SELL, kind, row[2], math.nan, math.nan, MAX_LOSS_TAG, self.bar)
                self.book.append(stop)
            elif tag == KILL_CODE:
                self.book.append(_Order(Side.SELL, kind, math.nan, math.nan, math.nan, KILL_TAG, 0))

    # ---- records
    def _cancel(self, hit: Callable[[_Order], bool]) -> None:
        keep = []
        for o in self.book:
            if hit(o):
                if o.tag != MAX_LOSS_TAG:
                    self._event(OrderStatus.CANCELED, o)
            else:
                keep.append(o)
        self.book = keep

    def _skip(
        self, side: Side, type_: OrderType, price: float, amount: float, reason: int, tag: str
    ) -> None:
        self.skipped.append(SkippedOrder(self.bar, side, price, amount, REASONS[reason], tag))
        self.events.append(
            OrderEvent(OrderStatus.REJECTED, side, type_, price, tag, REASONS[reason])
        )

    def _event(self, status: OrderStatus, order: _Order) -> None:
        self.events.append(OrderEvent(status, order.side, order.type, order.price, order.tag))

    def _row(self, order: _Order) -> npt.NDArray[np.float64]:
        row = np.zeros(ORDER)
        row[:6] = [
            1.0 if order.side is Side.BUY else 0.0,
            _KINDS.index(order.type),
            order.price,
            order.amount,
            order.quote,
            TAGS.code(order.tag),
        ]
        return row
