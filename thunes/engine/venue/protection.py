"""The protective stop at max_loss_per_trade on a venue, and the max-loss watch where the
venue cannot hold it.

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
After a restart, the stop the store holds open is the one the rules want."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from thunes.domain.orders import OrderIntent, OrderType, Side
from thunes.domain.rows import CANCEL, MARKET, ORDER, STOP, OrderRow
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG
from thunes.engine.broker_core import LaneRow, stop_reached
from thunes.engine.venue.limits import BrokerLimits
from thunes.engine.venue.working import AtWork, Working
from thunes.engine.venue_ledger import Ledger
from thunes.exchange.ccxt_orders import Book
from thunes.risk import rules
from thunes.state.records import OPEN

log = logging.getLogger(__name__)
_WOULD_TRIGGER = "would trigger immediately"  # Binance's -2010 on a stop through the market


class Protection:
    """Where the risk rules want the protective stop (`at`, 0: none), and why the position
    has none resting (`unprotected`, or '')."""

    def __init__(
        self,
        symbol: str,
        at_work: AtWork,
        ledger: Ledger,
        limits: BrokerLimits,
        clock: Callable[[], float],
    ) -> None:
        self.symbol, self.at_work, self.ledger = symbol, at_work, ledger
        self.limits, self.clock = limits, clock
        self.at = 0.0
        self.retry_s = -math.inf
        self.unprotected = ""

    def resume(self) -> None:
        """After a restart with no stop on record while holding (sells held the base): the
        level from the position and the rules."""
        if self.at or self.ledger.position <= 0:
            return
        out = np.empty((rules.MAX_COMMANDS, ORDER))
        lane, rk = self.ledger.lanes[0], self.ledger.risk_vector
        amount, cost = lane[LaneRow.BOOK_AMOUNT], lane[LaneRow.BOOK_COST]
        self.apply(out[: rules.protect(amount, cost, self.ledger.tick, rk, out, 0)])

    def apply(self, commands: np.ndarray) -> None:
        """Carry out the risk rules' reactions to a fill (rules.after_fill), as the
        simulator does: the protective stop moved or withdrawn, and the kill-switch's."""
        for row in commands:
            kind, tag = int(row[OrderRow.TYPE]), int(row[OrderRow.TAG])
            if kind == CANCEL and tag == rules.EVERY_BUY:
                self.at_work.cancel_buys()
            elif kind == CANCEL and tag == rules.EVERY_ORDER:
                self.at_work.cancel("")  # the strategy's every order; the stop's row follows
            elif kind == CANCEL:
                self.at = 0.0
            elif kind == STOP:
                self.at = float(row[OrderRow.PRICE])
            elif kind == MARKET:
                self.at_work.outbox.append(OrderIntent(Side.SELL, OrderType.MARKET, tag=KILL_TAG))
        free = self.at_work.free_base(self.ledger.position)
        for working in self.at_work.protective():  # kept only if it is where and as big as wanted
            same = working.order.price == self.at and free <= 0
            working.cancel = working.cancel or not same
        if self.at <= 0 or self.ledger.position <= 0:
            self.unprotected = ""

    def watch(self, price: float) -> None:
        """The max-loss stop the venue cannot hold: a strategy's resting sell (a DCA's
        take-profit) holds base the protective stop would need (Binance spot shares a base
        only in an OCO). Once `price` reaches the level (the simulator's stop rule), the
        position is sold at market, after every sell's cancel is confirmed (`waits_for_stop`)."""
        with self.at_work.lock:
            at = self.at
            if not (at > 0 and price > 0) or self.ledger.position <= 0:
                return
            held = sum(
                w.rest
                for w in self.at_work.orders.values()
                if w.order.side is Side.SELL and w.order.tag != MAX_LOSS_TAG
            )
            if held <= 0 or not stop_reached(price, at) or self.at_work.selling_out():
                return  # nothing held by a strategy's sell: the stop on the venue guards it
        self.sell_out(f"the price {price:.10g} reached the max-loss level {at:.10g}")

    def waits_for_stop(self, intent: OrderIntent) -> bool:
        """A sell that needs base the protective stop holds: ask for the stop's cancel;
        True while it is not confirmed (the sell leaves after, the stop comes back). The
        risk engine's market sells (the kill-switch's, the max-loss rule's) sell the whole
        position: every other sell is withdrawn (a resting sell would hold the base they
        sell) and they wait until the venue confirms each cancel (or says it ended)."""
        with self.at_work.lock:
            if intent.type is OrderType.MARKET and intent.tag in (KILL_TAG, MAX_LOSS_TAG):
                others = [
                    w
                    for w in self.at_work.orders.values()
                    if w.order.side is Side.SELL
                    and not (w.order.tag == intent.tag and w.order.type is OrderType.MARKET)
                ]
                for working in others:
                    working.cancel = True
                return bool(others)
            stops = self.at_work.protective()
            free = self.at_work.free_base(self.ledger.position)
            if not stops:
                return False
            if intent.amount is not None:  # only if the stop's base is what it lacks
                held = sum(w.rest for w in stops)
                if not free + 1e-12 < intent.amount <= free + held + 1e-12:
                    return False
            for working in stops:
                working.cancel = True
            return True

    def wanted(self, book_now: Callable[[], Book]) -> tuple[OrderIntent, Book] | None:
        """The protective stop the risk rules want, sized to what is held and free, once no
        older one is at work and no sell waits to leave (and the book it leaves on)."""
        with self.at_work.lock:
            at, position = self.at, self.ledger.position
            if at <= 0 or position <= 0:
                self.unprotected = ""
                return None
            if self.at_work.protective() or any(i.side is Side.SELL for i in self.at_work.outbox):
                return None
            if self.clock() < self.retry_s or self.at_work.selling_out():
                return None
            amount = self.at_work.free_base(position)
        if amount <= 0:  # all of it is under sells at work
            self.unprotected = ""
            return None
        book = book_now()
        if stop_reached(book.bid, at):  # the price is through it already: the rule's exit, now
            self.sell_out(f"the bid {book.bid:.10g} is under the max-loss stop {at:.10g}")
            return None
        return OrderIntent(
            Side.SELL, OrderType.STOP, amount=amount, price=at, tag=MAX_LOSS_TAG
        ), book

    def sell_out(self, why: str) -> None:
        """Sell the position at market, for the max-loss rule (once; tried again after
        `check_after_s` if it is refused)."""
        log.warning("%s: selling the position at market: %s", self.symbol, why)
        with self.at_work.lock:
            self.retry_s = self.clock() + self.limits.check_after_s
            if not self.at_work.selling_out():
                self.at_work.outbox.append(
                    OrderIntent(Side.SELL, OrderType.MARKET, tag=MAX_LOSS_TAG)
                )

    def failed(self, why: str) -> None:
        """The protective stop may not rest: through the market already (sell), or
        refused (unprotected: buys paused, tried again after `check_after_s`)."""
        if _WOULD_TRIGGER in why or why.startswith("STOP:"):
            self.sell_out(why)
            return
        position = self.ledger.position
        if position <= 0:
            return
        self.retry_s = self.clock() + self.limits.check_after_s
        self.unprotected = (
            f"{self.symbol}: the position ({position:.10g}) has no stop at the max loss"
            f" ({self.at:.10g}): {why}"
        )
        log.warning("%s", self.unprotected)
        if self.limits.sell_unprotected:
            self.sell_out(self.unprotected)

    def stuck(self, working: Working, book_now: Callable[[], Book]) -> None:
        """A protective stop-limit the price gapped past: the bid is under its limit (so
        its stop triggered) and it rests unfilled. It is withdrawn and the position sold
        at market, as the simulator's stop would have filled."""
        if working.limit is None or working.order.tag != MAX_LOSS_TAG or working.cancel:
            return
        if working.status not in OPEN:
            return
        bid = book_now().bid
        if bid < working.limit:
            working.cancel = True
            self.sell_out(f"the max-loss stop-limit rests unfilled: bid {bid:.10g} under its limit")
