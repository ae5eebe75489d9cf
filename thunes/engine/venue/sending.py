"""Sending an exchange broker's queue: each intent prepared at the moment it leaves,
recorded in the store (`order_sending`, which names it) and only then sent. A 429 holds
the queue for the venue's Retry-After (the intent goes first again, under a new id); an
answer that never came makes the order UNKNOWN, looked up before anything else leaves;
repeated rejections trip the circuit breaker."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from thunes.domain.orders import ClientIds, OrderIntent, OrderStatus, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.venue.breaker import Breaker
from thunes.engine.venue.leaving import Leaving
from thunes.engine.venue.news import News
from thunes.engine.venue.protection import Protection
from thunes.engine.venue.working import AtWork, Working
from thunes.engine.venue_ledger import Wallet
from thunes.exchange.ccxt_orders import Book, CcxtOrders, OrderCallError, RateLimited, Rejected
from thunes.state.records import UNKNOWN
from thunes.state.store import StateStore

_CLOSED = "Market is closed"  # Binance's -2010 on a symbol that does not trade


class Sender:
    """Sends what `at_work` has queued; `on_outbox` is told what is still queued once an
    intent has been recorded or refused, before anything goes out: the session's
    checkpoint keeps the queue across a crash."""

    def __init__(
        self,
        venue: CcxtOrders,
        store: StateStore,
        ids: ClientIds,
        at_work: AtWork,
        wallet: Wallet,
        leaving: Leaving,
        news: News,
        protection: Protection,
        breaker: Breaker,
        clock: Callable[[], float],
    ) -> None:
        self.venue, self.store, self.ids, self.at_work = venue, store, ids, at_work
        self.wallet, self.leaving, self.news = wallet, leaving, news
        self.protection, self.breaker, self.clock = protection, breaker, clock
        self.on_outbox: Callable[[list[OrderIntent]], None] | None = None

    def send_queued(self) -> bool:
        """Send what is queued; True when a sell waits for the protective stop's cancel."""
        counted = False
        outbox = self.at_work.outbox
        while outbox:
            if self.breaker.why:
                self.at_work.refuse_queue(self.breaker.why)
                return False
            intent = outbox[0]
            if intent.side is Side.SELL and self.protection.waits_for_stop(intent):
                return True  # the protective stop holds the base: the cancel step withdraws it
            book = self.leaving.book()
            if not counted:
                self.leaving.count_foreign()
                counted = True
            with self.at_work.lock:
                outbox.popleft()
            if not self.leave(intent, book):
                return False
        return False

    def leave(self, intent: OrderIntent, book: Book) -> bool:
        """Prepare, record and send one intent (refused with its reason if it may not
        leave); False: stop sending for now."""
        at_work = self.at_work
        with self.wallet.lock:  # from reading the free quote to setting the order's aside
            prepared, limit, reserve, why = self.leaving.prepare(intent, book)
            if prepared is not None and not why and intent.side is Side.BUY:
                why = self.leaving.beyond_notional(prepared, book)
            if why or prepared is None:
                with at_work.lock:
                    at_work.refuse(intent, why)
                self._dequeued()
                if intent.tag == MAX_LOSS_TAG:
                    self.protection.failed(why)
                return True
            client_id = self.store.order_sending(self.ids, prepared, at_work.now_ms)
            working = Working(
                client_id, prepared, "sending", self.clock(), limit=limit, reserve=reserve
            )
            with at_work.lock:
                at_work.orders[client_id] = working
        self._dequeued()  # recorded, then off the saved queue, then sent: never twice
        return self._send(working)

    def _dequeued(self) -> None:
        if self.on_outbox is not None:
            self.on_outbox(self.at_work.queued())

    def _send(self, working: Working) -> bool:
        """Place one recorded order; False: stop sending for now."""
        try:
            placed = self.venue.place(
                self.ids.symbol, working.client_id, working.order, working.limit
            )
        except RateLimited:
            self._unsend(working)
            raise
        except Rejected as exc:
            self._rejected(working, str(exc))
            return True
        except OrderCallError:  # StatusUnknown, or an answer we could not read: may exist
            self._unknown(working)
            return self.news.resolve_unknown()
        self.breaker.placed()
        self.news.answer(working, placed.order, placed.trades)
        return True

    def _unsend(self, working: Working) -> None:
        """A 429: refused before matching, so this id was never placed. The intent goes
        first (prepared again, under a new id) when the queue moves again."""
        with self.at_work.lock:
            del self.at_work.orders[working.client_id]
            self.at_work.outbox.appendleft(working.order)
        self.store.order_status(
            working.client_id,
            OrderStatus.REJECTED,
            self.at_work.now_ms,
            reason="rate limited: re-sent",
        )

    def _rejected(self, working: Working, why: str) -> None:
        """The venue refused it; a run of refusals trips the breaker."""
        self.news.finish(working, OrderStatus.REJECTED, why)
        self.breaker.rejected(why)
        if _CLOSED in why:  # the venue stopped the symbol before our markets said so
            self.leaving.venue_filters = replace(self.leaving.venue_filters, status="CLOSED")
        if "MAX_NUM" in why:
            self.leaving.foreign_read_s = -math.inf  # others' orders: read them again
        if working.order.tag == MAX_LOSS_TAG:
            self.protection.failed(why)

    def _unknown(self, working: Working) -> None:
        working.status = UNKNOWN
        self.store.order_status(working.client_id, UNKNOWN, self.at_work.now_ms)
