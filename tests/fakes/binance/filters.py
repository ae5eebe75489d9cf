"""Binance's symbol filters, checked on every new order with Binance's -1013 answers."""

from __future__ import annotations

from decimal import Decimal

from tests.fakes.binance.errors import filter_failure
from tests.fakes.binance.market import SymbolSpec

ZERO = Decimal(0)


def _on_step(value: Decimal, base: Decimal, step: Decimal) -> bool:
    return step == ZERO or (value - base) % step == ZERO


def check_price(spec: SymbolSpec, price: Decimal) -> None:
    tick = Decimal(spec.tick_size)
    if price < tick or price > Decimal("1000000") or not _on_step(price, ZERO, tick):
        raise filter_failure("PRICE_FILTER")


def check_percent_price(spec: SymbolSpec, price: Decimal, avg_price: float) -> None:
    """PERCENT_PRICE_BY_SIDE: a limit price within multipliers of the average price."""
    avg = Decimal(repr(avg_price))
    if not avg * Decimal(spec.multiplier_down) <= price <= avg * Decimal(spec.multiplier_up):
        raise filter_failure("PERCENT_PRICE_BY_SIDE")


def check_quantity(spec: SymbolSpec, qty: Decimal, *, market: bool) -> None:
    """LOT_SIZE for every order; MARKET_LOT_SIZE on top of it for market orders."""
    min_qty, step = Decimal(spec.min_qty), Decimal(spec.step_size)
    if qty < min_qty or qty > Decimal(spec.max_qty) or not _on_step(qty, min_qty, step):
        raise filter_failure("LOT_SIZE")
    if market:
        low, high = Decimal(spec.market_min_qty), Decimal(spec.market_max_qty)
        if qty < low or qty > high or not _on_step(qty, low, Decimal(spec.market_step_size)):
            raise filter_failure("MARKET_LOT_SIZE")


def check_notional(spec: SymbolSpec, notional: Decimal, *, market: bool) -> None:
    """NOTIONAL: price x qty for a limit, avgPrice x qty for a market order.

    The stand-in's symbols set applyMinToMarket and not applyMaxToMarket, as Binance's do.
    """
    too_big = not market and notional > Decimal(spec.max_notional)
    if notional < Decimal(spec.min_notional) or too_big:
        raise filter_failure("NOTIONAL")


def check_open_orders(spec: SymbolSpec, open_orders: int) -> None:
    if open_orders >= spec.max_num_orders:
        raise filter_failure("MAX_NUM_ORDERS")


def check_algo_orders(spec: SymbolSpec, open_stops: int) -> None:
    """MAX_NUM_ALGO_ORDERS: the stop orders (STOP_LOSS*, TAKE_PROFIT*) open on the symbol."""
    if open_stops >= spec.max_num_algo_orders:
        raise filter_failure("MAX_NUM_ALGO_ORDERS")
