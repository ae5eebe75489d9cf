"""What the venue says of an exchange broker's orders: the answers to its sends, its
lookups (an order whose answer never came, one at work with no news for
`check_after_s`), its cancels. Only a definite -2013 by client id marks an order never
placed; a cancel is done only when the venue confirms it (or, -2011, says the order is no
longer open, whose final state is then read and its fills booked)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from thunes.domain.orders import Fill, OrderStatus
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.venue.booking import Booking
from thunes.engine.venue.leaving import Leaving
from thunes.engine.venue.limits import BrokerLimits
from thunes.engine.venue.protection import Protection
from thunes.engine.venue.working import AtWork, Working, is_protective
from thunes.exchange.ccxt_orders import CcxtOrders, NotFound, StatusUnknown
from thunes.state.reconcile import VenueOrder
from thunes.state.records import OPEN, UNKNOWN
from thunes.state.store import StateStore


class News:
    """Reads and records the venue's word on each order; `client_ids` maps an exchange
    id to our client id (it names the user-data stream's trades)."""

    def __init__(
        self,
        venue: CcxtOrders,
        store: StateStore,
        symbol: str,
        at_work: AtWork,
        booking: Booking,
        protection: Protection,
        leaving: Leaving,
        limits: BrokerLimits,
        clock: Callable[[], float],
    ) -> None:
        self.venue, self.store, self.symbol, self.at_work = venue, store, symbol, at_work
        self.booking, self.protection, self.leaving = booking, protection, leaving
        self.limits, self.clock = limits, clock
        self.client_ids: dict[str, str] = {}

    def resolve_unknown(self) -> bool:
        """Look up every order whose answer never came; True when none is left in doubt."""
        for working in [w for w in self.at_work.working() if w.status == UNKNOWN]:
            try:
                found = self.venue.look_up(self.symbol, working.client_id)
            except StatusUnknown:
                return False
            if found is None:  # a definite -2013: never placed
                why = "never placed (-2013 by client id)"
                self.finish(working, OrderStatus.REJECTED, why)
                if working.order.tag == MAX_LOSS_TAG:  # as a refusal: said, buys paused
                    self.protection.failed(f"{working.client_id} {why}")
                continue
            self.answer(working, found)
        return True

    def answer(
        self, working: Working, order: VenueOrder, trades: Iterable[Fill] | None = None
    ) -> None:
        """What the venue says of one of our orders: its status, its id, its size. Its
        fills (`trades`, else read from the venue) are booked first: a crash between the
        two must not leave a final status whose fills were never recorded."""
        working.exchange_id, working.amount = order.exchange_id, order.amount
        working.checked_s = self.clock()
        self.client_ids[order.exchange_id] = working.client_id
        first = working.status in ("sending", UNKNOWN) and order.status != OrderStatus.REJECTED
        if trades is None:
            self._trades_of(working, order)
        for fill in trades or ():
            self.booking.take(fill, working)
        working.status = order.status
        if is_protective(working.order) and order.status in OPEN:
            self.protection.unprotected = ""  # the protective stop rests (again): entries resume
        self.store.order_status(
            working.client_id,
            order.status,
            self.at_work.now_ms,
            exchange_id=order.exchange_id,
            filled=order.filled,
        )
        at_work = self.at_work
        with at_work.lock:
            if first:
                at_work.events.event(OrderStatus.NEW, working.order, "", working.client_id)
            if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
                at_work.events.event(
                    OrderStatus(order.status), working.order, "", working.client_id
                )
            if order.status not in OPEN and order.filled <= working.filled:
                at_work.orders.pop(working.client_id, None)

    def _trades_of(self, working: Working, order: VenueOrder) -> None:
        """Book the fills of `order` the broker has not seen (by trade id)."""
        if order.filled <= working.filled:
            return
        for fill in self.venue.order_trades(
            self.symbol, replace(order, client_id=working.client_id)
        ):
            self.booking.take(fill, working)

    def finish(self, working: Working, status: OrderStatus, why: str) -> None:
        """An order that ends with no (more) fills: refused, never placed, or gone."""
        self.store.order_status(working.client_id, status, self.at_work.now_ms, reason=why)
        with self.at_work.lock:
            self.at_work.orders.pop(working.client_id, None)
            self.at_work.events.event(status, working.order, why, working.client_id)

    def cancel_wanted(self) -> bool:
        """Ask for each wanted cancel; True if any ended an order."""
        ended = False
        for working in [w for w in self.at_work.working() if w.cancel and w.status in OPEN]:
            try:
                order = self.venue.cancel(self.symbol, working.client_id)
            except NotFound:  # no longer open: read how it ended
                order_or_none = self.venue.look_up(self.symbol, working.client_id)
                if order_or_none is None:
                    continue
                order = order_or_none
            except StatusUnknown:
                continue  # not confirmed: asked again at the next pump
            self.answer(working, order)
            ended = True
        return ended

    def check_working(self) -> None:
        """Look up orders at work with no news for `check_after_s`."""
        now = self.clock()
        for working in self.at_work.working():
            if now - working.checked_s < self.limits.check_after_s:
                continue
            try:
                order = self.venue.look_up(self.symbol, working.client_id)
            except StatusUnknown:
                return
            if order is None:
                self.finish(working, OrderStatus.EXPIRED, "gone from the exchange")
                continue
            self.answer(working, order)
            self.protection.stuck(working, self.leaving.book)
