"""The venue's own check on an order as it leaves, once, for every broker that knows the
venue's raw filters: the exchange broker before it sends, the simulated broker of a paper
session on a ccxt exchange before it accepts. Both then refuse exactly what the venue
would, with the same line (thunes/exchange/binance_checks.py holds the rules).

A backtest has no venue filters and never calls it: its compiled loops do not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from thunes.domain.market import VenueFilters
from thunes.domain.orders import OrderType, Side
from thunes.exchange.binance_checks import halted, raw_refusal
from thunes.exchange.ccxt_orders import Book, OrderCallError
from thunes.execution.rounding import to_grid

log = logging.getLogger(__name__)


def leaving(
    symbol: str,
    side: Side,
    type_: OrderType,
    price: float,
    amount: float,
    filters: VenueFilters,
    book: Book,
    open_orders: int,
    open_stops: int,
    edge: float,
    limit: float | None = None,
) -> str:
    """Why the venue would refuse this prepared order now, or '': the symbol halted, or a
    raw filter (binance_checks.raw_refusal's arguments: `price` a limit's own or a stop's
    trigger, `amount` the base it trades, `limit` a stop-limit's limit, `open_orders` and
    `open_stops` what is open on the symbol before it)."""
    return halted(symbol, filters) or raw_refusal(
        side,
        type_,
        price,
        amount,
        filters,
        book,
        open_orders,
        edge,
        open_stops=open_stops,
        limit=limit,
    )


def stop_limit(stop: float, filters: VenueFilters, tick: float, offset: float) -> float | None:
    """A sell stop's limit as it leaves: none (STOP_LOSS) where the symbol lists STOP_LOSS,
    else `offset` under the stop, on the tick (rounded down: it fills sooner)."""
    if "STOP_LOSS" in filters.order_types:
        return None
    return float(to_grid(stop * (1 - offset), tick, False))


@dataclass
class VenueCheck:
    """What a simulated broker needs to refuse what the venue would: the symbol's raw
    filters, its book (best bid/ask and average price, read at most once per market time),
    the margin kept inside the price bounds and a stop-limit's offset (the exchange
    broker's, BrokerLimits)."""

    filters: VenueFilters
    read_book: Callable[[], Book]
    edge: float
    stop_limit_offset: float
    _book: Book | None = field(default=None, init=False)
    _read_at: float | None = field(default=None, init=False)

    def book(self, time_ms: float) -> Book | str:
        """The book at market time `time_ms`, or why there is none: a failed read keeps
        the last book (the venue's average moves slowly); with none yet, the order waits
        for a book rather than pass unchecked."""
        book = self._book
        if book is not None and self._read_at == time_ms:
            return book
        try:
            book = self.read_book()
        except OrderCallError as exc:
            if book is None:
                return f"the venue's prices could not be read ({exc}): refused unchecked"
            log.warning("venue prices not read (%s): the last ones stand", exc)
        self._book, self._read_at = book, time_ms
        return book
