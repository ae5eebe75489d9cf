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
   longer open, whose final state is then read and its fills booked);
4. orders at work for more than `check_after_s` are looked up, and the trades of those
   that filled are read.
Every fill (from an order's answer, a poll, or `report` from the user-data stream) is
booked once, by trade id, in the store's transaction; a buy's position is what it
received net of the fee the venue took in base, on the lot step (the rest is dust that
is held, never sold), so an exit sells exactly what can be sold.

Wiring (the live engine): build it after the start's reconciliation, with the quote
balance as `cash`; call `at(market time)` before each event's `submit`s, then
`await work()`; also `await work()` on a timer (every second or two, which polls orders
at work); hand the user-data stream's trades to `report` (ccxt_orders.trade_fill names
them through `client_ids`), and to `recheck` the orders it says ended and, after each of
its (re)connects, all of them (feeds/user_feed.UserFeed does both); take fills from
`on_bar` or, between bars, `new_fills()`.

Risk: buys pass `rules.allows` and every sell's PnL goes to `rules.on_realised` (daily
loss, cooldown, kill-switch, flattening), the state saved with the fill. Not yet: stop
orders, a strategy's (refused with a reason) and the risk engine's protective stop
(max_loss_per_trade is not placed); the stand-in has no STOP_LOSS orders to test them on.
Fees paid in a third asset (BNB) are booked as if in quote.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from thunes.domain.market import Fees, MarketFilters, VenueFilters
from thunes.domain.orders import (
    CancelOrders,
    ClientIds,
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
    Side,
    SkippedOrder,
)
from thunes.domain.reasons import DUST, REASONS
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG
from thunes.engine.sim_broker import as_row
from thunes.engine.venue_ledger import Ledger
from thunes.exchange.binance_checks import halted, raw_refusal
from thunes.exchange.ccxt_orders import (
    Book,
    CcxtOrders,
    NotFound,
    OrderCallError,
    RateLimited,
    Rejected,
    StatusUnknown,
)
from thunes.execution.prepare import prepare
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.state.reconcile import VenueOrder
from thunes.state.records import OPEN, UNKNOWN, UNRESOLVED, Position
from thunes.state.store import StateStore


@dataclass
class Working:
    """An order this broker sent (or is sending), until it is done."""

    client_id: str
    order: OrderIntent  # as prepared: rounded and sized
    status: str
    checked_s: float  # when the venue last told us about it (host clock)
    exchange_id: str = ""
    amount: float = 0.0  # as the venue reports it (a quote-sized buy's is the venue's)
    filled: float = 0.0  # booked from its fills
    cancel: bool = False  # a cancel is wanted and not yet confirmed


@dataclass(frozen=True)
class BrokerLimits:
    """`check_after_s`: an order at work is looked up once it is that old since its last
    news; `breaker_after`: consecutive rejections that trip the breaker, which refuses
    orders for `breaker_pause_s`; `edge`: the raw filters' margin (binance_checks)."""

    check_after_s: float = 5.0
    breaker_after: int = 3
    breaker_pause_s: float = 300.0
    edge: float = 0.002


class ExchangeBroker:
    """One symbol's broker on a venue account. `cash` is the quote balance at start."""

    def __init__(
        self,
        orders: CcxtOrders,
        store: StateStore,
        ids: ClientIds,
        fees: Fees,
        filters: MarketFilters,
        venue_filters: VenueFilters,
        sizer: Sizer,
        cash: float,
        risk: RiskEngine | None = None,
        limits: BrokerLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.venue, self.store, self.ids, self.symbol = orders, store, ids, ids.symbol
        self.venue_filters = venue_filters
        self.limits = limits or BrokerLimits()
        self.clock = clock
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []
        self.client_ids: dict[str, str] = {}  # exchange id -> client id: names stream trades
        held = store.positions().get(self.symbol, Position())
        rk = rules.risk_vector(None, 0.0) if risk is None else risk.vector
        self.ledger = Ledger(fees, filters, sizer, cash, held, rk)
        self._outbox: deque[OrderIntent] = deque()
        self._working: dict[str, Working] = {}
        self._new_fills: list[Fill] = []
        self._bar, self._now_ms = 0, 0
        self._paused_until = 0.0  # Retry-After
        self._rejections, self._last_rejection = 0, ""
        self._tripped_until = 0.0
        self._lock = threading.RLock()
        self._pumping = threading.Lock()  # one pump at a time: two would send an intent twice
        self._resume()

    def _resume(self) -> None:
        """Take back this symbol's orders the store holds open or unresolved (after a
        restart, once reconciled): they are checked at the first pump, and an order
        recorded but never answered (the process died in between) is UNKNOWN: looked up
        before anything is sent."""
        records = [r for r in self.store.orders() if r.symbol == self.symbol]
        booked: dict[str, float] = {}
        for fill in self.store.fills():
            booked[fill.order_id] = booked.get(fill.order_id, 0.0) + fill.amount
        for r in records:
            intent = OrderIntent(Side(r.side), OrderType(r.type), r.amount, r.quote, r.price, r.tag)
            status = UNKNOWN if r.status in UNRESOLVED else r.status
            self._working[r.client_id] = Working(
                r.client_id,
                intent,
                status,
                -math.inf,
                r.exchange_id,
                r.amount or 0.0,
                booked.get(r.client_id, 0.0),
            )
            if r.exchange_id:
                self.client_ids[r.exchange_id] = r.client_id

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
        with self._lock:
            buying = any(i.side is Side.BUY for i in self._outbox) or any(
                w.order.side is Side.BUY for w in self._working.values()
            )
        return self.position > 0 or buying

    @property
    def working(self) -> list[Working]:
        """The orders sent and not done, oldest first."""
        with self._lock:
            return list(self._working.values())

    @property
    def breaker(self) -> str:
        """Why sending is paused by the circuit breaker, or ''."""
        if self.clock() >= self._tripped_until:
            return ""
        return (
            f"circuit breaker: {self._rejections} rejections in a row (last: "
            f"{self._last_rejection}); no orders for {self.limits.breaker_pause_s:g} s"
        )

    def equity(self, price: float) -> float:
        return self.cash + self.holdings * price

    def at(self, time_ms: int) -> None:
        self._now_ms = time_ms

    # ---- the engine's calls
    def submit(self, command: Command, open_positions: int = 0) -> None:
        """Queue an order for `pump` (or refuse it now: halted, risk, breaker, stops), or
        ask for a cancel."""
        with self._lock:
            if isinstance(command, CancelOrders):
                self._cancel(command.tag)
                return
            why = halted(self.symbol, self.venue_filters) or self.breaker
            if not why and command.type is OrderType.STOP:
                why = "stop orders are not supported by the exchange broker yet"
            if not why and command.side is Side.BUY:
                rk = self.ledger.risk_vector
                code = rules.allows(float(self._now_ms), open_positions, self.committed, rk)
                if code:
                    rules.refused(code, rk)
                    why = REASONS[code]
            if why:
                self._refuse(command, why)
            else:
                self._outbox.append(command)

    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        """The fills the venue reported since they were last taken (the venue fills, not
        the bar)."""
        with self._lock:
            self._bar, self._now_ms = bar, time_ms
        return self.new_fills()

    def new_fills(self) -> list[Fill]:
        """The fills booked since the last call (or bar): for an engine that hands fills
        to its strategy as they come, between bars."""
        with self._lock:
            fills, self._new_fills = self._new_fills, []
        return fills

    def report(self, fills: Iterable[Fill]) -> None:
        """Fills from the user-data stream (order_id: the client id, via `client_ids`);
        those of other orders and those booked already are left."""
        for fill in fills:
            working = self._working.get(fill.order_id)
            if working is not None:
                self._take(fill, working)

    def recheck(self, client_ids: Iterable[str] | None = None) -> None:
        """Look these orders at work up at the next pump (all of them if None): the stream
        says they changed, or it was down and may have missed it; REST is the truth."""
        wanted = None if client_ids is None else set(client_ids)
        with self._lock:
            for working in self._working.values():
                if wanted is None or working.client_id in wanted:
                    working.checked_s = -math.inf

    async def work(self) -> None:
        """`pump` on a worker thread: what the live engine awaits."""
        await asyncio.to_thread(self.pump)

    def pump(self) -> None:
        """Resolve, send, cancel and check (see the module docstring). Blocking I/O; a call
        made while another runs waits for it."""
        with self._pumping:
            self._pump()

    def _pump(self) -> None:
        if self.clock() < self._paused_until:
            return
        try:
            if not self._resolve_unknown():
                return  # nothing new leaves while an order's fate is unknown
            self._send_queued()
            self._cancel_wanted()
            self._check_working()
        except RateLimited as exc:
            self._paused_until = self.clock() + exc.retry_after_s
        except StatusUnknown:
            return  # a read went unanswered: the next pump asks again

    # ---- sending
    def _send_queued(self) -> None:
        book: Book | None = None
        while self._outbox:
            if self.breaker:
                self._refuse_queue(self.breaker)
                return
            if book is None:
                book = self.venue.book(self.symbol)
            intent = self._outbox[0]
            prepared, why = self._prepare(intent, book)
            if why:
                with self._lock:
                    self._outbox.popleft()
                    self._refuse(intent, why)
                continue
            assert prepared is not None
            client_id = self.store.order_sending(self.ids, prepared, self._now_ms)
            working = Working(client_id, prepared, "sending", self.clock())
            with self._lock:
                self._outbox.popleft()
                self._working[client_id] = working
            if not self._send(working):
                return

    def _prepare(self, intent: OrderIntent, book: Book) -> tuple[OrderIntent | None, str]:
        """The intent as it leaves (execution/prepare.py, then the raw filters), or why not."""
        market = intent.type is OrderType.MARKET
        price = (book.ask if intent.side is Side.BUY else book.bid) if market else math.nan
        if not market and intent.side is Side.SELL and intent.amount is None:
            if self.position <= 0:
                return None, REASONS[DUST]
            intent = replace(intent, amount=self.position)  # the whole position, as it is now
        row = as_row(intent)
        held, free = self.position, self._free()
        reason, price, amount = prepare(row, price, free, held, self.ledger.venue_row)
        if reason:
            return None, REASONS[int(reason)]
        open_here = len(self._working)
        why = halted(self.symbol, self.venue_filters) or raw_refusal(
            intent.side,
            intent.type,
            price,
            amount,
            self.venue_filters,
            book,
            open_here,
            self.limits.edge,
        )
        if why:
            return None, why
        quote = intent.quote if market and intent.quote and intent.quote <= self._free() else None
        return (
            OrderIntent(
                intent.side,
                intent.type,
                None if quote else amount,
                quote,
                None if market else price,
                intent.tag,
            ),
            "",
        )

    def _free(self) -> float:
        """The quote not locked by this broker's buy limits at work."""
        locked = sum(
            w.order.price * (w.order.amount or 0.0)
            for w in self._working.values()
            if w.order.side is Side.BUY and w.order.price
        )
        return self.ledger.cash - locked

    def _send(self, working: Working) -> bool:
        """Place one recorded order; False: stop sending for now."""
        try:
            placed = self.venue.place(self.symbol, working.client_id, working.order)
        except RateLimited:
            self._unsend(working)
            raise
        except Rejected as exc:
            self._rejected(working, str(exc))
            return True
        except OrderCallError:  # StatusUnknown, or an answer we could not read: may exist
            self._unknown(working)
            return self._resolve_unknown()
        self._rejections = 0
        self._answer(working, placed.order)
        for fill in placed.trades:
            self._take(fill, working)
        return True

    def _unsend(self, working: Working) -> None:
        """A 429: refused before matching, so this id was never placed. The intent goes
        first (prepared again, under a new id) when the queue moves again."""
        with self._lock:
            del self._working[working.client_id]
            self._outbox.appendleft(working.order)
        self.store.order_status(
            working.client_id, OrderStatus.REJECTED, self._now_ms, reason="rate limited: re-sent"
        )

    def _finish(self, working: Working, status: OrderStatus, why: str) -> None:
        """An order that ends with no (more) fills: refused, never placed, or gone."""
        self.store.order_status(working.client_id, status, self._now_ms, reason=why)
        with self._lock:
            self._working.pop(working.client_id, None)
            self._event(status, working.order, why, working.client_id)

    def _rejected(self, working: Working, why: str) -> None:
        """The venue refused it; a run of refusals trips the breaker (a success resets
        the count, so once a pause is over one more refusal trips it again)."""
        self._finish(working, OrderStatus.REJECTED, why)
        self._rejections += 1
        self._last_rejection = why
        if self._rejections >= self.limits.breaker_after:
            self._tripped_until = self.clock() + self.limits.breaker_pause_s

    def _unknown(self, working: Working) -> None:
        working.status = UNKNOWN
        self.store.order_status(working.client_id, UNKNOWN, self._now_ms)

    # ---- the venue's news
    def _resolve_unknown(self) -> bool:
        """Look up every order whose answer never came; True when none is left in doubt."""
        for working in [w for w in self.working if w.status == UNKNOWN]:
            try:
                found = self.venue.look_up(self.symbol, working.client_id)
            except StatusUnknown:
                return False
            if found is None:  # a definite -2013: never placed
                self._finish(working, OrderStatus.REJECTED, "never placed (-2013 by client id)")
                continue
            self._answer(working, found)
            self._trades_of(working, found)
        return True

    def _answer(self, working: Working, order: VenueOrder) -> None:
        """What the venue says of one of our orders: its status, its id, its size."""
        working.exchange_id, working.amount = order.exchange_id, order.amount
        working.checked_s = self.clock()
        self.client_ids[order.exchange_id] = working.client_id
        first = working.status not in OPEN and order.status != OrderStatus.REJECTED
        working.status = order.status
        self.store.order_status(
            working.client_id,
            order.status,
            self._now_ms,
            exchange_id=order.exchange_id,
            filled=order.filled,
        )
        with self._lock:
            if first:
                self._event(OrderStatus.NEW, working.order, "", working.client_id)
            if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
                self._event(OrderStatus(order.status), working.order, "", working.client_id)
            if order.status not in OPEN and order.filled <= working.filled:
                self._working.pop(working.client_id, None)

    def _trades_of(self, working: Working, order: VenueOrder) -> None:
        """Book the fills of `order` the broker has not seen (by trade id)."""
        if order.filled <= working.filled:
            return
        for fill in self.venue.order_trades(
            self.symbol, replace(order, client_id=working.client_id)
        ):
            self._take(fill, working)

    def _cancel(self, tag: str) -> None:
        """Withdraw queued intents at once; ask the venue for orders sent."""
        for intent in [i for i in self._outbox if i.tag.startswith(tag)]:
            self._outbox.remove(intent)
            self._event(OrderStatus.CANCELED, intent, "", "")
        for working in self._working.values():
            if working.order.tag.startswith(tag):
                working.cancel = True

    def _cancel_wanted(self) -> None:
        for working in [w for w in self.working if w.cancel and w.status in OPEN]:
            try:
                order = self.venue.cancel(self.symbol, working.client_id)
            except NotFound:  # no longer open: read how it ended
                order_or_none = self.venue.look_up(self.symbol, working.client_id)
                if order_or_none is None:
                    continue
                order = order_or_none
            except StatusUnknown:
                continue  # not confirmed: asked again at the next pump
            self._trades_of(working, order)
            self._answer(working, order)

    def _check_working(self) -> None:
        """Look up orders at work with no news for `check_after_s`."""
        now = self.clock()
        for working in self.working:
            if now - working.checked_s < self.limits.check_after_s:
                continue
            try:
                order = self.venue.look_up(self.symbol, working.client_id)
            except StatusUnknown:
                return
            if order is None:
                self._finish(working, OrderStatus.EXPIRED, "gone from the exchange")
                continue
            self._trades_of(working, order)
            self._answer(working, order)

    # ---- fills
    def _take(self, fill: Fill, working: Working) -> None:
        """Book one fill once (by trade id), in the store's transaction."""
        with self._lock:
            if self.store.seen(self.symbol, fill.trade_id):
                return
            filled = working.filled + fill.amount
            amount = working.amount or working.order.amount or filled
            entry = self.ledger.book(
                replace(
                    fill,
                    bar=self._bar,
                    tag=working.order.tag,
                    symbol=self.symbol,
                    remaining=max(0.0, round(amount - filled, 12)),
                ),
                by_max_loss=working.order.tag == MAX_LOSS_TAG,
            )
            if not self.store.fill(entry.fill, entry.booking):
                return
            self.ledger.keep(entry)
            booked, working.filled = entry.fill, filled
            self.fills.append(booked)
            self._new_fills.append(booked)
            if booked.remaining <= 0:
                self.store.order_status(
                    working.client_id, OrderStatus.FILLED, self._now_ms, filled=filled
                )
                working.status = OrderStatus.FILLED
                self._working.pop(working.client_id, None)
            if entry.flatten:  # the daily loss tripped the kill-switch: out, and no buy at work
                self._cancel_buys()
                if self.position > 0:
                    self._outbox.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=KILL_TAG))

    def _cancel_buys(self) -> None:
        for intent in [i for i in self._outbox if i.side is Side.BUY]:
            self._outbox.remove(intent)
            self._event(OrderStatus.CANCELED, intent, "", "")
        for working in self._working.values():
            working.cancel = working.cancel or working.order.side is Side.BUY

    # ---- refusals and events
    def _refuse(self, intent: OrderIntent, why: str) -> None:
        price = math.nan if intent.price is None else intent.price
        amount = math.nan if intent.amount is None else intent.amount
        self.skipped.append(
            SkippedOrder(self._bar, intent.side, price, amount, why, intent.tag, self.symbol)
        )
        self._event(OrderStatus.REJECTED, intent, why, "")

    def _refuse_queue(self, why: str) -> None:
        with self._lock:
            while self._outbox:
                self._refuse(self._outbox.popleft(), why)

    def _event(self, status: OrderStatus, intent: OrderIntent, why: str, client_id: str) -> None:
        price = math.nan if intent.price is None else intent.price
        self.events.append(
            OrderEvent(status, intent.side, intent.type, price, intent.tag, why, client_id)
        )
