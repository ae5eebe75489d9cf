"""Reconciliation as a pure function: the store's view and the exchange's snapshot in, a
plan out. The exchange is the truth; the plan says what the store must learn from it, and
what nothing explains (entries pause, with the reason, until someone resumes them).

The engine fetches, in this order: balances (their time on the exchange's clock), recent
trades (back to before the last reconciliation), open orders, then by client id every
order `to_look_up` names. Fills are matched to orders by client id, never by time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from thunes.domain.orders import Fill, OrderStatus, Side
from thunes.state.records import TERMINAL, UNRESOLVED, OrderRecord

TradeKey = tuple[str, int]  # (symbol, trade id): a fill is recorded once


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the exchange reports it (status: an OrderStatus value)."""

    client_id: str
    exchange_id: str
    symbol: str
    side: str
    type: str
    price: float | None
    amount: float
    filled: float
    status: str
    time_ms: int = 0
    stop_price: float | None = None  # a stop order's trigger (MAX_NUM_ALGO_ORDERS counts it)


@dataclass(frozen=True)
class Snapshot:
    """What the exchange says. `looked_up` holds the answers to by-client-id queries: None
    is a definite "unknown order" (Binance's -2013); an id that could not be asked is left
    out. `trades` carry the client id of their order in `order_id`."""

    time_ms: int  # when the balances were read, on the exchange's clock
    balances: Mapping[str, float]  # asset -> total, free and locked
    trades: tuple[Fill, ...] = ()
    open_orders: tuple[VenueOrder, ...] = ()
    looked_up: Mapping[str, VenueOrder | None] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalView:
    """What the store knows that the snapshot bears on (StateStore.view builds it)."""

    orders: tuple[OrderRecord, ...]  # open or unresolved
    prefixes: frozenset[str]  # client-id prefixes this store's runs used: ours
    recorded: frozenset[TradeKey]  # the snapshot's trades the store already holds
    fills: tuple[Fill, ...]  # recorded fills not booked yet, or later than the balances
    unbooked: frozenset[TradeKey]
    held: Mapping[str, float]  # base asset -> booked amount and dust over the symbols traded
    outside: Mapping[str, float]  # base asset -> what the account held besides the bot
    flagged: frozenset[str]  # foreign orders already reported


@dataclass(frozen=True, slots=True)
class OrderChange:
    client_id: str
    status: str
    filled: float
    exchange_id: str
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    adopt: tuple[VenueOrder, ...] = ()  # ours by prefix, open on the exchange, unknown here
    changes: tuple[OrderChange, ...] = ()  # local orders to the exchange's state
    fills: tuple[Fill, ...] = ()  # our trades the store lacks: recorded, then booked
    foreign: tuple[VenueOrder, ...] = ()  # open orders not ours, newly seen: flagged
    gone_foreign: tuple[str, ...] = ()  # flagged orders no longer open
    outside: Mapping[str, float] = field(default_factory=dict)  # first sight of an asset
    unresolved: tuple[str, ...] = ()  # orders whose state the snapshot does not give
    mismatches: tuple[str, ...] = ()  # what nothing explains: entries pause
    time_ms: int = 0
    balances: Mapping[str, float] = field(default_factory=dict)

    @property
    def entries_allowed(self) -> bool:
        """New risk may be taken: nothing is unexplained nor in doubt."""
        return not self.mismatches and not self.unresolved


def base_of(symbol: str) -> str:
    return symbol.partition("/")[0]


def to_look_up(orders: Iterable[OrderRecord], open_orders: Iterable[VenueOrder]) -> list[str]:
    """The local orders the snapshot must query by client id: unresolved ones, and open
    ones that are no longer open on the exchange (filled, canceled, or never placed)."""
    still_open = {order.client_id for order in open_orders}
    return [o.client_id for o in orders if o.status in UNRESOLVED or o.client_id not in still_open]


def reconcile(view: LocalView, snap: Snapshot) -> Plan:
    """The plan that brings the store to the exchange's truth."""
    local = {order.client_id for order in view.orders}

    def ours(client_id: str) -> bool:
        return client_id in local or any(client_id.startswith(prefix) for prefix in view.prefixes)

    open_by_id = {order.client_id: order for order in snap.open_orders}
    changes, unresolved = [], []
    for order in view.orders:
        if order.client_id in open_by_id:
            change = _to(order, open_by_id[order.client_id])
        elif order.client_id in snap.looked_up:
            change = _to(order, snap.looked_up[order.client_id])
        else:
            unresolved.append(order.client_id)
            continue
        if change is not None:
            changes.append(change)
    fills = tuple(
        {
            (t.symbol, t.trade_id): t
            for t in snap.trades
            if ours(t.order_id) and (t.symbol, t.trade_id) not in view.recorded
        }.values()
    )
    strangers = Counter(base_of(t.symbol) for t in snap.trades if not ours(t.order_id))
    outside, mismatches = _holdings(view, snap, fills, strangers)
    return Plan(
        adopt=tuple(o for o in snap.open_orders if o.client_id not in local and ours(o.client_id)),
        changes=tuple(changes),
        fills=fills,
        foreign=tuple(
            o for o in snap.open_orders if not ours(o.client_id) and o.client_id not in view.flagged
        ),
        gone_foreign=tuple(sorted(view.flagged - open_by_id.keys())),
        outside=outside,
        unresolved=tuple(unresolved),
        mismatches=mismatches,
        time_ms=snap.time_ms,
        balances=dict(snap.balances),
    )


def _to(order: OrderRecord, venue: VenueOrder | None) -> OrderChange | None:
    """What `order` becomes on the exchange's word (None: it already is that)."""
    if venue is None:  # a definite "unknown order"
        if order.status in TERMINAL:
            return None
        if order.status in UNRESOLVED:
            return OrderChange(order.client_id, OrderStatus.REJECTED, 0.0, "", "never placed")
        return OrderChange(
            order.client_id,
            OrderStatus.EXPIRED,
            order.filled,
            order.exchange_id,
            "gone from the exchange",
        )
    same = (venue.status, venue.filled, venue.exchange_id)
    if same == (order.status, order.filled, order.exchange_id):
        return None
    return OrderChange(order.client_id, venue.status, venue.filled, venue.exchange_id)


def change_of(fill: Fill) -> float:
    """What a fill did to the base balance on the exchange: a buy adds its amount less the
    fee the venue kept in base, a sell takes its amount."""
    return fill.amount - fill.fee_base if fill.side is Side.BUY else -fill.amount


def _holdings(
    view: LocalView, snap: Snapshot, missing: tuple[Fill, ...], strangers: Counter[str]
) -> tuple[dict[str, float], tuple[str, ...]]:
    """Baselines for assets seen the first time, and the assets whose balance on the
    exchange the booked position, the fills not booked yet and what the account holds
    besides the bot do not add up to (fills after the balances were read are taken out)."""
    outside: dict[str, float] = {}
    mismatches = []
    pending_keys = view.unbooked | {(f.symbol, f.trade_id) for f in missing}
    for asset, held in sorted(view.held.items()):
        fills = [f for f in (*view.fills, *missing) if base_of(f.symbol) == asset]
        pending = [f for f in fills if (f.symbol, f.trade_id) in pending_keys]
        later = [f for f in fills if f.time_ms > snap.time_ms]
        bot = held + sum(map(change_of, pending)) - sum(map(change_of, later))
        venue = snap.balances.get(asset, 0.0)
        tolerance = 1e-9 * max(1.0, abs(venue))
        if asset not in view.outside and venue - bot >= -tolerance:
            outside[asset] = max(0.0, venue - bot)
            continue
        expected = bot + view.outside.get(asset, 0.0)
        if abs(venue - expected) > tolerance:
            why = f"; {strangers[asset]} trade(s) not ours" if strangers[asset] else ""
            mismatches.append(
                f"{asset}: the exchange holds {venue:.10g}, the bot expected {expected:.10g}"
                f" ({bot:.10g} its own, {view.outside.get(asset, 0.0):.10g} outside it){why}"
            )
    return outside, tuple(mismatches)
