"""Orders on a ccxt venue (Binance spot): place, look up, cancel, and read back, answered
as THUNES types, with every failure sorted into what it means for the order.

An order call fails one of four ways, and each asks for something different:
- `Rejected`: the venue refused it (filters, -2010 balance, halted): it does not exist, and
  sending it again would be refused again;
- `StatusUnknown`: a timeout, a 5xx, -1007 or a dropped connection: it MAY exist. Look it
  up by client id before anything else; never send it again blindly (Binance accepts a
  reused client id once the first order is closed, so a retry can double it);
- `RateLimited`: 429/418, refused before matching; wait `retry_after_s`, then send again;
- `NotFound`: -2013 on a lookup, -2011 on a cancel: a definite "no such (open) order".

A -1021 (our clock outside the recvWindow of the exchange's) is a refusal before the request
reaches the matching engine (Binance's "Timing security": checked on receipt and again just
before forwarding), so the order was not placed: every call resyncs the clock and is sent
once more, the same request under the same client id. A second -1021 is `Rejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.errors import ExchangeError, one_line
from thunes.state.reconcile import Snapshot, VenueOrder, to_look_up
from thunes.state.records import OrderRecord

T = TypeVar("T")
DEFAULT_RETRY_AFTER_S = 1.0
CLOCK = -1021
"""Binance's INVALID_TIMESTAMP: the request's timestamp is outside the exchange's recvWindow."""


class OrderCallError(ExchangeError):
    """An order call that failed; `code` is the venue's (Binance's) when it gave one."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


class Rejected(OrderCallError):
    """A definite refusal: the order does not exist."""


class KeyRefused(Rejected):
    """The venue refused the key itself (-2014, -2015: invalid, wrong IP, no permission)."""


class StatusUnknown(OrderCallError):
    """No answer: the order may exist (look it up by client id)."""


class RateLimited(OrderCallError):
    """Refused for the request rate: wait `retry_after_s` (the venue's Retry-After)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message, -1003)
        self.retry_after_s = retry_after_s


class NotFound(OrderCallError):
    """The venue has no such order (-2013), or no such open order to cancel (-2011)."""


@dataclass(frozen=True)
class Placed:
    """The venue's answer to a new order: the order, and the trades it made at once."""

    order: VenueOrder
    trades: list[Fill]


@dataclass(frozen=True)
class Book:
    """What the raw filters are checked against: best bid/ask and the average price."""

    bid: float
    ask: float
    avg_price: float


_STATUS = {"expired_in_match": "expired", "pending_cancel": "new", "pending_new": "new"}


class CcxtOrders:
    """One account's order calls on a ccxt client (CcxtExchange.client), one at a time."""

    def __init__(self, client: Any) -> None:
        import ccxt

        self._client, self._ccxt = client, ccxt

    def place(
        self, symbol: str, client_id: str, order: OrderIntent, limit: float | None = None
    ) -> Placed:
        """Send a prepared order under `client_id`. A market buy given in quote spends it
        through `quoteOrderQty` (the venue sizes it at the fill). A stop (its `price` the
        trigger) leaves as ccxt maps a `stopPrice`: STOP_LOSS (a market order once
        triggered), or, given a `limit`, STOP_LOSS_LIMIT at that limit (GTC)."""
        params: dict[str, Any] = {"newClientOrderId": client_id}
        amount, kind, price = order.amount, order.type.value, order.price
        if order.type is OrderType.MARKET and order.side is Side.BUY and order.quote:
            params["quoteOrderQty"] = self._client.cost_to_precision(symbol, order.quote)
            amount = None
        if order.type is OrderType.STOP:
            params["stopPrice"] = order.price
            kind, price = ("market", None) if limit is None else ("limit", limit)
        answer = self._call(
            "place",
            lambda: self._client.create_order(
                symbol, kind, order.side.value, amount, price, params
            ),
        )
        venue = venue_order(answer, client_id)
        return Placed(venue, [trade_fill(t, answer, client_id) for t in answer.get("trades", [])])

    def look_up(self, symbol: str, client_id: str) -> VenueOrder | None:
        """The order with this client id, or None: a definite -2013 (never placed)."""
        try:
            answer = self._call(
                "look up",
                lambda: self._client.fetch_order(None, symbol, {"origClientOrderId": client_id}),
            )
        except NotFound:
            return None
        return venue_order(answer, client_id)

    def cancel(self, symbol: str, client_id: str) -> VenueOrder:
        """Cancel the open order with this client id; its state once canceled.
        NotFound: it is not open (filled, or canceled already): look it up."""
        answer = self._call(
            "cancel",
            lambda: self._client.cancel_order(None, symbol, {"origClientOrderId": client_id}),
        )
        return venue_order(answer, client_id)

    def open_orders(self, symbol: str) -> list[VenueOrder]:
        answers = self._call("open orders", lambda: self._client.fetch_open_orders(symbol))
        return [venue_order(answer) for answer in answers]

    def order_trades(self, symbol: str, order: VenueOrder) -> list[Fill]:
        """The trades of one order, asked by its exchange id (never matched by time)."""
        answers = self._call(
            "order trades",
            lambda: self._client.fetch_my_trades(
                symbol, None, None, {"orderId": order.exchange_id}
            ),
        )
        return [trade_fill(t, None, order.client_id) for t in answers]

    def balances(self) -> dict[str, float]:
        """Asset -> total (free and locked)."""
        return self._balances()[1]

    def bid(self, base: str, quote: str) -> float | None:
        """The best bid of `base` in `quote` (a fee asset's price), or None: no such market."""
        markets = self._call("markets", self._client.load_markets)
        symbol = f"{base}/{quote}"
        if symbol not in markets:
            return None
        market_id = markets[symbol]["id"]
        top = self._call(
            "book", lambda: self._client.public_get_ticker_bookticker({"symbol": market_id})
        )
        return float(top["bidPrice"])

    def _balances(self) -> tuple[int, dict[str, float]]:
        """When the venue read them (its clock, 0 if it does not say) and the totals."""
        answer = self._call("balances", self._client.fetch_balance)
        totals = {a: float(t) for a, t in answer["total"].items() if t is not None}
        return int((answer.get("info") or {}).get("updateTime") or 0), totals

    def snapshot(
        self,
        symbols: Iterable[str],
        since_ms: int,
        orders: Iterable[OrderRecord],
        client_ids: Mapping[str, str] | None = None,
    ) -> Snapshot:
        """What reconciliation (state/reconcile.py) compares the store with, fetched in its
        order: balances, trades since `since_ms`, open orders, then by client id those of
        the store's open or unresolved `orders` that `to_look_up` names. Trades are named
        (exchange id -> client id) by `orders`, `client_ids` (e.g. a broker's) and what
        the open orders and the lookups tell."""
        orders = list(orders)
        time_ms, balances = self._balances()
        if not time_ms:
            time_ms = int(self._call("time", self._client.fetch_time))
        symbols = list(symbols)
        raw: list[Mapping[str, Any]] = []
        for symbol in symbols:
            raw += self._call("trades", partial(self._client.fetch_my_trades, symbol, since_ms))
        open_orders = [o for symbol in symbols for o in self.open_orders(symbol)]
        answers: dict[str, VenueOrder | None] = {}
        symbol_of = {o.client_id: o.symbol for o in orders}
        for client_id in to_look_up(orders, open_orders):
            try:
                answers[client_id] = self.look_up(symbol_of[client_id], client_id)
            except StatusUnknown:
                continue  # left out: unresolved, asked again at the next reconciliation
        names = {o.exchange_id: o.client_id for o in orders if o.exchange_id}
        names.update(client_ids or {})
        names.update((o.exchange_id, o.client_id) for o in open_orders)
        names.update((o.exchange_id, o.client_id) for o in answers.values() if o is not None)
        return Snapshot(
            time_ms=time_ms,
            balances=balances,
            trades=tuple(trade_fill(t, None, names.get(str(t.get("order")), "")) for t in raw),
            open_orders=tuple(open_orders),
            looked_up=answers,
        )

    def book(self, symbol: str) -> Book:
        """Best bid/ask and the venue's average price (PERCENT_PRICE and NOTIONAL's
        reference for market orders)."""
        market_id = self._call("markets", lambda: self._client.market(symbol))["id"]
        top = self._call(
            "book", lambda: self._client.public_get_ticker_bookticker({"symbol": market_id})
        )
        avg = self._call(
            "avg price", lambda: self._client.public_get_avgprice({"symbol": market_id})
        )
        return Book(float(top["bidPrice"]), float(top["askPrice"]), float(avg["price"]))

    def sync_clock(self) -> int:
        """Measure the exchange's clock again (ms it is behind the host's): at a -1021, and
        periodically, since ccxt measures it only at load_markets."""
        return int(self._client.load_time_difference())

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """One request, its failure sorted (see the module docstring); no retry here but a
        -1021's: what to do next depends on the order's state, which the broker knows."""
        try:
            return self._once(what, request)
        except Rejected as exc:
            if exc.code != CLOCK:
                raise
            try:
                self.sync_clock()
            except self._ccxt.BaseError as failed:
                raise Rejected(f"{exc}; clock resync failed: {one_line(failed)}", CLOCK) from exc
        return self._once(what, request)

    def _once(self, what: str, request: Callable[[], T]) -> T:
        ccxt = self._ccxt
        try:
            return request()
        except ccxt.OrderNotFound as exc:
            raise NotFound(f"{what}: {one_line(exc)}", _code(exc)) from exc
        except ccxt.DDoSProtection as exc:  # 429 and 418, RateLimitExceeded among them
            raise RateLimited(f"{what}: {one_line(exc)}", self._retry_after()) from exc
        except ccxt.AuthenticationError as exc:  # PermissionDenied among them
            raise KeyRefused(f"{what}: {one_line(exc)}", _code(exc)) from exc
        except ccxt.InvalidNonce as exc:  # -1021: a NetworkError to ccxt, a refusal here
            raise Rejected(f"{what}: {one_line(exc)}", CLOCK) from exc
        except ccxt.NetworkError as exc:  # timeouts, 5xx, -1007, connection errors
            raise StatusUnknown(f"{what}: {one_line(exc)}", _code(exc)) from exc
        except ccxt.BaseError as exc:
            raise Rejected(f"{what}: {one_line(exc)}", _code(exc)) from exc

    def _retry_after(self) -> float:
        headers = self._client.last_response_headers or {}
        value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
        try:
            return max(float(value), 0.0) if value is not None else DEFAULT_RETRY_AFTER_S
        except ValueError:
            return DEFAULT_RETRY_AFTER_S


def _code(exc: Exception) -> int:
    """Binance's error code from a ccxt message ('binance {"code":-2013,...}'), or 0."""
    text = str(exc)
    at = text.find('"code":')
    if at < 0:
        return 0
    digits = text[at + 7 :].lstrip().split(",")[0].split("}")[0]
    try:
        return int(digits)
    except ValueError:
        return 0


def venue_order(answer: Mapping[str, Any], client_id: str = "") -> VenueOrder:
    """A ccxt order as the store's VenueOrder (status: Binance's, as an OrderStatus value)."""
    info = answer.get("info") or {}
    raw = str(info.get("status") or answer.get("status") or "new").lower()
    status = _STATUS.get(raw, raw)
    if status == "open":
        status = "new"
    elif status == "closed":
        status = "filled"
    return VenueOrder(
        client_id=client_id or str(answer.get("clientOrderId") or ""),
        exchange_id=str(answer.get("id") or ""),
        symbol=str(answer.get("symbol") or ""),
        side=str(answer.get("side") or ""),
        type=str(answer.get("type") or ""),
        price=float(answer["price"]) if answer.get("price") else None,
        amount=float(answer.get("amount") or 0.0),
        filled=float(answer.get("filled") or 0.0),
        status=status,
        time_ms=int(answer.get("timestamp") or 0),
        stop_price=float(answer["triggerPrice"]) if answer.get("triggerPrice") else None,
    )


def trade_fill(trade: Mapping[str, Any], order: Mapping[str, Any] | None, client_id: str) -> Fill:
    """A ccxt trade as a Fill of order `client_id` (an order's answer lists its trades
    without side or time: they come from `order`). `fee` is its value in quote;
    `fee_base` what the venue kept of the base bought; a fee paid in a third asset (BNB)
    is named by `fee_asset`, and `fee` is then its amount in that asset, for the broker to
    price. Bar, tag and what is left of the order are the broker's to fill in."""
    symbol = str(trade.get("symbol") or (order or {}).get("symbol") or "")
    side = Side(str(trade.get("side") or (order or {}).get("side")))
    price, amount = float(trade["price"]), float(trade["amount"])
    fee = trade.get("fee") or {}
    cost, currency = float(fee.get("cost") or 0.0), str(fee.get("currency") or "")
    base, _, quote = symbol.partition("/")
    in_base = currency == base
    third = "" if currency in (base, quote, "") else currency
    time_ms = trade.get("timestamp") or (order or {}).get("timestamp") or 0
    return Fill(
        bar=0,
        side=side,
        price=price,
        amount=amount,
        fee=cost * price if in_base else cost,
        maker=trade.get("takerOrMaker") == "maker",
        symbol=symbol,
        fee_base=cost if in_base else 0.0,
        fee_asset=third,
        time_ms=int(time_ms),
        order_id=client_id,
        trade_id=int(trade["id"]),
    )
