"""One spot account on the stand-in: balances, orders, matching, trades and user-data events.

Market orders fill at once at the book (a buy at the ask, a sell at the bid). A limit that
crosses the book fills at once at the book, as a taker; otherwise it rests and fills whole at
its own price, as a maker, once the price path trades through it (below a buy, above a sell).
The commission is taken from the asset received: base on a buy, quote on a sell.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from tests.fakes.binance import errors, filters
from tests.fakes.binance.errors import BinanceApiError
from tests.fakes.binance.market import MarketClock, SymbolMarket

CLIENT_ID = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")
EIGHT = Decimal("0.00000001")
ZERO = Decimal(0)
OPEN = ("NEW", "PARTIALLY_FILLED")


def _dec(value: float | str | Decimal) -> Decimal:
    return (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


@dataclass
class Order:
    symbol: str
    order_id: int
    client_id: str
    side: str
    type: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time_ms: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO
    update_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def as_json(self) -> dict[str, Any]:
        """GET /api/v3/order's shape."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_id,
            "price": _s(self.price),
            "origQty": _s(self.qty),
            "executedQty": _s(self.executed),
            "cummulativeQuoteQty": _s(self.cum_quote),
            "status": self.status,
            "timeInForce": "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": _s(ZERO),
            "icebergQty": _s(ZERO),
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": True,
            "workingTime": self.time_ms,
            "origQuoteOrderQty": _s(self.quote_qty),
            "selfTradePreventionMode": "NONE",
        }


@dataclass(frozen=True)
class Trade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool

    def as_json(self) -> dict[str, Any]:
        """GET /api/v3/myTrades' shape."""
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": _s(self.price),
            "qty": _s(self.qty),
            "quoteQty": _s(self.price * self.qty),
            "commission": _s(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": self.maker,
            "isBestMatch": True,
        }


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Stats:
    """What a test asserts on: orders accepted, trades, error codes answered, reused client ids."""

    orders: int = 0
    trades: int = 0
    errors: Counter[int] = field(default_factory=Counter)
    client_ids: Counter[str] = field(default_factory=Counter)

    @property
    def duplicate_client_ids(self) -> list[str]:
        """Client order ids accepted more than once (Binance allows it once the first is closed)."""
        return [cid for cid, n in self.client_ids.items() if n > 1]


class Account:
    """The account's orders and balances, matched against the symbols' price paths."""

    def __init__(
        self,
        markets: Mapping[str, SymbolMarket],
        clock: MarketClock,
        balances: Mapping[str, float | str],
        commission: float,
    ) -> None:
        self.markets, self.clock = markets, clock
        self.balances = {asset: Balance(_dec(free)) for asset, free in balances.items()}
        self.commission = _dec(commission)
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.events: list[dict[str, Any]] = []
        """executionReport / outboundAccountPosition events not yet pushed to subscribers."""
        self.stats = Stats()
        self._next_order, self._next_trade = 1, 1

    # -- requests ----------------------------------------------------------------------------

    def market(self, symbol: str | None) -> SymbolMarket:
        if not symbol:
            raise errors.missing("symbol")
        if symbol not in self.markets:
            raise errors.INVALID_SYMBOL
        return self.markets[symbol]

    def place(self, params: Mapping[str, str]) -> dict[str, Any]:
        """POST /api/v3/order: validate as Binance does, then book and match the order."""
        market = self.market(params.get("symbol"))
        spec, now = market.spec, self.clock.now_ms()
        side, kind = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL"):
            raise errors.invalid("side")
        if kind not in ("LIMIT", "LIMIT_MAKER", "MARKET"):
            raise BinanceApiError(400, -1116, "Invalid orderType.")
        client_id = params.get("newClientOrderId") or f"standin{self._next_order}"
        if not CLIENT_ID.match(client_id):
            raise errors.invalid("newClientOrderId")
        if market.status != "TRADING":
            raise errors.rejected(errors.MARKET_CLOSED)
        if any(o.client_id == client_id and o.is_open for o in self.orders.values()):
            raise errors.rejected(errors.DUPLICATE_ORDER)
        bid, ask = (_dec(p) for p in market.book(now))
        reference = ask if side == "BUY" else bid
        quote_qty = _dec(params.get("quoteOrderQty") or "0")
        if kind == "MARKET":
            price = ZERO
            if quote_qty > ZERO:
                step = _dec(spec.step_size)
                qty = (quote_qty / reference / step).to_integral_value(ROUND_FLOOR) * step
            else:
                qty = self._decimal(params, "quantity")
            filters.check_quantity(spec, qty, market=True)
            avg = _dec(market.avg_price(now))
            filters.check_notional(spec, avg * qty, market=True)
            cost = reference * qty
        else:
            price, qty = self._decimal(params, "price"), self._decimal(params, "quantity")
            if kind == "LIMIT" and not params.get("timeInForce"):
                raise errors.missing("timeInForce")
            filters.check_price(spec, price)
            filters.check_percent_price(spec, price, market.avg_price(now))
            filters.check_quantity(spec, qty, market=False)
            filters.check_notional(spec, price * qty, market=False)
            open_here = sum(o.is_open and o.symbol == spec.symbol for o in self.orders.values())
            filters.check_open_orders(spec, open_here)
            cost = price * qty
        crosses = kind == "MARKET" or (price >= ask if side == "BUY" else price <= bid)
        if kind == "LIMIT_MAKER" and crosses:
            raise errors.rejected("Order would immediately match and take.")
        pay_asset, need = (spec.quote, cost) if side == "BUY" else (spec.base, qty)
        if self.balance(pay_asset).free < need:
            raise errors.rejected(errors.INSUFFICIENT_BALANCE)
        order = Order(
            spec.symbol, self._next_order, client_id, side, kind, price, qty, quote_qty, now
        )
        self._next_order += 1
        self.orders[order.order_id] = order
        self.stats.orders += 1
        self.stats.client_ids[client_id] += 1
        fills: list[Trade] = []
        if kind != "MARKET":
            order.locked = need
            self.balance(pay_asset).free -= need
            self.balance(pay_asset).locked += need
        self._report(order, "NEW", None, now)
        if crosses:
            fills.append(self._fill(order, reference, maker=False, now=now))
        else:
            self._account_position(now, pay_asset)
        return {
            **order.as_json(),
            "transactTime": now,
            "fills": [
                {
                    "price": _s(t.price),
                    "qty": _s(t.qty),
                    "commission": _s(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in fills
            ],
        }

    def find(self, params: Mapping[str, str], not_found: BinanceApiError) -> Order:
        """The order named by orderId or origClientOrderId (the latest with that client id)."""
        symbol = self.market(params.get("symbol")).spec.symbol
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceApiError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        matches = [
            o
            for o in self.orders.values()
            if o.symbol == symbol
            and (not order_id or str(o.order_id) == order_id)
            and (not client_id or o.client_id == client_id)
        ]
        if not matches:
            raise not_found
        return matches[-1]

    def cancel(self, params: Mapping[str, str]) -> dict[str, Any]:
        """DELETE /api/v3/order: -2011 unless the order is still open."""
        order = self.find(params, errors.UNKNOWN_ORDER)
        if not order.is_open:
            raise errors.UNKNOWN_ORDER
        now = self.clock.now_ms()
        market = self.markets[order.symbol]
        asset = market.spec.quote if order.side == "BUY" else market.spec.base
        self.balance(asset).locked -= order.locked
        self.balance(asset).free += order.locked
        order.locked, order.status, order.update_ms = ZERO, "CANCELED", now
        cancel_id = params.get("newClientOrderId") or f"standincancel{order.order_id}"
        self._report(order, "CANCELED", None, now, cancel_id=cancel_id)
        self._account_position(now, asset)
        return {
            **order.as_json(),
            "origClientOrderId": order.client_id,
            "clientOrderId": cancel_id,
            "transactTime": now,
        }

    def open_orders(self, symbol: str | None) -> list[dict[str, Any]]:
        if symbol:
            self.market(symbol)
        return [
            o.as_json() for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)
        ]

    def all_orders(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = self.market(params.get("symbol")).spec.symbol
        start, end = int(params.get("startTime", 0)), int(params.get("endTime", 2**62))
        rows = [
            o
            for o in self.orders.values()
            if o.symbol == symbol
            and o.order_id >= int(params.get("orderId", 0))
            and start <= o.time_ms <= end
        ]
        return [o.as_json() for o in rows[: int(params.get("limit", 500))]]

    def my_trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = self.market(params.get("symbol")).spec.symbol
        start, end = int(params.get("startTime", 0)), int(params.get("endTime", 2**62))
        rows = [
            t
            for t in self.trades
            if t.symbol == symbol
            and t.trade_id >= int(params.get("fromId", 0))
            and str(t.order_id) == params.get("orderId", str(t.order_id))
            and start <= t.time_ms <= end
        ]
        return [t.as_json() for t in rows[: int(params.get("limit", 500))]]

    def account_json(self) -> dict[str, Any]:
        """GET /api/v3/account's shape."""
        rate = int(self.commission * 10_000)
        return {
            "makerCommission": rate,
            "takerCommission": rate,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": _s(self.commission),
                "taker": _s(self.commission),
                "buyer": _s(ZERO),
                "seller": _s(ZERO),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.clock.now_ms(),
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": _s(b.free), "locked": _s(b.locked)}
                for asset, b in sorted(self.balances.items())
            ],
            "permissions": ["SPOT"],
            "uid": 1,
        }

    # -- matching ----------------------------------------------------------------------------

    def advance(self, t0: int, t1: int) -> None:
        """Fill every resting limit the price path traded through between t0 and t1."""
        resting = [o for o in self.orders.values() if o.is_open]
        by_symbol: dict[str, tuple[float, float]] = {}
        for order in resting:
            if order.symbol not in by_symbol:
                by_symbol[order.symbol] = self.markets[order.symbol].extremes(t0, t1)
            low, high = by_symbol[order.symbol]
            if (order.side == "BUY" and low < order.price) or (
                order.side == "SELL" and high > order.price
            ):
                self._fill(order, order.price, maker=True, now=t1)

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def _fill(self, order: Order, price: Decimal, *, maker: bool, now: int) -> Trade:
        spec = self.markets[order.symbol].spec
        qty = order.qty - order.executed
        quote = (price * qty).quantize(EIGHT)
        base, quote_b = self.balance(spec.base), self.balance(spec.quote)
        if order.side == "BUY":
            fee, fee_asset = (qty * self.commission).quantize(EIGHT), spec.base
            quote_b.locked -= order.locked
            quote_b.free += order.locked - quote
            base.free += qty - fee
        else:
            fee, fee_asset = (quote * self.commission).quantize(EIGHT), spec.quote
            base.locked -= order.locked
            base.free += order.locked - qty
            quote_b.free += quote - fee
        trade = Trade(
            self._next_trade,
            order.order_id,
            order.symbol,
            order.side,
            price,
            qty,
            fee,
            fee_asset,
            now,
            maker,
        )
        self._next_trade += 1
        self.trades.append(trade)
        self.stats.trades += 1
        order.executed, order.cum_quote, order.locked = order.qty, order.cum_quote + quote, ZERO
        order.status, order.update_ms = "FILLED", now
        self._report(order, "TRADE", trade, now)
        self._account_position(now, spec.base, spec.quote)
        return trade

    def _decimal(self, params: Mapping[str, str], name: str) -> Decimal:
        value = params.get(name)
        if not value:
            raise errors.missing(name)
        try:
            return Decimal(value)
        except ArithmeticError:
            raise errors.invalid(name) from None

    def _report(
        self, order: Order, execution: str, trade: Trade | None, now: int, cancel_id: str = ""
    ) -> None:
        """An executionReport, as the user data stream pushes it."""
        self.events.append(
            {
                "e": "executionReport",
                "E": now,
                "s": order.symbol,
                "c": cancel_id or order.client_id,
                "S": order.side,
                "o": order.type,
                "f": "GTC",
                "q": _s(order.qty),
                "p": _s(order.price),
                "P": _s(ZERO),
                "F": _s(ZERO),
                "g": -1,
                "C": order.client_id if cancel_id else "",
                "x": execution,
                "X": order.status,
                "r": "NONE",
                "i": order.order_id,
                "l": _s(trade.qty if trade else ZERO),
                "z": _s(order.executed),
                "L": _s(trade.price if trade else ZERO),
                "n": _s(trade.commission if trade else ZERO),
                "N": trade.commission_asset if trade else None,
                "T": now,
                "t": trade.trade_id if trade else -1,
                "I": len(self.events) + 1,
                "w": order.is_open,
                "m": trade.maker if trade else False,
                "M": False,
                "O": order.time_ms,
                "Z": _s(order.cum_quote),
                "Y": _s(trade.price * trade.qty if trade else ZERO),
                "Q": _s(order.quote_qty),
                "W": order.time_ms,
                "V": "NONE",
            }
        )

    def _account_position(self, now: int, *assets: str) -> None:
        self.events.append(
            {
                "e": "outboundAccountPosition",
                "E": now,
                "u": now,
                "B": [
                    {"a": a, "f": _s(self.balance(a).free), "l": _s(self.balance(a).locked)}
                    for a in assets
                ],
            }
        )
