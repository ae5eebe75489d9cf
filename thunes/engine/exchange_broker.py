"""The exchange broker: one symbol's orders sent to a real venue (Binance spot, through
ccxt), behind the same `Broker` seam as the simulated one. It lives beside that one
(sim_broker.py), whose lane bookkeeping it shares (venue_ledger.py): execution/ sits
under engine/ and risk/, which both import it, so a broker there would close a cycle.

Sync and async: `submit` is the engine's synchronous call, so it never touches the network.
It runs the risk check (risk/rules.py) and queues the intent. `pump()` does the network
work, blocking, and the live engine runs it off the event loop: `await broker.work()`
(`asyncio.to_thread(pump)`) after it has submitted an event's intents, and on a timer.
Preparation (execution/prepare.py, the simulator's own) runs in `pump`, at the moment the
order leaves, against a fresh book and average price, followed by Binance's raw filters
(exchange/binance_checks.py), so the venue never has to answer -1013. One lock guards
the broker's state between the two threads; no network call holds it.

What `pump` does, in this order:
1. orders whose answer never came (UNKNOWN) are looked up by client id before anything
   else is sent; only a definite -2013 marks one never placed, and none is sent again;
2. queued intents are prepared, recorded in the store (`order_sending`, which names them)
   and only then sent; a 429 holds the queue for the venue's Retry-After, and repeated
   rejections trip a circuit breaker that refuses new orders for a while;
3. cancels, each done only when the venue confirms it (or, -2011, says the order is no
   longer open, whose final state is then read and its fills booked); then the queue
   again, for a sell that waited for a stop's base;
4. orders at work for more than `check_after_s` are looked up, and the trades of those
   that filled are read;
5. the protective stop the risk rules want is placed, if none rests (venue/protection.py).
Every fill is booked once, by trade id (venue/booking.py).

Wiring (the live engine): build it after the start's reconciliation, with the quote
balance as `cash`; call `at(market time)` before each event's `submit`s, then
`await work()`; also `await work()` on a timer (every second or two, which polls orders
at work); hand the user-data stream's trades to `report` (ccxt_orders.trade_fill names
them through `client_ids`), and to `recheck` the orders it says ended and, after each of
its (re)connects, all of them (feeds/user_feed.UserFeed does both); take fills from
`on_bar` or, between bars, `new_fills()`.

Risk: orders pass `rules.allows`, a prepared buy `rules.within_notional` (over what every
symbol on the wallet has committed), and each fill goes through the risk rules'
`after_fill` (venue_ledger.py), as in the simulator: daily loss, cooldown, the
kill-switch (its buys withdrawn, the position sold) and the protective stop at
max_loss_per_trade, all saved with the fill. Every call names the symbol's own lane of
the shared risk engine (`RiskEngine.lane`): its cool-down and the last price its
fat-finger guard measures from are its own.

Its parts live in engine/venue/, one concern a module (see its __init__): the protective
stop and the max-loss watch (protection.py), fills and fees paid in a third asset
(booking.py), the venue's order limits and the preparation (leaving.py).

A symbol the venue does not trade (HALT, BREAK, or "Market is closed." from the venue)
refuses new orders with its status until `refresh` hands the broker the markets read
again (CcxtExchange.refresh_markets, on the session's job). `cash` may be a `Wallet`
shared by the brokers of several symbols on one account: none spends the quote another
has set aside.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from thunes.domain.market import Fees, MarketFilters, VenueFilters
from thunes.domain.orders import (
    CancelOrders,
    ClientIds,
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderType,
    Side,
    SkippedOrder,
)
from thunes.domain.reasons import REASONS
from thunes.domain.rows import ORDER
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.venue.booking import Booking, FeePrices
from thunes.engine.venue.breaker import Breaker
from thunes.engine.venue.events import Events
from thunes.engine.venue.leaving import Leaving
from thunes.engine.venue.limits import BrokerLimits
from thunes.engine.venue.news import News
from thunes.engine.venue.protection import Protection
from thunes.engine.venue.sending import Sender
from thunes.engine.venue.working import AtWork, Working
from thunes.engine.venue_ledger import Ledger, Wallet
from thunes.exchange.binance_checks import halted
from thunes.exchange.ccxt_orders import CcxtOrders, RateLimited, StatusUnknown
from thunes.execution.broker import OpenOrder
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import STATE, RiskEngine
from thunes.state.records import UNKNOWN, UNRESOLVED, Position
from thunes.state.store import StateStore

__all__ = ["BrokerLimits", "ExchangeBroker", "Working"]
log = logging.getLogger(__name__)


class ExchangeBroker:
    """One symbol's broker on a venue account. `cash`: the quote balance at start, or the
    account's `Wallet` when brokers of several symbols share it."""

    def __init__(
        self,
        orders: CcxtOrders,
        store: StateStore,
        ids: ClientIds,
        fees: Fees,
        filters: MarketFilters,
        venue_filters: VenueFilters,
        sizer: Sizer,
        cash: float | Wallet,
        risk: RiskEngine | None = None,
        limits: BrokerLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue, self.store, self.ids, self.symbol = orders, store, ids, ids.symbol
        self.limits = limits = limits or BrokerLimits()
        self.clock = clock
        self.paused = ""  # why entries are paused (a reconciliation's mismatch), or ""
        held = store.positions().get(self.symbol, Position())
        rk = rules.risk_vector(None, 0.0) if risk is None else risk.vector
        self.lane = 0 if risk is None else risk.lane(self.symbol)  # its rows in the vector
        self.wallet = cash if isinstance(cash, Wallet) else Wallet(cash)
        rows = STATE if risk is None else risk.rows(self.symbol)
        self.ledger = Ledger(fees, filters, sizer, self.wallet, held, rk, self.lane, rows)
        self._events = Events(self.symbol)
        self._at_work = at_work = AtWork(self._events)
        self._leaving = Leaving(
            orders, self.symbol, venue_filters, self.ledger, self.wallet, at_work, limits, clock
        )
        self.wallet.join(at_work.set_aside, self._leaving.committed)
        self._protection = Protection(self.symbol, at_work, self.ledger, limits, clock)
        fee_price = FeePrices(orders, self.symbol, limits.fee_price_every_s, clock)
        self._booking = Booking(
            self.symbol, store, self.ledger, self.wallet, at_work, self._protection, fee_price
        )
        self._news = News(
            orders,
            store,
            self.symbol,
            at_work,
            self._booking,
            self._protection,
            self._leaving,
            limits,
            clock,
        )
        self._breaker = Breaker(limits, clock)
        self._sender = Sender(
            orders,
            store,
            ids,
            at_work,
            self.wallet,
            self._leaving,
            self._news,
            self._protection,
            self._breaker,
            clock,
        )
        self._paused_until = 0.0  # Retry-After
        self._pumping = threading.Lock()  # one pump at a time: two would send an intent twice
        self._resume()

    def _resume(self) -> None:
        """Take back this symbol's orders the store holds open or unresolved (after a
        restart, once reconciled): they are checked at the first pump, and an order
        recorded but never answered (the process died in between) is UNKNOWN: looked up
        before anything is sent. A protective stop among them is the one the rules want."""
        records = [r for r in self.store.orders() if r.symbol == self.symbol]
        booked: dict[str, float] = {}
        for fill in self.store.fills():
            booked[fill.order_id] = booked.get(fill.order_id, 0.0) + fill.amount
        for r in records:
            intent = OrderIntent(Side(r.side), OrderType(r.type), r.amount, r.quote, r.price, r.tag)
            status = UNKNOWN if r.status in UNRESOLVED else r.status
            self._at_work.orders[r.client_id] = Working(
                r.client_id,
                intent,
                status,
                -math.inf,
                r.exchange_id,
                r.amount or 0.0,
                booked.get(r.client_id, 0.0),
                reserve=(r.price or 0.0) * (r.amount or 0.0) or (r.quote or 0.0),
            )
            if r.exchange_id:
                self.client_ids[r.exchange_id] = r.client_id
            if r.tag == MAX_LOSS_TAG and r.type == OrderType.STOP.value and r.price:
                self._protection.at = r.price
        self._protection.resume()

    # ---- what the engine and the session read (the Broker seam's lists: the engine
    # drains them by putting an empty one in place)
    @property
    def fills(self) -> list[Fill]:
        return self._booking.fills

    @fills.setter
    def fills(self, fills: list[Fill]) -> None:
        self._booking.fills = fills

    @property
    def skipped(self) -> list[SkippedOrder]:
        return self._events.skipped

    @skipped.setter
    def skipped(self, skipped: list[SkippedOrder]) -> None:
        self._events.skipped = skipped

    @property
    def events(self) -> list[OrderEvent]:
        return self._events.events

    @events.setter
    def events(self, events: list[OrderEvent]) -> None:
        self._events.events = events

    @property
    def client_ids(self) -> dict[str, str]:
        """Exchange id -> client id: names the user-data stream's trades."""
        return self._news.client_ids

    @property
    def unprotected(self) -> str:
        """Why the position has no protective stop resting, or ''."""
        return self._protection.unprotected

    @property
    def venue_filters(self) -> VenueFilters:
        return self._leaving.venue_filters

    @property
    def on_outbox(self) -> Callable[[list[OrderIntent]], None] | None:
        """Told what is still queued once an intent has been recorded or refused, before
        anything goes out: the session's checkpoint keeps the queue across a crash."""
        return self._sender.on_outbox

    @on_outbox.setter
    def on_outbox(self, told: Callable[[list[OrderIntent]], None] | None) -> None:
        self._sender.on_outbox = told

    # ---- what the account holds
    @property
    def cash(self) -> float:
        return self.ledger.cash

    @property
    def position(self) -> float:
        return self.ledger.position

    @property
    def holdings(self) -> float:
        return self.position + self.ledger.dust

    @property
    def committed(self) -> bool:
        """Holding, or about to: a buy queued, sending or at work."""
        buying = self._at_work.buying()
        return self.position > 0 or buying

    @property
    def working(self) -> list[Working]:
        """The orders sent and not done, oldest first."""
        return self._at_work.working()

    def open_orders(self) -> list[OpenOrder]:
        """The orders sent and not done, as the Broker seam lists them."""
        return [
            OpenOrder(
                w.order.side,
                w.order.type,
                math.nan if w.order.price is None else w.order.price,
                w.rest or None,
                w.order.tag,
                w.client_id,
                "canceling" if w.cancel else w.status,
            )
            for w in self.working
        ]

    @property
    def stop(self) -> Working | None:
        """The protective stop at work (resting, or its cancel not yet confirmed), if any."""
        return next(iter(self._at_work.protective()), None)

    @property
    def breaker(self) -> str:
        """Why sending is paused by the circuit breaker, or ''."""
        return self._breaker.why

    def equity(self, price: float) -> float:
        return self.cash + self.holdings * price

    def at(self, time_ms: int, last_price: float = math.nan) -> None:
        """Market time and the last price: a tripped kill-switch's orders queued (rules.obey),
        and the max-loss level watched where sells at work hold base no stop can cover."""
        self._at_work.now_ms = time_ms
        rk = self.ledger.risk_vector
        rules.mark(self.lane, last_price, float(time_ms), rk)
        if rules.owes(self.lane, rk):
            out = np.empty((rules.MAX_COMMANDS, ORDER))
            with self._at_work.lock:
                self._protection.apply(out[: rules.obey(self.lane, self.position, rk, out, 0)])
        self._protection.watch(last_price)

    def refresh(self, filters: MarketFilters, venue_filters: VenueFilters) -> None:
        """The venue's markets as read again (CcxtExchange.refresh_markets, on a job): a
        symbol trading again takes orders again; changed filters bind the next order."""
        with self._at_work.lock:
            if venue_filters.status != self.venue_filters.status:
                log.warning(
                    "%s: status %s -> %s",
                    self.symbol,
                    self.venue_filters.status,
                    venue_filters.status,
                )
            self._leaving.venue_filters = venue_filters
            self.ledger.rules(filters)

    # ---- the engine's calls
    def submit(self, command: Command, open_positions: int = 0) -> None:
        """Queue an order for `pump` (or refuse it now: halted, breaker, unprotected,
        risk), or ask for a cancel."""
        at_work = self._at_work
        with at_work.lock:
            if isinstance(command, CancelOrders):
                at_work.cancel(command.tag)
                return
            why = halted(self.symbol, self.venue_filters) or self.breaker
            buy, rk = command.side is Side.BUY, self.ledger.risk_vector
            if not why:
                price = command.price if command.type is OrderType.LIMIT else None
                code = rules.allows(
                    self.lane,
                    buy,
                    math.nan if price is None else price,
                    float(at_work.now_ms),
                    open_positions,
                    self.committed if buy else True,
                    len(at_work.orders) + len(at_work.outbox),
                    rk,
                )
                if code:
                    rules.refused(code, rk)
                    why = REASONS[code]
                elif buy and (self.unprotected or self.paused):
                    why = f"entries paused: {self.unprotected or self.paused}"
            if why:
                at_work.refuse(command, why)
            else:
                at_work.outbox.append(command)
                rules.sent(float(at_work.now_ms), rk)

    def flatten(self) -> None:
        """The kill-switch's flattening on command: every order withdrawn, the position's
        market sell queued for `pump` (after the withdrawn sells' cancels are confirmed)
        as the kill-switch queues it."""
        out = np.empty((rules.MAX_COMMANDS, ORDER))
        with self._at_work.lock:
            self._protection.apply(out[: rules.flatten(self.position, out, 0)])

    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        """The fills the venue reported since they were last taken (the venue fills, not
        the bar)."""
        with self._at_work.lock:
            self._at_work.bar, self._at_work.now_ms = bar, time_ms
        return self.new_fills()

    def new_fills(self) -> list[Fill]:
        """The fills booked since the last call (or bar): for an engine that hands fills
        to its strategy as they come, between bars."""
        return self._booking.taken()

    def report(self, fills: Iterable[Fill]) -> None:
        """Fills from the user-data stream (order_id: the client id, via `client_ids`);
        those of other orders and those booked already are left."""
        for fill in fills:
            working = self._at_work.orders.get(fill.order_id)
            if working is not None:
                self._booking.take(fill, working)

    def recheck(self, client_ids: Iterable[str] | None = None) -> None:
        """Look these orders at work up at the next pump (all of them if None): the stream
        says they changed, or it was down and may have missed it; REST is the truth."""
        wanted = None if client_ids is None else set(client_ids)
        with self._at_work.lock:
            for working in self._at_work.orders.values():
                if wanted is None or working.client_id in wanted:
                    working.checked_s = -math.inf

    @property
    def outbox(self) -> list[OrderIntent]:
        """The intents queued and not yet recorded (the session's checkpoint)."""
        return self._at_work.queued()

    def restore(self, queued: Iterable[OrderIntent], undelivered: Iterable[Fill]) -> None:
        """After a restart: the intents a checkpoint held queued, and the fills booked
        that the strategy had not heard of yet (`new_fills` hands them over)."""
        with self._at_work.lock:
            self._at_work.outbox.extend(queued)
            self._booking.new.extend(undelivered)

    def book_recovered(self, fills: Iterable[Fill], at_start: bool) -> None:
        """Book fills a reconciliation found that the store recorded unbooked."""
        self._booking.recovered(fills, at_start)

    async def work(self) -> None:
        """`pump` on a worker thread: what the live engine awaits."""
        await asyncio.to_thread(self.pump)

    def pump(self) -> None:
        """Resolve, send, cancel, check and protect (see the module docstring). Blocking
        I/O; a call made while another runs waits for it."""
        with self._pumping:
            self._pump()

    def _pump(self) -> None:
        if self.clock() < self._paused_until:
            return
        self._leaving.fresh()
        news, sender = self._news, self._sender
        try:
            if not news.resolve_unknown():
                return  # nothing new leaves while an order's fate is unknown
            news.cancel_wanted()  # first: a cancel frees the slots and funds a send needs
            if sender.send_queued() and news.cancel_wanted():
                sender.send_queued()  # a sell that waited for a stop's cancel leaves now
            news.check_working()
            wanted = self._protection.wanted(self._leaving.book)
            if wanted is not None:
                self._leaving.count_foreign()
                sender.leave(*wanted)
        except RateLimited as exc:
            self._paused_until = self.clock() + exc.retry_after_s
        except StatusUnknown:
            return  # a read went unanswered: the next pump asks again
