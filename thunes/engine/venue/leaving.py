"""What an order needs to leave for the venue: the book and average price (read once a
pump), the symbol's open orders that are not ours (counted), and its preparation:
execution/prepare.py (the simulator's own), then Binance's raw filters
(venue_check.leaving), so the venue never has to answer -1013.

Venue limits: MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS count the symbol's open orders that
are not this broker's (read every `foreign_every_s`, and again after the venue answers
one) with its own."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

from thunes.domain.market import VenueFilters
from thunes.domain.orders import OrderIntent, OrderType, Side
from thunes.domain.reasons import DUST, REASONS
from thunes.engine.sim_broker import as_row
from thunes.engine.venue.limits import BrokerLimits
from thunes.engine.venue.working import AtWork
from thunes.engine.venue_check import leaving, stop_limit
from thunes.engine.venue_ledger import Ledger, Wallet
from thunes.exchange.ccxt_orders import Book, CcxtOrders, OrderCallError, RateLimited
from thunes.execution.prepare import VenueRow, prepare, refusal
from thunes.risk import rules

log = logging.getLogger(__name__)

Prepared = tuple[OrderIntent | None, float | None, float, str]
"""The intent as it leaves, a stop's limit, the quote a buy sets aside; or why not."""


class Leaving:
    """Prepares one symbol's orders against the venue's rules (`venue_filters`, which a
    refresh or the venue's "Market is closed" replaces)."""

    def __init__(
        self,
        venue: CcxtOrders,
        symbol: str,
        venue_filters: VenueFilters,
        ledger: Ledger,
        wallet: Wallet,
        at_work: AtWork,
        limits: BrokerLimits,
        clock: Callable[[], float],
    ) -> None:
        self.venue, self.symbol, self.venue_filters = venue, symbol, venue_filters
        self.ledger, self.wallet, self.at_work = ledger, wallet, at_work
        self.limits, self.clock = limits, clock
        self.foreign = (0, 0)  # open orders (and stops among them) on the symbol not ours
        self.foreign_read_s = -math.inf
        self._book: Book | None = None  # read at most once a pump (`book`)

    def fresh(self) -> None:
        """A new pump: the next `book` reads the venue again."""
        self._book = None

    def book(self) -> Book:
        """The symbol's book and average price, read once a pump: what one pump sends (a
        buy, then its protective stop) is checked against the same read, taken moments
        before, rather than paying the venue's two weighted reads again for each."""
        if self._book is None:
            self._book = self.venue.book(self.symbol)
        return self._book

    def count_foreign(self) -> None:
        """Read the symbol's open orders, at most every `foreign_every_s`, and count those
        that are not this broker's (manual ones, another bot's): they take the venue's
        order slots too. A failed read keeps the last count (the venue still refuses an
        order past its limit) and is tried again at the next send; a 429 holds the queue."""
        if self.clock() - self.foreign_read_s < self.limits.foreign_every_s:
            return
        try:
            orders = self.venue.open_orders(self.symbol)
        except RateLimited:
            raise
        except OrderCallError as exc:
            log.warning("%s: open orders not read (%s): the last count stands", self.symbol, exc)
            return
        with self.at_work.lock:
            others = [o for o in orders if o.client_id not in self.at_work.orders]
            self.foreign = (len(others), sum(o.stop_price is not None for o in others))
            self.foreign_read_s = self.clock()

    def prepare(self, intent: OrderIntent, book: Book) -> Prepared:
        """The intent as it leaves (execution/prepare.py, then the raw filters), a stop's
        limit, the quote a buy sets aside; or why it may not leave."""
        market = intent.type is OrderType.MARKET
        price = (book.ask if intent.side is Side.BUY else book.bid) if market else math.nan
        position = self.ledger.position
        free_base = self.at_work.free_base(position)
        if not market and intent.side is Side.SELL and intent.amount is None:
            if free_base <= 0:
                return None, None, 0.0, REASONS[DUST]
            intent = replace(intent, amount=free_base)  # what is held and free, as it is now
        held_by_sells = free_base < position and not market
        if held_by_sells and intent.side is Side.SELL and (intent.amount or 0) > free_base + 1e-12:
            return None, None, 0.0, _held_by_sells(intent.amount or 0.0, free_base)
        v, free = self.ledger.venue_row, self.wallet.free()
        reason, price, amount = prepare(as_row(intent), price, free, free_base, v)
        stop = intent.type is OrderType.STOP
        if not reason and stop:  # preparation leaves a stop's minimums to the broker
            reason = refusal(False, False, price, amount, v[VenueRow.TAKER], 0.0, True, v)
        if reason:
            return None, None, 0.0, REASONS[int(reason)]
        f = self.venue_filters
        limit = (
            stop_limit(price, f, self.ledger.tick, self.limits.stop_limit_offset) if stop else None
        )
        with self.at_work.lock:
            mine = len(self.at_work.orders)
            my_stops = sum(w.order.type is OrderType.STOP for w in self.at_work.orders.values())
        open_orders, open_stops = self.foreign[0] + mine, self.foreign[1] + my_stops
        why = leaving(
            self.symbol,
            intent.side,
            intent.type,
            price,
            amount,
            f,
            book,
            open_orders,
            open_stops,
            self.limits.edge,
            limit,
        )
        if why:
            return None, None, 0.0, why
        quote = intent.quote if market and intent.quote and intent.quote <= free else None
        prepared = OrderIntent(
            intent.side,
            intent.type,
            None if quote else amount,
            quote,
            None if market else price,
            intent.tag,
        )
        reserve = 0.0
        if intent.side is Side.BUY:
            fee = v[VenueRow.TAKER] if market else v[VenueRow.MAKER]
            on_top = 0.0 if v[VenueRow.FEE_FROM_RECEIVED] else fee
            reserve = quote or amount * price * (1 + on_top)
        return prepared, limit, reserve, ""

    def committed(self) -> float:
        """The quote this symbol has at work: what it holds, at cost, and its buys'."""
        return self.ledger.cost + self.at_work.set_aside()

    def beyond_notional(self, order: OrderIntent, book: Book) -> str:
        """Why a prepared buy would take the quote committed to this symbol, or to all the
        wallet's, beyond the risk rules' notional limits (rules.within_notional, as the
        simulator asks it), or ''. A refusal counts."""
        rk = self.ledger.risk_vector
        if not rules.caps_notional(rk):
            return ""
        notional = order.quote or (order.amount or 0.0) * (order.price or book.ask)
        code = rules.within_notional(notional, self.committed(), self.wallet.committed(), rk)
        rules.refused(code, rk)
        return REASONS[code] if code else ""


def _held_by_sells(wanted: float, free: float) -> str:
    return (
        f"sell of {wanted:.10g}: only {free:.10g} of the position is free, the rest is held"
        " by sells at work (cancel them first)"
    )
