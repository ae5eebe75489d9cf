"""Binance's raw filters that order preparation (execution/prepare.py) does not know, checked
on an order it has already rounded and sized, so that the venue never answers -1013.

Preparation applies PRICE_FILTER, LOT_SIZE and the limit's NOTIONAL minimum. This adds the
rest, as Binance applies them: the symbol's status, MARKET_LOT_SIZE, NOTIONAL on market
orders (priced at the average price, not the book), its maximum, PERCENT_PRICE_BY_SIDE
(bid multipliers bind buys, ask multipliers sells) and MAX_NUM_ORDERS.

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
) -> str:
    """Why Binance would refuse this prepared order, or ''. `price`: a limit's own; `amount`:
    the base it trades (a quote-sized market buy's as the venue will size it, at the
    ask); `open_orders`: the orders open on the symbol before it."""
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
    if f.max_num_orders and open_orders + 1 > f.max_num_orders:
        return f"MAX_NUM_ORDERS: {open_orders} orders open, at most {f.max_num_orders}"
    return ""
