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
5. the protective stop the risk rules want is placed, if none rests (see Stops below).
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

Risk: orders pass `rules.allows`, a prepared buy `rules.within_notional` (over what every
symbol on the wallet has committed), and each fill goes through the risk rules'
`after_fill` (venue_ledger.py), as in the simulator: daily loss, cooldown, the
kill-switch (its buys withdrawn, the position sold) and the protective stop at
max_loss_per_trade, all saved with the fill. Every call names the symbol's own lane of
the shared risk engine (`RiskEngine.lane`): its cool-down and the last price its
fat-finger guard measures from are its own.

Stops rest on the venue. A strategy's stop (a sell) and the risk engine's protective
stop leave as Binance's STOP_LOSS where the symbol lists it: a market order once the
price reaches the stop, which is how the simulator fills a stop (at the stop, or the
open it gapped to, less slippage). Where it does not, as STOP_LOSS_LIMIT with its limit
`stop_limit_offset` (1%) under the stop: far wider than the simulator's slippage, so it
fills like a market order unless the price gaps past the limit; then, once a check sees
the bid under its limit, the protective one is withdrawn and the position sold at market.
A stop holds its base on the venue, as a sell limit does. The protective stop covers
what is held and not under another of the broker's sells at work (Binance spot shares a
base between two orders only in an OCO, not used here: a strategy's resting sells are
their part's exit); the rules move it after every fill (a partial one too), and the
broker replaces it only once the venue has confirmed the old one canceled; a sell that
needs the base it holds waits for that cancel, and the stop comes back, re-sized, after
the sell. When the price is already through the stop the position is sold at market
(the rule's exit); when the venue refuses the stop, never places it (a 5xx, then -2013
by client id) or a minimum blocks it, `unprotected` says why in one line and new buys
are refused until a stop rests again or the position is gone (or, with
`sell_unprotected`, the position is sold at market).
After a restart, the stop the store holds open is the one the rules want.

Venue limits: MAX_NUM_ORDERS and MAX_NUM_ALGO_ORDERS count the symbol's open orders that
are not this broker's (read every `foreign_every_s`, and again after the venue answers
one) with its own. A symbol the venue does not trade (HALT, BREAK, or "Market is
closed." from the venue) refuses new orders with its status until `refresh` hands the
broker the markets read again (CcxtExchange.refresh_markets, on the session's job).
Fees paid in BNB (a third asset) reduce neither the position nor the quote; their value
in quote, at that asset's bid when booked (read at most every `fee_price_every_s`),
counts in the cost basis and the PnL. `cash` may be a `Wallet` shared by the brokers of
several symbols on one account: none spends the quote another has set aside.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

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
from thunes.domain.rows import CANCEL, MARKET, ORDER, STOP, OrderRow
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG
from thunes.engine.broker_core import LaneRow, stop_reached
from thunes.engine.sim_broker import as_row
from thunes.engine.venue_check import leaving, stop_limit
from thunes.engine.venue_ledger import Ledger, Wallet
from thunes.exchange.binance_checks import halted
from thunes.exchange.ccxt_orders import (
    Book,
    CcxtOrders,
    NotFound,
    OrderCallError,
    RateLimited,
    Rejected,
    StatusUnknown,
)
from thunes.execution.broker import OpenOrder
from thunes.execution.prepare import VenueRow, prepare, refusal
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import STATE, RiskEngine
from thunes.state.reconcile import VenueOrder
from thunes.state.records import OPEN, UNKNOWN, UNRESOLVED, Position
from thunes.state.store import StateStore

log = logging.getLogger(__name__)
_WOULD_TRIGGER = "would trigger immediately"  # Binance's -2010 on a stop through the market
_CLOSED = "Market is closed"  # Binance's -2010 on a symbol that does not trade


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


@dataclass(frozen=True)
class BrokerLimits:
    """`check_after_s`: an order at work is looked up once it is that old since its last
    news (and a refused protective stop tried again); `breaker_after`: consecutive
    rejections that trip the breaker, which refuses orders for `breaker_pause_s`; `edge`:
    the raw filters' margin (binance_checks); `stop_limit_offset`: a STOP_LOSS_LIMIT's
    limit under its stop, as a fraction (used where the symbol has no STOP_LOSS);
    `foreign_every_s`: how often the symbol's open orders are read to count the ones
    placed by others; `fee_price_every_s`: how long a fee asset's price is used;
    `sell_unprotected`: sell a position whose stop cannot rest, rather than pause buys."""

    check_after_s: float = 5.0
    breaker_after: int = 3
    breaker_pause_s: float = 300.0
    edge: float = 0.002
    stop_limit_offset: float = 0.01
    foreign_every_s: float = 30.0
    fee_price_every_s: float = 60.0
    sell_unprotected: bool = False


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
        self.venue_filters = venue_filters
        self.limits = limits or BrokerLimits()
        self.clock = clock
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []
        self.client_ids: dict[str, str] = {}  # exchange id -> client id: names stream trades
        self.unprotected = ""  # why the position has no protective stop resting, or ""
        self.paused = ""  # why entries are paused (a reconciliation's mismatch), or ""
        self.on_outbox: Callable[[list[OrderIntent]], None] | None = None
        """Told what is still queued once an intent has been recorded or refused, before
        anything goes out: the session's checkpoint keeps the queue across a crash."""
        held = store.positions().get(self.symbol, Position())
        rk = rules.risk_vector(None, 0.0) if risk is None else risk.vector
        self.lane = 0 if risk is None else risk.lane(self.symbol)  # its rows in the vector
        self.wallet = cash if isinstance(cash, Wallet) else Wallet(cash)
        rows = STATE if risk is None else risk.rows(self.symbol)
        self.ledger = Ledger(fees, filters, sizer, self.wallet, held, rk, self.lane, rows)
        self.wallet.join(self._set_aside, self._committed)
        self._outbox: deque[OrderIntent] = deque()
        self._working: dict[str, Working] = {}
        self._new_fills: list[Fill] = []
        self._bar, self._now_ms = 0, 0
        self._paused_until = 0.0  # Retry-After
        self._rejections, self._last_rejection = 0, ""
        self._tripped_until = 0.0
        self._stop_at = 0.0  # where the risk rules want the protective stop (0: none)
        self._stop_retry_s = -math.inf
        self._foreign = (0, 0)  # open orders (and stops among them) on the symbol not ours
        self._foreign_read_s = -math.inf
        self._fee_prices: dict[str, tuple[float, float]] = {}  # asset -> (price, read at)
        self._book: Book | None = None  # read at most once a pump (`_book_now`)
        self._lock = threading.RLock()
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
            self._working[r.client_id] = Working(
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
                self._stop_at = r.price
        if not self._stop_at and self.position > 0:  # none rests (sells held the base)
            out = np.empty((rules.MAX_COMMANDS, ORDER))
            lane, rk = self.ledger.lanes[0], self.ledger.risk_vector
            amount, cost = lane[LaneRow.BOOK_AMOUNT], lane[LaneRow.BOOK_COST]
            self._risk(out[: rules.protect(amount, cost, self.ledger.tick, rk, out, 0)])

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
        return next(iter(self._protective()), None)

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

    def at(self, time_ms: int, last_price: float = math.nan) -> None:
        """Market time and the last price: a tripped kill-switch's orders queued (rules.obey),
        and the max-loss level watched where sells at work hold base no stop can cover."""
        self._now_ms = time_ms
        rk = self.ledger.risk_vector
        rules.mark(self.lane, last_price, float(time_ms), rk)
        if rules.owes(self.lane, rk):
            out = np.empty((rules.MAX_COMMANDS, ORDER))
            with self._lock:
                self._risk(out[: rules.obey(self.lane, self.position, rk, out, 0)])
        self._watch(last_price)

    def _watch(self, price: float) -> None:
        """The max-loss stop the venue cannot hold: a strategy's resting sell (a DCA's
        take-profit) holds base the protective stop would need (Binance spot shares a base
        only in an OCO). Once `price` reaches the level (the simulator's stop rule), the
        position is sold at market, after every sell's cancel is confirmed (`_waits_for_stop`)."""
        with self._lock:
            at = self._stop_at
            if not (at > 0 and price > 0) or self.position <= 0:
                return
            held = sum(
                w.rest
                for w in self._working.values()
                if w.order.side is Side.SELL and w.order.tag != MAX_LOSS_TAG
            )
            if held <= 0 or not stop_reached(price, at) or self._selling_out():
                return  # nothing held by a strategy's sell: the stop on the venue guards it
        self._sell_out(f"the price {price:.10g} reached the max-loss level {at:.10g}")

    def refresh(self, filters: MarketFilters, venue_filters: VenueFilters) -> None:
        """The venue's markets as read again (CcxtExchange.refresh_markets, on a job): a
        symbol trading again takes orders again; changed filters bind the next order."""
        with self._lock:
            if venue_filters.status != self.venue_filters.status:
                log.warning(
                    "%s: status %s -> %s",
                    self.symbol,
                    self.venue_filters.status,
                    venue_filters.status,
                )
            self.venue_filters = venue_filters
            self.ledger.rules(filters)

    # ---- the engine's calls
    def submit(self, command: Command, open_positions: int = 0) -> None:
        """Queue an order for `pump` (or refuse it now: halted, breaker, unprotected,
        risk), or ask for a cancel."""
        with self._lock:
            if isinstance(command, CancelOrders):
                self._cancel(command.tag)
                return
            why = halted(self.symbol, self.venue_filters) or self.breaker
            buy, rk = command.side is Side.BUY, self.ledger.risk_vector
            if not why:
                price = command.price if command.type is OrderType.LIMIT else None
                code = rules.allows(
                    self.lane,
                    buy,
                    math.nan if price is None else price,
                    float(self._now_ms),
                    open_positions,
                    self.committed if buy else True,
                    len(self._working) + len(self._outbox),
                    rk,
                )
                if code:
                    rules.refused(code, rk)
                    why = REASONS[code]
                elif buy and (self.unprotected or self.paused):
                    why = f"entries paused: {self.unprotected or self.paused}"
            if why:
                self._refuse(command, why)
            else:
                self._outbox.append(command)
                rules.sent(float(self._now_ms), rk)

    def flatten(self) -> None:
        """The kill-switch's flattening on command: every order withdrawn, the position's
        market sell queued for `pump` (after the withdrawn sells' cancels are confirmed)
        as the kill-switch queues it."""
        out = np.empty((rules.MAX_COMMANDS, ORDER))
        with self._lock:
            self._risk(out[: rules.flatten(self.position, out, 0)])

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

    @property
    def outbox(self) -> list[OrderIntent]:
        """The intents queued and not yet recorded (the session's checkpoint)."""
        with self._lock:
            return list(self._outbox)

    def restore(self, queued: Iterable[OrderIntent], undelivered: Iterable[Fill]) -> None:
        """After a restart: the intents a checkpoint held queued, and the fills booked
        that the strategy had not heard of yet (`new_fills` hands them over)."""
        with self._lock:
            self._outbox.extend(queued)
            self._new_fills.extend(undelivered)

    def book_recovered(self, fills: Iterable[Fill], at_start: bool) -> None:
        """Book fills a reconciliation found that the store recorded unbooked (the
        process died before it booked them, or the stream and polls missed them): the
        position and the risk rules move. At start the cash is the balance read after
        them and the orders resumed from the store count them already: neither moves."""
        for fill in fills:
            if fill.symbol != self.symbol:
                continue
            with self._lock:
                working = self._working.get(fill.order_id)
                tag = fill.tag if working is None else working.order.tag
                entry = self.ledger.book(replace(fill, tag=tag), tag == MAX_LOSS_TAG)
                if not self.store.booked(entry.fill, entry.booking):
                    continue
                self.ledger.keep(entry)
                if at_start:
                    self.wallet.add(-entry.cash)
                elif working is not None:
                    working.filled += fill.amount
                self.fills.append(entry.fill)
                self._new_fills.append(entry.fill)
                self._risk(entry.commands)

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
        self._book = None
        try:
            if not self._resolve_unknown():
                return  # nothing new leaves while an order's fate is unknown
            self._cancel_wanted()  # first: a cancel frees the slots and funds a send needs
            if self._send_queued() and self._cancel_wanted():
                self._send_queued()  # a sell that waited for a stop's cancel leaves now
            self._check_working()
            self._protect()
        except RateLimited as exc:
            self._paused_until = self.clock() + exc.retry_after_s
        except StatusUnknown:
            return  # a read went unanswered: the next pump asks again

    # ---- sending
    def _send_queued(self) -> bool:
        """Send what is queued; True when a sell waits for the protective stop's cancel."""
        counted = False
        while self._outbox:
            if self.breaker:
                self._refuse_queue(self.breaker)
                return False
            intent = self._outbox[0]
            if intent.side is Side.SELL and self._waits_for_stop(intent):
                return True  # the protective stop holds the base: the cancel step withdraws it
            book = self._book_now()
            if not counted:
                self._count_foreign()
                counted = True
            with self._lock:
                self._outbox.popleft()
            if not self._leave(intent, book):
                return False
        return False

    def _leave(self, intent: OrderIntent, book: Book) -> bool:
        """Prepare, record and send one intent (refused with its reason if it may not
        leave); False: stop sending for now."""
        with self.wallet.lock:  # from reading the free quote to setting the order's aside
            prepared, limit, reserve, why = self._prepare(intent, book)
            if prepared is not None and not why and intent.side is Side.BUY:
                why = self._beyond_notional(prepared, book)
            if why or prepared is None:
                with self._lock:
                    self._refuse(intent, why)
                self._dequeued()
                if intent.tag == MAX_LOSS_TAG:
                    self._stop_failed(why)
                return True
            client_id = self.store.order_sending(self.ids, prepared, self._now_ms)
            working = Working(
                client_id, prepared, "sending", self.clock(), limit=limit, reserve=reserve
            )
            with self._lock:
                self._working[client_id] = working
        self._dequeued()  # recorded, then off the saved queue, then sent: never twice
        return self._send(working)

    def _dequeued(self) -> None:
        if self.on_outbox is not None:
            self.on_outbox(self.outbox)

    def _prepare(
        self, intent: OrderIntent, book: Book
    ) -> tuple[OrderIntent | None, float | None, float, str]:
        """The intent as it leaves (execution/prepare.py, then the raw filters), a stop's
        limit, the quote a buy sets aside; or why it may not leave."""
        market = intent.type is OrderType.MARKET
        price = (book.ask if intent.side is Side.BUY else book.bid) if market else math.nan
        free_base = self._free_base()
        if not market and intent.side is Side.SELL and intent.amount is None:
            if free_base <= 0:
                return None, None, 0.0, REASONS[DUST]
            intent = replace(intent, amount=free_base)  # what is held and free, as it is now
        held_by_sells = free_base < self.position and not market
        if held_by_sells and intent.side is Side.SELL and (intent.amount or 0) > free_base + 1e-12:
            return None, None, 0.0, self._held_by_sells(intent.amount or 0.0, free_base)
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
        with self._lock:
            mine = len(self._working)
            my_stops = sum(w.order.type is OrderType.STOP for w in self._working.values())
        open_orders, open_stops = self._foreign[0] + mine, self._foreign[1] + my_stops
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

    def _book_now(self) -> Book:
        """The symbol's book and average price, read once a pump: what one pump sends (a
        buy, then its protective stop) is checked against the same read, taken moments
        before, rather than paying the venue's two weighted reads again for each."""
        if self._book is None:
            self._book = self.venue.book(self.symbol)
        return self._book

    def _beyond_notional(self, order: OrderIntent, book: Book) -> str:
        """Why a prepared buy would take the quote committed to this symbol, or to all the
        wallet's, beyond the risk rules' notional limits (rules.within_notional, as the
        simulator asks it), or ''. A refusal counts."""
        rk = self.ledger.risk_vector
        if not rules.caps_notional(rk):
            return ""
        notional = order.quote or (order.amount or 0.0) * (order.price or book.ask)
        code = rules.within_notional(notional, self._committed(), self.wallet.committed(), rk)
        rules.refused(code, rk)
        return REASONS[code] if code else ""

    def _free_base(self) -> float:
        """The position not held by this broker's sells at work (limits and stops hold
        their base on the venue until they fill or their cancel is confirmed)."""
        held = sum(w.rest for w in self._working.values() if w.order.side is Side.SELL)
        return max(0.0, round(self.position - held, 12))

    def _held_by_sells(self, wanted: float, free: float) -> str:
        return (
            f"sell of {wanted:.10g}: only {free:.10g} of the position is free, the rest is held"
            " by sells at work (cancel them first)"
        )

    def _set_aside(self) -> float:
        """The quote this broker's buys at work hold (the wallet reads it)."""
        return sum(w.set_aside for w in list(self._working.values()))

    def _committed(self) -> float:
        """The quote this symbol has at work: what it holds, at cost, and its buys'."""
        return self.ledger.cost + self._set_aside()

    def _count_foreign(self) -> None:
        """Read the symbol's open orders, at most every `foreign_every_s`, and count those
        that are not this broker's (manual ones, another bot's): they take the venue's
        order slots too. A failed read keeps the last count (the venue still refuses an
        order past its limit) and is tried again at the next send; a 429 holds the queue."""
        if self.clock() - self._foreign_read_s < self.limits.foreign_every_s:
            return
        try:
            orders = self.venue.open_orders(self.symbol)
        except RateLimited:
            raise
        except OrderCallError as exc:
            log.warning("%s: open orders not read (%s): the last count stands", self.symbol, exc)
            return
        with self._lock:
            others = [o for o in orders if o.client_id not in self._working]
            self._foreign = (len(others), sum(o.stop_price is not None for o in others))
            self._foreign_read_s = self.clock()

    def _send(self, working: Working) -> bool:
        """Place one recorded order; False: stop sending for now."""
        try:
            placed = self.venue.place(self.symbol, working.client_id, working.order, working.limit)
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
        self._answer(working, placed.order, placed.trades)
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
        if _CLOSED in why:  # the venue stopped the symbol before our markets said so
            self.venue_filters = replace(self.venue_filters, status="CLOSED")
        if "MAX_NUM" in why:
            self._foreign_read_s = -math.inf  # others' orders: read them again
        if working.order.tag == MAX_LOSS_TAG:
            self._stop_failed(why)

    def _unknown(self, working: Working) -> None:
        working.status = UNKNOWN
        self.store.order_status(working.client_id, UNKNOWN, self._now_ms)

    # ---- the protective stop
    def _protective(self) -> list[Working]:
        return [
            w
            for w in list(self._working.values())
            if w.order.tag == MAX_LOSS_TAG and w.order.type is OrderType.STOP
        ]

    def _waits_for_stop(self, intent: OrderIntent) -> bool:
        """A sell that needs base the protective stop holds: ask for the stop's cancel;
        True while it is not confirmed (the sell leaves after, the stop comes back). The
        risk engine's market sells (the kill-switch's, the max-loss rule's) sell the whole
        position: every other sell is withdrawn (a resting sell would hold the base they
        sell) and they wait until the venue confirms each cancel (or says it ended)."""
        with self._lock:
            if intent.type is OrderType.MARKET and intent.tag in (KILL_TAG, MAX_LOSS_TAG):
                others = [
                    w
                    for w in self._working.values()
                    if w.order.side is Side.SELL
                    and not (w.order.tag == intent.tag and w.order.type is OrderType.MARKET)
                ]
                for working in others:
                    working.cancel = True
                return bool(others)
            stops, free = self._protective(), self._free_base()
            if not stops:
                return False
            if intent.amount is not None:  # only if the stop's base is what it lacks
                held = sum(w.rest for w in stops)
                if not free + 1e-12 < intent.amount <= free + held + 1e-12:
                    return False
            for working in stops:
                working.cancel = True
            return True

    def _protect(self) -> None:
        """Rest the protective stop the risk rules want, sized to what is held and free,
        once no older one is at work and no sell waits to leave."""
        with self._lock:
            at, position = self._stop_at, self.position
            if at <= 0 or position <= 0:
                self.unprotected = ""
                return
            if self._protective() or any(i.side is Side.SELL for i in self._outbox):
                return
            if self.clock() < self._stop_retry_s or self._selling_out():
                return
            amount = self._free_base()
        if amount <= 0:  # all of it is under sells at work
            self.unprotected = ""
            return
        book = self._book_now()
        if stop_reached(book.bid, at):  # the price is through it already: the rule's exit, now
            self._sell_out(f"the bid {book.bid:.10g} is under the max-loss stop {at:.10g}")
            return
        self._count_foreign()
        intent = OrderIntent(Side.SELL, OrderType.STOP, amount=amount, price=at, tag=MAX_LOSS_TAG)
        self._leave(intent, book)

    def _selling_out(self) -> bool:
        """A max-loss market sell is queued or at work: no stop under it."""
        return any(
            i.tag == MAX_LOSS_TAG and i.type is OrderType.MARKET for i in self._outbox
        ) or any(
            w.order.tag == MAX_LOSS_TAG and w.order.type is OrderType.MARKET
            for w in self._working.values()
        )

    def _sell_out(self, why: str) -> None:
        """Sell the position at market, for the max-loss rule (once; tried again after
        `check_after_s` if it is refused)."""
        log.warning("%s: selling the position at market: %s", self.symbol, why)
        with self._lock:
            self._stop_retry_s = self.clock() + self.limits.check_after_s
            if not self._selling_out():
                self._outbox.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=MAX_LOSS_TAG))

    def _stop_failed(self, why: str) -> None:
        """The protective stop may not rest: through the market already (sell), or
        refused (unprotected: buys paused, tried again after `check_after_s`)."""
        if _WOULD_TRIGGER in why or why.startswith("STOP:"):
            self._sell_out(why)
            return
        if self.position <= 0:
            return
        self._stop_retry_s = self.clock() + self.limits.check_after_s
        self.unprotected = (
            f"{self.symbol}: the position ({self.position:.10g}) has no stop at the max loss"
            f" ({self._stop_at:.10g}): {why}"
        )
        log.warning("%s", self.unprotected)
        if self.limits.sell_unprotected:
            self._sell_out(self.unprotected)

    def _risk(self, commands: np.ndarray) -> None:
        """Carry out the risk rules' reactions to a fill (rules.after_fill), as the
        simulator does: the protective stop moved or withdrawn, and the kill-switch's."""
        for row in commands:
            kind, tag = int(row[OrderRow.TYPE]), int(row[OrderRow.TAG])
            if kind == CANCEL and tag == rules.EVERY_BUY:
                self._cancel_buys()
            elif kind == CANCEL and tag == rules.EVERY_ORDER:
                self._cancel("")  # the strategy's every order; the protective stop's row follows
            elif kind == CANCEL:
                self._stop_at = 0.0
            elif kind == STOP:
                self._stop_at = float(row[OrderRow.PRICE])
            elif kind == MARKET:
                self._outbox.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=KILL_TAG))
        for working in self._protective():  # kept only if it is where and as big as wanted
            same = working.order.price == self._stop_at and self._free_base() <= 0
            working.cancel = working.cancel or not same
        if self._stop_at <= 0 or self.position <= 0:
            self.unprotected = ""

    # ---- the venue's news
    def _resolve_unknown(self) -> bool:
        """Look up every order whose answer never came; True when none is left in doubt."""
        for working in [w for w in self.working if w.status == UNKNOWN]:
            try:
                found = self.venue.look_up(self.symbol, working.client_id)
            except StatusUnknown:
                return False
            if found is None:  # a definite -2013: never placed
                why = "never placed (-2013 by client id)"
                self._finish(working, OrderStatus.REJECTED, why)
                if working.order.tag == MAX_LOSS_TAG:  # as a refusal: said, buys paused
                    self._stop_failed(f"{working.client_id} {why}")
                continue
            self._answer(working, found)
        return True

    def _answer(
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
            self._take(fill, working)
        working.status = order.status
        stop = working.order.tag == MAX_LOSS_TAG and working.order.type is OrderType.STOP
        if stop and order.status in OPEN:
            self.unprotected = ""  # the protective stop rests (again): entries resume
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
        """Withdraw queued intents at once; ask the venue for orders sent. The protective
        stop is the risk rules', not the strategy's to cancel."""
        for intent in [i for i in self._outbox if i.tag.startswith(tag) and i.tag != MAX_LOSS_TAG]:
            self._outbox.remove(intent)
            self._event(OrderStatus.CANCELED, intent, "", "")
        for working in self._working.values():
            if working.order.tag.startswith(tag) and working.order.tag != MAX_LOSS_TAG:
                working.cancel = True

    def _cancel_wanted(self) -> bool:
        """Ask for each wanted cancel; True if any ended an order."""
        ended = False
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
            self._answer(working, order)
            ended = True
        return ended

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
            self._answer(working, order)
            self._stuck(working)

    def _stuck(self, working: Working) -> None:
        """A protective stop-limit the price gapped past: the bid is under its limit (so
        its stop triggered) and it rests unfilled. It is withdrawn and the position sold
        at market, as the simulator's stop would have filled."""
        if working.limit is None or working.order.tag != MAX_LOSS_TAG or working.cancel:
            return
        if working.status not in OPEN:
            return
        bid = self._book_now().bid
        if bid < working.limit:
            working.cancel = True
            self._sell_out(
                f"the max-loss stop-limit rests unfilled: bid {bid:.10g} under its limit"
            )

    # ---- fills
    def _take(self, fill: Fill, working: Working) -> None:
        """Book one fill once (by trade id), in the store's transaction, and carry out
        the risk rules' reactions to it."""
        if fill.fee_asset:
            fill = replace(fill, fee=fill.fee * self._fee_price(fill.fee_asset))
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
            self._risk(entry.commands)

    def _fee_price(self, asset: str) -> float:
        """A fee asset's price in the quote: its bid when the fee is booked, read at most
        every `fee_price_every_s` (0, with a warning, where the venue has no such market
        or cannot say: the fee then counts nothing in the PnL)."""
        price, read_s = self._fee_prices.get(asset, (0.0, -math.inf))
        if self.clock() - read_s < self.limits.fee_price_every_s:
            return price
        quote = self.symbol.partition("/")[2]
        try:
            bid = self.venue.bid(asset, quote)
        except OrderCallError as exc:
            log.warning("%s: no %s/%s price for a fee: %s", self.symbol, asset, quote, exc)
            return price
        if bid is None:
            log.warning(
                "%s: fees in %s not priced: no %s/%s market", self.symbol, asset, asset, quote
            )
        self._fee_prices[asset] = (bid or 0.0, self.clock())
        return bid or 0.0

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
        """An order's news for the strategy; the protective stop's resting and withdrawal
        are the risk engine's business (as in the simulator), its refusals are news."""
        if intent.tag == MAX_LOSS_TAG and status in (OrderStatus.NEW, OrderStatus.CANCELED):
            return
        price = math.nan if intent.price is None else intent.price
        self.events.append(
            OrderEvent(status, intent.side, intent.type, price, intent.tag, why, client_id)
        )
