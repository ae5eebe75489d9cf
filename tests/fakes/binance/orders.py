"""One spot account on the stand-in: balances, orders, matching, trades and user-data events.

Market orders fill at once at the book (a buy at the ask, a sell at the bid). A limit that
crosses the book fills at once at the book, as a taker; otherwise it rests and fills at its
own price, as a maker, once the price path trades through it (below a buy, above a sell):
whole, or `fill_cap` of it per match when a test sets one (partial fills).

Stop orders ("algo" orders to Binance) rest untriggered until the path's price reaches their
`stopPrice`: STOP_LOSS and STOP_LOSS_LIMIT when it falls to it on a sell (rises to it on a
buy), TAKE_PROFIT and TAKE_PROFIT_LIMIT the other way. One whose stop the price has
reached already is refused: -2010 "Stop price would trigger immediately.". Triggered, a
STOP_LOSS / TAKE_PROFIT fills at once as a market order at the price where it triggered (the
stop, or beyond it when the path gapped through it); a *_LIMIT becomes its limit order there.

The commission is taken from the asset received: base on a buy, quote on a sell; or, with
`bnb_fees` set (BNB price in the quote), from the account's BNB at that price, as Binance
does when "pay fees with BNB" is on and BNB is held.
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
STOPS = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
"""Binance's "algo" orders: the ones MAX_NUM_ALGO_ORDERS counts."""
KINDS = ("LIMIT", "LIMIT_MAKER", "MARKET", *STOPS)


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
    stop_price: Decimal = ZERO
    triggered: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_stop(self) -> bool:
        return self.type in STOPS

    @property
    def waiting(self) -> bool:
        """A stop not yet triggered."""
        return self.is_stop and not self.triggered and self.is_open

    @property
    def falls(self) -> bool:
        """Whether this stop triggers on a fall: a sell's stop loss, a buy's take profit."""
        return self.type.startswith("STOP") == (self.side == "SELL")

    def reached(self, low: Decimal, high: Decimal) -> bool:
        """Whether prices from `low` to `high` reach this stop's trigger."""
        return low <= self.stop_price if self.falls else high >= self.stop_price

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
            "stopPrice": _s(self.stop_price),
            "icebergQty": _s(ZERO),
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": not self.waiting,
            "workingTime": -1 if self.waiting else self.time_ms,
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
        self.fill_cap: Decimal | None = None
        """At most this much of a resting order fills per match (None: whole)."""
        self.bnb_fees: Decimal | None = None
        """BNB's price in the quote: fees are paid in BNB while the account holds enough."""
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
        if kind not in KINDS or kind not in market.order_types:
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
        stop = ZERO
        if kind in STOPS:
            stop = self._decimal(params, "stopPrice")
            filters.check_price(spec, stop)
        if kind in ("MARKET", "STOP_LOSS", "TAKE_PROFIT"):
            price = ZERO
            if quote_qty > ZERO and kind == "MARKET":
                step = _dec(spec.step_size)
                qty = (quote_qty / reference / step).to_integral_value(ROUND_FLOOR) * step
            else:
                qty = self._decimal(params, "quantity")
            filters.check_quantity(spec, qty, market=True)
            at = stop if kind in STOPS else _dec(market.avg_price(now))
            filters.check_notional(spec, at * qty, market=True)
            cost = (stop or reference) * qty
        else:
            price, qty = self._decimal(params, "price"), self._decimal(params, "quantity")
            if kind != "LIMIT_MAKER" and not params.get("timeInForce"):
                raise errors.missing("timeInForce")
            filters.check_price(spec, price)
            filters.check_percent_price(spec, price, market.avg_price(now))
            filters.check_quantity(spec, qty, market=False)
            filters.check_notional(spec, price * qty, market=False)
            cost = price * qty
        open_here = [o for o in self.orders.values() if o.is_open and o.symbol == spec.symbol]
        if kind != "MARKET":
            filters.check_open_orders(spec, len(open_here))
        if kind in STOPS:
            filters.check_algo_orders(spec, sum(o.is_stop for o in open_here))
        order = Order(
            spec.symbol, self._next_order, client_id, side, kind, price, qty, quote_qty, now
        )
        order.stop_price = stop
        if kind in STOPS and order.reached(bid, bid):
            raise errors.rejected(errors.WOULD_TRIGGER)
        crosses = kind == "MARKET" or (
            kind not in STOPS and (price >= ask if side == "BUY" else price <= bid)
        )
        if kind == "LIMIT_MAKER" and crosses:
            raise errors.rejected("Order would immediately match and take.")
        pay_asset, need = (spec.quote, cost) if side == "BUY" else (spec.base, qty)
        if self.balance(pay_asset).free < need:
            raise errors.rejected(errors.INSUFFICIENT_BALANCE)
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
        """Trigger every stop the price path reached between t0 and t1, and fill every
        resting limit it traded through."""
        for order in [o for o in self.orders.values() if o.is_open]:
            market = self.markets[order.symbol]
            since = t0
            if order.waiting:
                hit = market.crossing(t0, t1, float(order.stop_price), order.falls)
                if hit is None:
                    continue
                since, at = hit[0], _dec(hit[1])
                order.triggered = True
                limit_crosses = order.price <= at if order.side == "SELL" else order.price >= at
                if order.type in ("STOP_LOSS", "TAKE_PROFIT") or limit_crosses:
                    self._fill(order, at, maker=False, now=t1)
                    continue
            low, high = (_dec(p) for p in market.extremes(since, t1))
            if (order.side == "BUY" and low < order.price) or (
                order.side == "SELL" and high > order.price
            ):
                self._fill(order, order.price, maker=True, now=t1, cap=self.fill_cap)

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def _fill(
        self, order: Order, price: Decimal, *, maker: bool, now: int, cap: Decimal | None = None
    ) -> Trade:
        """Fill what is left of `order` (at most `cap` of it) at `price`."""
        spec = self.markets[order.symbol].spec
        rest = order.qty - order.executed
        qty = rest if cap is None else min(cap, rest)
        release = order.locked * qty / rest
        quote = (price * qty).quantize(EIGHT)
        base, quote_b = self.balance(spec.base), self.balance(spec.quote)
        fee, fee_asset = self._fee(order.side, qty, quote, spec.base, spec.quote)
        if order.side == "BUY":
            quote_b.locked -= release
            quote_b.free += release - quote
            base.free += qty
        else:
            base.locked -= release
            base.free += release - qty
            quote_b.free += quote
        self.balance(fee_asset).free -= fee
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
        order.executed += qty
        order.cum_quote += quote
        order.locked -= release
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_ms = now
        self._report(order, "TRADE", trade, now)
        assets = {spec.base, spec.quote, fee_asset}
        self._account_position(now, *sorted(assets))
        return trade

    def _fee(
        self, side: str, qty: Decimal, quote: Decimal, base: str, quote_asset: str
    ) -> tuple[Decimal, str]:
        """The commission and its asset: BNB when `bnb_fees` is set and enough is held,
        else the asset received."""
        if self.bnb_fees:
            in_bnb = (quote * self.commission / self.bnb_fees).quantize(EIGHT)
            if self.balance("BNB").free >= in_bnb:
                return in_bnb, "BNB"
        if side == "BUY":
            return (qty * self.commission).quantize(EIGHT), base
        return (quote * self.commission).quantize(EIGHT), quote_asset

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
                "P": _s(order.stop_price),
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
