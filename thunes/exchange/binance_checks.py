"""Binance's raw filters that order preparation (execution/prepare.py) does not know, checked
on an order it has already rounded and sized, so that the venue never answers -1013.

Preparation applies PRICE_FILTER, LOT_SIZE and the limit's NOTIONAL minimum. This adds the
rest, as Binance applies them: the symbol's status, MARKET_LOT_SIZE, NOTIONAL on market
orders (priced at the average price, not the book), its maximum, PERCENT_PRICE_BY_SIDE
(bid multipliers bind buys, ask multipliers sells), MAX_NUM_ORDERS and, on stop orders,
MAX_NUM_ALGO_ORDERS. A sell stop is a STOP_LOSS (a market order once triggered, whose
notional is its stop's) or, given a `limit`, a STOP_LOSS_LIMIT (whose limit is checked as
a limit order's); either is refused when the bid has reached its stop already (Binance's
-2010 "Stop price would trigger immediately.").

`edge` keeps orders that far (a fraction) inside the average-price bounds: the average
moves between the check and the venue's, and an order refused here is explained, where
one refused there costs a -1013 and a count towards the circuit breaker.
"""

from __future__ import annotations

from thunes.domain.market import VenueFilters
from thunes.domain.orders import OrderType, Side
from thunes.exchange.ccxt_orders import Book


def halted(symbol: str, filters: VenueFilters) -> str:
    """Why no order may be sent on `symbol` now, or ''."""
    if filters.status != "TRADING":
        return f"{symbol} is not trading on the exchange (status {filters.status})"
    return ""


def raw_refusal(
    side: Side,
    type_: OrderType,
    price: float,
    amount: float,
    filters: VenueFilters,
    book: Book,
    open_orders: int,
    edge: float = 0.002,
    *,
    open_stops: int = 0,
    limit: float | None = None,
) -> str:
    """Why Binance would refuse this prepared order, or ''. `price`: a limit's own, a stop's
    trigger; `amount`: the base it trades (a quote-sized market buy's as the venue will size
    it, at the ask); `open_orders`: the orders open on the symbol before it, whoever placed
    them, and `open_stops` the stop orders among them; `limit`: a stop-limit's limit."""
    f, avg = filters, book.avg_price
    if type_ is OrderType.MARKET:
        if amount < f.market_min_qty:
            return f"MARKET_LOT_SIZE: {amount:.10g} under the minimum {f.market_min_qty:.10g}"
        if amount > f.market_max_qty:
            return f"MARKET_LOT_SIZE: {amount:.10g} over the maximum {f.market_max_qty:.10g}"
        notional = amount * avg
        if f.apply_min_to_market and notional < f.min_notional * (1 + edge):
            return (
                f"NOTIONAL: {notional:.10g} at the average price {avg:.10g} is under the"
                f" minimum {f.min_notional:.10g} (with a {edge:.2%} margin)"
            )
        if f.apply_max_to_market and notional > f.max_notional * (1 - edge):
            return f"NOTIONAL: {notional:.10g} at the average price over {f.max_notional:.10g}"
        return ""
    if type_ is OrderType.STOP:
        why = _stop_refusal(price, amount, f, book, open_stops, limit)
        if why or limit is None:
            return why or _count_refusal(open_orders, f)
        price = limit
    if price * amount > f.max_notional:
        return f"NOTIONAL: {price * amount:.10g} over the maximum {f.max_notional:.10g}"
    buy = side is Side.BUY
    down = f.bid_multiplier_down if buy else f.ask_multiplier_down
    up = f.bid_multiplier_up if buy else f.ask_multiplier_up
    low, high = avg * down * (1 + edge), avg * up * (1 - edge)
    if not low <= price <= high:
        return (
            f"PERCENT_PRICE_BY_SIDE: {price:.10g} outside {low:.10g}..{high:.10g}"
            f" (the average price {avg:.10g} x {down:g}..{up:g}, less a {edge:.2%} margin)"
        )
    return _count_refusal(open_orders, f)


def _stop_refusal(
    stop: float, amount: float, f: VenueFilters, book: Book, open_stops: int, limit: float | None
) -> str:
    """A sell stop's own refusals: triggered at once, its size, MAX_NUM_ALGO_ORDERS."""
    if book.bid <= stop:
        return f"STOP: {stop:.10g} is at or above the bid {book.bid:.10g}: it would trigger at once"
    if limit is None:
        if not f.market_min_qty <= amount <= f.market_max_qty:
            return (
                f"MARKET_LOT_SIZE: {amount:.10g} outside"
                f" {f.market_min_qty:.10g}..{f.market_max_qty:.10g}"
            )
        if f.apply_min_to_market and stop * amount < f.min_notional:
            return f"NOTIONAL: {stop * amount:.10g} at the stop is under {f.min_notional:.10g}"
    elif limit * amount < f.min_notional:
        return f"NOTIONAL: {limit * amount:.10g} at the limit is under {f.min_notional:.10g}"
    if f.max_num_algo_orders and open_stops + 1 > f.max_num_algo_orders:
        return (
            f"MAX_NUM_ALGO_ORDERS: {open_stops} stop orders open, at most {f.max_num_algo_orders}"
        )
    return ""


def _count_refusal(open_orders: int, f: VenueFilters) -> str:
    if f.max_num_orders and open_orders + 1 > f.max_num_orders:
        return f"MAX_NUM_ORDERS: {open_orders} orders open, at most {f.max_num_orders}"
    return ""
