"""A simulated spot broker: the one place where orders fill, in backtest and replay alike.

Conventions (the vectorized engine, thunes/backtest/engine.py, follows the same ones):
- Market orders queue until the next bar's open and fill there, moved against us by the
  slippage and rounded to the tick the adverse way; taker fee, paid on top.
- A resting limit fills only when the market trades *through* it (a buy when the low is
  below its price, a sell when the high is above), at its own price; maker fee.
- A sell stop triggers when the low reaches it and fills at its price, or at the open when
  the bar gaps through it, slipped; taker fee.
- Inside a bar the path is open -> low -> high -> close, the adverse order for a long-only
  account: stops and buys below are met before take-profits above. Orders a strategy
  places in answer to a fill rest from the next bar on, so no two orders fill from the
  same move. The risk engine's protective stop is the exception: it guards the position
  from the moment it exists.
- Amounts round down to the step exactly (1.0 on a 0.001 step stays 1.0, where vectorbt's
  `1.0 // 0.001 * 0.001` gives 0.999 and would strand 0.001 as dust); an order
  under min notional or min quantity, or beyond the free cash, is skipped and recorded.
- On best bid/ask quotes (`on_quote`, the tick engine) the same orders meet one instant's
  prices instead of a bar's path: buys the ask, sells and stops the bid (broker_core.py).

The rules are numba functions (broker_core.py) over arrays the `Wallet` holds, so that a
compiled loop runs the very code this per-event face calls.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from thunes.domain.market import Fees, MarketFilters
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
from thunes.domain.reasons import REASONS
from thunes.domain.rows import OrderRow
from thunes.domain.tags import TAGS
from thunes.engine import broker_core as c
from thunes.engine.broker_core import AcctRow, Book, LaneRow, LogRow
from thunes.engine.venue_check import VenueCheck, leaving, stop_limit
from thunes.execution.broker import OpenOrder
from thunes.execution.filters import FloatArray
from thunes.execution.prepare import VenueRow, prepare
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.risk.rules import risk_vector

_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP)  # by broker_core's TYPE code
_CODES = {t: float(n) for n, t in enumerate(_TYPES)}
_SIDES = (Side.SELL, Side.BUY)
# The fields read or set at every bar, as plain ints: numpy indexes an IntEnum member slower.
_CASH, _N_LOG = int(AcctRow.CASH), int(AcctRow.N_LOG)
_POS, _DUST, _BAR, _TIME = int(LaneRow.POS), int(LaneRow.DUST), int(LaneRow.BAR), int(LaneRow.TIME)
_N_ORDERS, _FLOOR, _CEILING = int(LaneRow.N_ORDERS), int(LaneRow.FLOOR), int(LaneRow.CEILING)
_KIND, _LANE = int(LogRow.KIND), int(LogRow.LANE)


@dataclass
class RestingOrder:
    side: Side
    type: OrderType
    price: float
    amount: float | None  # None: the whole position when it triggers
    tag: str
    active_from: int  # first bar index it may fill in


class Wallet:
    """The quote balance every symbol's broker draws on: one account, as on the exchange.
    It holds the arrays the compiled broker works on, a lane per broker."""

    def __init__(self, cash: float) -> None:
        self.acct = np.array([cash, 0.0])
        self.lanes = np.zeros((0, c.LANE_WIDTH))
        self.orders = np.zeros((0, 8, c.ORDER))
        self.log = np.zeros((64, c.LOG_WIDTH))
        self.scratch = c.scratch(8)
        self.brokers: list[SimBroker] = []

    @property
    def book(self) -> Book:
        """The arrays as broker_core's functions take them."""
        return self.acct, self.lanes, self.orders, self.log, self.scratch

    @property
    def cash(self) -> float:
        return self.acct.item(_CASH)

    @cash.setter
    def cash(self, value: float) -> None:
        self.acct[AcctRow.CASH] = value

    def join(self, broker: SimBroker, venue: list[float]) -> int:
        """A lane for `broker`, with its venue's parameters; returns its index."""
        lane = np.zeros((1, c.LANE_WIDTH))
        lane[0, : len(venue)] = venue
        self.lanes = np.concatenate([self.lanes, lane])
        self.orders = np.concatenate([self.orders, np.zeros((1, *self.orders.shape[1:]))])
        self.brokers.append(broker)
        return len(self.brokers) - 1

    def drain(self, events: bool = True) -> None:
        """The log's rows as each broker's fills, skipped orders and (for the strategies of
        a per-event run; a compiled one has delivered them already) order events. Row by
        row on plain values: a per-event drain is a row or two, where each numpy call on
        the log cost more than the row's whole conversion. A compiled run drains once, its
        whole log, mostly acceptances and cancellations: those rows are left out first."""
        rows = int(self.acct.item(_N_LOG))
        if not rows:
            return
        self.acct[_N_LOG] = 0
        log = self.log[:rows]
        brokers = self.brokers
        if not events:
            for lane, broker in enumerate(brokers):
                mine = log if len(brokers) == 1 else log[log[:, _LANE] == lane]
                kinds = mine[:, _KIND]
                broker.fills.extend(
                    _fills(mine[kinds == c.FILL][:, _FILL_FIELDS].T.tolist(), broker)
                )
                broker.skipped.extend(map(_skipped, mine[kinds == c.SKIP].tolist()))
            return
        single = brokers[0] if len(brokers) == 1 else None
        for row in log.tolist():
            broker = brokers[int(row[_LANE])] if single is None else single
            kind = row[_KIND]
            if kind == c.FILL:
                broker.fills.extend(_fills([[row[f]] for f in _FILL_FIELDS], broker))
                continue
            if kind == c.SKIP:
                broker.skipped.append(_skipped(row))
            broker.events.append(_event(row, broker.ids))

    def make_slots(self, slots: int) -> None:
        """At least `slots` orders a lane in the table (and the scratch sized for them)."""
        have = self.orders.shape[1]
        if slots > have:
            more = np.zeros((len(self.lanes), slots - have, c.ORDER))
            self.orders = np.concatenate([self.orders, more], axis=1)
            self.scratch = c.scratch(slots)

    def make_room(self, j: int) -> None:
        """Enough order slots and log rows for whatever one call on lane j can do."""
        used = int(self.lanes.item(j, _N_ORDERS))
        if used + 3 > self.orders.shape[1]:
            self.make_slots(2 * self.orders.shape[1])
        if self.acct.item(_N_LOG) + 4 * used + 16 > len(self.log):
            self.log = np.concatenate([self.log, np.zeros((4 * used + 16, c.LOG_WIDTH))])


class SimBroker:
    """One symbol's broker on a wallet: a face over the compiled broker's lane."""

    def __init__(
        self,
        fees: Fees,
        slippage: float,
        filters: MarketFilters,
        sizer: Sizer,
        cash: float | Wallet,
        risk: RiskEngine | None = None,
        ids: ClientIds | None = None,
        max_fill_per_bar: float | None = None,
    ) -> None:
        """`ids` name its orders (a run's, a strategy's, a symbol's); `max_fill_per_bar`:
        the most of one order that fills in one bar (base units; None: all of it), so that
        orders fill in parts as on a real book."""
        self.fees = fees
        self.slippage = slippage
        self.filters = filters
        self.sizer = sizer
        self.risk = risk
        self.risk_vector = risk_vector(None, 0.0) if risk is None else risk.vector
        self.wallet = cash if isinstance(cash, Wallet) else Wallet(cash)
        self.ids = ids or ClientIds("sim", "", "")
        self.symbol = self.ids.symbol
        self.lane = self.wallet.join(self, venue(fees, slippage, filters, sizer, max_fill_per_bar))
        self.fills: list[Fill] = []
        self.skipped: list[SkippedOrder] = []
        self.events: list[OrderEvent] = []  # for the strategy; the engine drains it
        self.venue_check: VenueCheck | None = None  # paper on a ccxt venue: its raw filters

    def rules(self, filters: MarketFilters) -> None:
        """The venue's tick, step and minimums as read again (paper on a ccxt venue: its
        markets job): they bind the next order prepared, as the venue's would."""
        most = self.wallet.lanes.item(self.lane, VenueRow.MAX_FILL)
        row = venue(self.fees, self.slippage, filters, self.sizer, most)
        self.wallet.lanes[self.lane, : len(row)] = row
        self.filters = filters

    # ---- what the account holds
    @property
    def cash(self) -> float:
        return self.wallet.acct.item(_CASH)

    @property
    def position(self) -> float:
        return self.wallet.lanes.item(self.lane, _POS)

    def at(self, time_ms: int, last_price: float = math.nan) -> None:
        """Market time and the last price (broker_core.obey: a trip's orders carried out)."""
        w, j, rk = self.wallet, self.lane, self.risk_vector
        w.lanes[j, _TIME] = time_ms
        if rules.marked(j, last_price, float(time_ms), rk):
            w.make_room(j)
            c.obey(j, rk, w.book)
            w.drain()

    @property
    def committed(self) -> bool:
        """Holding, or about to: see broker_core.committed."""
        return bool(c.committed(self.lane, self.wallet.book))

    @property
    def resting(self) -> list[RestingOrder]:
        """The orders resting on the book, in the order they were placed."""
        w, j = self.wallet, self.lane
        return [
            RestingOrder(
                _SIDES[int(o[OrderRow.SIDE])],
                _TYPES[int(o[OrderRow.TYPE])],
                o[OrderRow.PRICE],
                None if math.isnan(o[OrderRow.AMOUNT]) else o[OrderRow.AMOUNT],
                TAGS.names[int(o[OrderRow.TAG])],
                int(o[OrderRow.FROM]),
            )
            for o in w.orders[j, : int(w.lanes[j, LaneRow.N_ORDERS])].tolist()
            if o[OrderRow.TYPE] != c.MARKET
        ]

    def open_orders(self) -> list[OpenOrder]:
        """The orders resting on the book, in the order they were placed (a market order
        queued for the next open is not yet at work, as one a venue's broker has queued)."""
        return [o for o in self._orders() if o.type is not OrderType.MARKET]

    def working(self, tags: Collection[str]) -> list[OrderEvent]:
        """The orders at work (queued market ones too) tagged one of `tags`, as their
        acceptance would tell of them: the risk engine's own orders have no event."""
        return [
            OrderEvent(OrderStatus.NEW, o.side, o.type, o.price, o.tag, order_id=o.order_id)
            for o in self._orders()
            if o.tag in tags
        ]

    def _orders(self) -> list[OpenOrder]:
        w, j = self.wallet, self.lane
        return [
            OpenOrder(
                _SIDES[int(o[OrderRow.SIDE])],
                _TYPES[int(o[OrderRow.TYPE])],
                o[OrderRow.PRICE],
                None if math.isnan(o[OrderRow.AMOUNT]) else o[OrderRow.AMOUNT],
                TAGS.names[int(o[OrderRow.TAG])],
                self.ids.of(int(o[OrderRow.ID])),
                (OrderStatus.PARTIALLY_FILLED if o[OrderRow.FILLED] > 0 else OrderStatus.NEW).value,
            )
            for o in w.orders[j, : int(w.lanes[j, LaneRow.N_ORDERS])].tolist()
        ]

    @property
    def cost(self) -> float:
        """The position's cost basis, fees in (what the state file books)."""
        return float(self.wallet.lanes[self.lane, LaneRow.BOOK_COST])

    @property
    def holdings(self) -> float:
        """The base held for this symbol: the position and its dust (read at every bar)."""
        lanes, j = self.wallet.lanes, self.lane
        return lanes.item(j, _POS) + lanes.item(j, _DUST)

    def equity(self, price: float) -> float:
        return self.cash + self.holdings * price

    # ---- orders in
    def submit(self, command: Command, open_positions: int = 0) -> None:
        """Accept, rest or skip an intent at the current bar (after its close or a fill)."""
        w, j = self.wallet, self.lane
        w.make_room(j)
        if isinstance(command, CancelOrders):
            c.cancel(j, TAGS.prefixed(command.tag), 0, w.book)
        else:
            order = as_row(command)
            why = "" if self.venue_check is None else self._venue_refusal(order, open_positions)
            if why:
                self._refuse(command, why)
            else:
                c.submit(j, order, open_positions, self.risk_vector, w.book)
        self.wallet.drain()

    def _venue_refusal(self, o: FloatArray, open_positions: int) -> str:
        """Why the venue would refuse order row `o` (venue_check.leaving), as the exchange
        broker prepares it: a market order at the book's ask (buy) or bid (sell), a sell of
        the whole position at the position, a stop at the limit it would leave with; the
        open orders are this lane's resting ones (a paper account has no others). '' when
        the broker's own rules (risk, preparation) refuse it first: they say why."""
        check, w, j = self.venue_check, self.wallet, self.lane
        assert check is not None
        if c.would_refuse(j, o, open_positions, self.risk_vector, w.book):
            return ""
        book = check.book(w.lanes.item(j, _TIME))
        if isinstance(book, str):
            return book
        side, type_ = _SIDES[int(o[OrderRow.SIDE])], _TYPES[int(o[OrderRow.TYPE])]
        market = type_ is OrderType.MARKET
        price = (book.ask if side is Side.BUY else book.bid) if market else math.nan
        free = c.free_cash(w.book) if side is Side.BUY else 0.0
        reason, price, amount = prepare(o, price, free, self.position, w.lanes[j])
        if reason:
            return ""  # not sized yet (a market order is sized at its fill): the fill says
        if math.isnan(amount):
            amount = self.position
        tick = w.lanes.item(j, VenueRow.TICK)
        limit = None
        if type_ is OrderType.STOP:
            limit = stop_limit(price, check.filters, tick, check.stop_limit_offset)
        rows = w.orders[j, : int(w.lanes.item(j, _N_ORDERS))]
        resting = rows[rows[:, OrderRow.TYPE] != c.MARKET]
        stops = int((resting[:, OrderRow.TYPE] == c.STOP).sum())
        return leaving(
            self.symbol,
            side,
            type_,
            price,
            amount,
            check.filters,
            book,
            len(resting),
            stops,
            check.edge,
            limit,
        )

    def _refuse(self, intent: OrderIntent, why: str) -> None:
        """An order refused before it was accepted, kept and told as a skipped order."""
        price = math.nan if intent.price is None else intent.price
        amount = math.nan if intent.amount is None else intent.amount
        bar = int(self.wallet.lanes.item(self.lane, _BAR))
        self.skipped.append(SkippedOrder(bar, intent.side, price, amount, why, intent.tag))
        self.events.append(
            OrderEvent(OrderStatus.REJECTED, intent.side, intent.type, price, intent.tag, why)
        )

    def flatten(self) -> None:
        """The kill-switch's flattening on command: every order withdrawn, the position
        sold at market (at the next open)."""
        self.wallet.make_room(self.lane)
        c.flatten(self.lane, self.wallet.book)
        self.wallet.drain()

    # ---- one bar (or one quote) of market
    def on_bar(self, bar: int, time_ms: int, open_: float, high: float, low: float) -> list[Fill]:
        """Fill what this bar's prices reach, along open -> low -> high."""
        if not self._at_work(bar, time_ms, low, high):
            return []  # most bars: nothing to fill
        b, rk = self.wallet.book, self.risk_vector
        return self._drained(c.on_bar(self.lane, bar, float(time_ms), open_, high, low, rk, b))

    def on_quote(self, tick: int, time_ms: int, bid: float, ask: float) -> list[Fill]:
        """Fill what the best bid/ask reach (broker_core.on_quote); `tick` numbers it."""
        if not self._at_work(tick, time_ms, bid, bid):
            return []
        b, rk = self.wallet.book, self.risk_vector
        return self._drained(c.on_quote(self.lane, tick, float(time_ms), bid, ask, rk, b))

    def _at_work(self, at: int, time_ms: int, low: float, high: float) -> bool:
        """Whether a bar or tick `at` spanning low..high may fill any of this lane's orders
        (room made for what they may do); if not, only its clock moves. broker_core.reaches'
        test, here: most bars meet no order (none rest, or they rest outside the band
        broker_core keeps), and a call into the compiled broker costs more than its work."""
        w, j = self.wallet, self.lane
        lanes = w.lanes
        if not lanes.item(j, _N_ORDERS) or (
            low > lanes.item(j, _FLOOR) and high <= lanes.item(j, _CEILING)
        ):
            lanes[j, _BAR], lanes[j, _TIME] = at, time_ms
            return False
        w.make_room(j)
        return True

    def _drained(self, logged: int) -> list[Fill]:
        """The fills among the `logged` rows of the log a call left (events too)."""
        if not logged:
            return []  # most bars with orders at work: none reached
        first = len(self.fills)
        self.wallet.drain()
        return self.fills[first:]


# A fill row's fields, in the order _fills takes them
_FILL_FIELDS = [
    int(field)
    for field in (
        LogRow.BAR,
        LogRow.SIDE,
        LogRow.PRICE,
        LogRow.AMOUNT,
        LogRow.FEE,
        LogRow.TAG,
        LogRow.IS_MAKER,
        LogRow.REMAINING,
        LogRow.WITHHELD,
        LogRow.TIME,
        LogRow.ID,
        LogRow.TRADE,
        LogRow.NET,
    )
]


def _fills(columns: Iterable[Sequence[float]], broker: SimBroker) -> Iterator[Fill]:
    """Fill log rows, as their _FILL_FIELDS columns, as the fills: the columns each trade
    took, the remaining amount, the fee kept in base, time, client order id, trade id and
    the base it added or took. Column by column (C loops): a compiled run has thousands."""
    bar, side, price, amount, fee, tag, maker, remaining, withheld, time, order, trade, net = (
        columns
    )
    return map(
        Fill,
        map(int, bar),
        map(_SIDES.__getitem__, map(int, side)),
        price,
        amount,
        fee,
        map(TAGS.names.__getitem__, map(int, tag)),
        map(bool, maker),
        repeat(broker.symbol),
        remaining,
        withheld,
        map(int, time),
        map(broker.ids.of, map(int, order)),
        map(int, trade),
        net,
    )


def _skipped(row: list[float]) -> SkippedOrder:
    """A skip log row as the skipped order, with its reason."""
    return SkippedOrder(
        int(row[LogRow.BAR]),
        _SIDES[int(row[LogRow.SIDE])],
        row[LogRow.PRICE],
        row[LogRow.AMOUNT],
        REASONS[int(row[LogRow.REASON])],
        TAGS.names[int(row[LogRow.TAG])],
    )


def _event(row: list[float], ids: ClientIds) -> OrderEvent:
    """An acceptance, cancellation or rejection (skip) log row as the order event; an
    order refused before it left has no id."""
    s, t = _SIDES[int(row[LogRow.SIDE])], _TYPES[int(row[LogRow.TYPE])]
    price, name = row[LogRow.PRICE], TAGS.names[int(row[LogRow.TAG])]
    order_id = ids.of(int(row[LogRow.ID])) if row[LogRow.ID] else ""
    kind = row[LogRow.KIND]
    if kind == c.SKIP:
        why = REASONS[int(row[LogRow.REASON])]
        return OrderEvent(OrderStatus.REJECTED, s, t, price, name, why, order_id)
    status = OrderStatus.NEW if kind == c.ACCEPTED else OrderStatus.CANCELED
    return OrderEvent(status, s, t, price, name, "", order_id)


def venue(
    fees: Fees,
    slippage: float,
    filters: MarketFilters,
    sizer: Sizer,
    max_fill_per_bar: float | None = None,
) -> list[float]:
    """A lane's parameters, as order preparation reads them (execution/prepare.py)."""
    f = filters
    costs = [fees.maker, fees.taker, slippage]
    most = math.inf if max_fill_per_bar is None else max_fill_per_bar
    market = [f.tick_size, f.step_size, f.min_qty, f.min_notional]
    return [*costs, *market, *sizer.code(), most, float(fees.from_received)]


def as_row(intent: OrderIntent) -> FloatArray:
    """An intent as an order row (thunes/domain/rows.py; NaN: not given)."""
    nan = math.nan
    return np.array(
        [
            1.0 if intent.side is Side.BUY else 0.0,
            _CODES[intent.type],
            nan if intent.price is None else intent.price,
            nan if intent.amount is None else intent.amount,
            nan if intent.quote is None else intent.quote,
            TAGS.code(intent.tag),
            0.0,  # FROM: the broker sets it
            0.0,  # ID: the broker numbers it when it is placed
            0.0,  # FILLED: nothing yet
        ]
    )
