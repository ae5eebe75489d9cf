"""An exchange broker's fills: each booked once, by trade id, in the store's transaction
(from an order's answer, a poll, the user-data stream or a reconciliation). A buy's
position is what it received net of the fee the venue took in base, on the lot step (the
rest is dust that is held, never sold), so an exit sells exactly what can be sold.

Fees paid in BNB (a third asset) reduce neither the position nor the quote; their value
in quote, at that asset's bid when booked (read at most every `fee_price_every_s`),
counts in the cost basis and the PnL."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import replace

from thunes.domain.orders import Fill, OrderStatus
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.engine.venue.protection import Protection
from thunes.engine.venue.working import AtWork, Working
from thunes.engine.venue_ledger import Ledger, Wallet
from thunes.exchange.ccxt_orders import CcxtOrders, OrderCallError
from thunes.state.store import StateStore

log = logging.getLogger(__name__)


class FeePrices:
    """A fee asset's price in the quote: its bid when the fee is booked, read at most
    every `every_s` (0, with a warning, where the venue has no such market or cannot
    say: the fee then counts nothing in the PnL)."""

    def __init__(
        self, venue: CcxtOrders, symbol: str, every_s: float, clock: Callable[[], float]
    ) -> None:
        self.venue, self.symbol, self.every_s, self.clock = venue, symbol, every_s, clock
        self._prices: dict[str, tuple[float, float]] = {}  # asset -> (price, read at)

    def __call__(self, asset: str) -> float:
        price, read_s = self._prices.get(asset, (0.0, -math.inf))
        if self.clock() - read_s < self.every_s:
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
        self._prices[asset] = (bid or 0.0, self.clock())
        return bid or 0.0


class Booking:
    """Books fills into the ledger and the store; `fills`: all of them, `new`: those the
    strategy has not been handed yet."""

    def __init__(
        self,
        symbol: str,
        store: StateStore,
        ledger: Ledger,
        wallet: Wallet,
        at_work: AtWork,
        protection: Protection,
        fee_price: FeePrices,
    ) -> None:
        self.symbol, self.store, self.ledger, self.wallet = symbol, store, ledger, wallet
        self.at_work, self.protection, self.fee_price = at_work, protection, fee_price
        self.fills: list[Fill] = []
        self.new: list[Fill] = []

    def take(self, fill: Fill, working: Working) -> None:
        """Book one fill once (by trade id), in the store's transaction, and carry out
        the risk rules' reactions to it."""
        if fill.fee_asset:
            fill = replace(fill, fee=fill.fee * self.fee_price(fill.fee_asset))
        at_work = self.at_work
        with at_work.lock:
            if self.store.seen(self.symbol, fill.trade_id):
                return
            filled = working.filled + fill.amount
            amount = working.amount or working.order.amount or filled
            entry = self.ledger.book(
                replace(
                    fill,
                    bar=at_work.bar,
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
            self.new.append(booked)
            if booked.remaining <= 0:
                self.store.order_status(
                    working.client_id, OrderStatus.FILLED, at_work.now_ms, filled=filled
                )
                working.status = OrderStatus.FILLED
                at_work.orders.pop(working.client_id, None)
            self.protection.apply(entry.commands)

    def recovered(self, fills: Iterable[Fill], at_start: bool) -> None:
        """Book fills a reconciliation found that the store recorded unbooked (the
        process died before it booked them, or the stream and polls missed them): the
        position and the risk rules move. At start the cash is the balance read after
        them and the orders resumed from the store count them already: neither moves."""
        for fill in fills:
            if fill.symbol != self.symbol:
                continue
            with self.at_work.lock:
                working = self.at_work.orders.get(fill.order_id)
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
                self.new.append(entry.fill)
                self.protection.apply(entry.commands)

    def taken(self) -> list[Fill]:
        """The fills booked since the last call."""
        with self.at_work.lock:
            fills, self.new = self.new, []
        return fills
