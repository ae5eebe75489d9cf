"""A book-ticker scalper: buy when the best bid's size outweighs the ask's, get out a few
ticks later. Long-only, one position at a time.

Rules, read from the best bid/ask only (no candles), at each quote after the broker has
matched it (a bot answers a quote it has seen):
- entry when (bid_size - ask_size) / (bid_size + ask_size) >= imbalance_threshold, while flat
  and with no entry working: a buy limit at the best bid ("maker"; the broker fills it when
  the ask later trades strictly below it) or a market buy ("taker", at the next quote's ask).
  A maker entry found cancel_after_ms old is withdrawn (the quote that finds it so may still
  have filled it, as on a venue); the next entry comes at the next quote at the earliest. An
  entry refused (risk, cash, minimums) is asked again at the next quote the signal holds;
- on the entry's fill: a take-profit sell limit take_profit_ticks ticks above its price
  (maker) and a stop stop_loss_ticks ticks below (taker, sold at the bid that reaches it);
- time limit: at the first quote max_hold_ms after the fill, both are withdrawn and a
  market sell goes out, filled at the next quote's bid;
- once the position is gone (whoever sold it: the exits, the risk engine's stop, the
  kill-switch), what is left of the exits is withdrawn.

The rules are numba functions over one float64 vector that write order rows
(thunes/domain/rows.py): the tick engine's compiled loop runs them, and `Scalper`, the
per-event face, turns the very same rows into intents. The strategy decides; the broker
(thunes/engine/broker_core.py, `on_quote`) fills.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

from thunes.domain import rows as c
from thunes.domain.orders import Command, Fill, OrderEvent, OrderStatus, Side
from thunes.domain.tags import MAX_LOSS_TAG, TAGS
from thunes.domain.ticks import BookTick
from thunes.execution.filters import FloatArray as Vec
from thunes.execution.rounding import to_grid
from thunes.strategy.base import Columns
from thunes.strategy.compiled import as_intents
from thunes.strategy.events import Account, Bar, EventStrategy

ENTRY_TAG = "scalper:entry"
TAKE_PROFIT_TAG = "scalper:take_profit"
STOP_TAG = "scalper:stop"
TIME_LIMIT_TAG = "scalper:time_limit"
TAGS_COUNTED = (ENTRY_TAG, TAKE_PROFIT_TAG, STOP_TAG, TIME_LIMIT_TAG, MAX_LOSS_TAG)
ENTRIES = ("maker", "taker")


class ScalperRow(IntEnum):
    """The vector: parameters, the market's tick, from CODES the tags' codes of
    TAGS_COUNTED in its order (as TAGS numbers them in this process: never constants baked
    into cached code), the state, then from COUNTS the fills of each of TAGS_COUNTED."""

    THRESHOLD = 0
    TP_TICKS = 1
    SL_TICKS = 2
    MAX_HOLD_MS = 3
    MAKER_ENTRY = 4
    QUOTE = 5
    CANCEL_AFTER_MS = 6
    TICK = 7
    CODES = 8
    PHASE = 13
    PLACED_MS = 14
    ENTRY_MS = 15
    COUNTS = 16


FLAT, ENTERING, LONG, EXITING = range(4)  # PHASE
MAX_INTENTS = 3  # rows `out` must have room for


@njit(cache=True, inline="always")
def wants_entry(bid_size: float, ask_size: float, st: Vec) -> bool:
    """The book leans to the bid side enough: more resting buyers than sellers at the top."""
    total = bid_size + ask_size
    return total > 0.0 and (bid_size - ask_size) / total >= st[ScalperRow.THRESHOLD]


@njit(cache=True)
def exit_levels(entry: float, st: Vec) -> tuple[float, float]:
    """(take-profit, stop): N ticks above the entry, M below, on the tick grid (as sells are
    rounded: up)."""
    tick = st[ScalperRow.TICK]
    take_profit = entry + st[ScalperRow.TP_TICKS] * tick
    stop = entry - st[ScalperRow.SL_TICKS] * tick
    return to_grid(take_profit, tick, True), to_grid(stop, tick, True)


@njit(cache=True, inline="always")
def _code(k: int, st: Vec) -> int:
    return int(st[ScalperRow.CODES + k])


@njit(cache=True)
def _withdraw_exits(st: Vec, out: Vec, n: int) -> int:
    n = c.put(out, n, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, _code(1, st))
    return c.put(out, n, c.SELL, c.CANCEL, np.nan, np.nan, np.nan, _code(2, st))


@njit(cache=True, inline="always")
def on_tick(now_ms: float, bid: float, bid_size: float, ask_size: float, st: Vec, out: Vec) -> int:
    """At a quote, after the broker has matched it: the time limit, a stale entry, an
    entry. Returns the rows written to `out`."""
    phase = st[ScalperRow.PHASE]
    if phase == LONG:
        if now_ms - st[ScalperRow.ENTRY_MS] < st[ScalperRow.MAX_HOLD_MS]:
            return 0
        st[ScalperRow.PHASE] = EXITING
        n = _withdraw_exits(st, out, 0)
        return c.put(out, n, c.SELL, c.MARKET, np.nan, np.nan, np.nan, _code(3, st))
    if phase == EXITING:
        return 0
    if phase == ENTERING:
        if (
            st[ScalperRow.MAKER_ENTRY] == 0
            or now_ms - st[ScalperRow.PLACED_MS] < st[ScalperRow.CANCEL_AFTER_MS]
        ):
            return 0
        st[ScalperRow.PHASE] = FLAT
        return c.put(out, 0, c.BUY, c.CANCEL, np.nan, np.nan, np.nan, _code(0, st))
    if not wants_entry(bid_size, ask_size, st):
        return 0
    st[ScalperRow.PHASE], st[ScalperRow.PLACED_MS] = ENTERING, now_ms
    if st[ScalperRow.MAKER_ENTRY] != 0:  # the broker rounds the price down, sizes the quote
        return c.put(out, 0, c.BUY, c.LIMIT, bid, np.nan, st[ScalperRow.QUOTE], _code(0, st))
    return c.put(out, 0, c.BUY, c.MARKET, np.nan, np.nan, st[ScalperRow.QUOTE], _code(0, st))


@njit(cache=True)
def on_fill(
    now_ms: float, buy: bool, price: float, tag: int, position: float, st: Vec, out: Vec
) -> int:
    """After a fill: an entry sets its exits (its first part: they sell whatever is held);
    a sale that left nothing withdraws what is left of them."""
    for k in range(len(TAGS_COUNTED)):
        if tag == st[ScalperRow.CODES + k]:
            st[ScalperRow.COUNTS + k] += 1
    if buy:
        if st[ScalperRow.PHASE] == LONG:
            return 0
        st[ScalperRow.PHASE], st[ScalperRow.ENTRY_MS] = LONG, now_ms
        take_profit, stop = exit_levels(price, st)
        n = c.put(out, 0, c.SELL, c.LIMIT, take_profit, np.nan, np.nan, _code(1, st))
        return c.put(out, n, c.SELL, c.STOP, stop, np.nan, np.nan, _code(2, st))
    if position > 0:
        return 0
    st[ScalperRow.PHASE] = FLAT
    return _withdraw_exits(st, out, 0)


@njit(cache=True)
def on_dropped(tag: int, refused: bool, st: Vec, out: Vec) -> int:
    """One of its orders refused (`refused`) or withdrawn, by whoever: an entry ends (and
    writes nothing); an exit refused (dust: nothing the venue would take) leaves the position
    to the next trade's exits."""
    if tag == _code(0, st):
        if st[ScalperRow.PHASE] == ENTERING:
            st[ScalperRow.PHASE] = FLAT
        return 0
    is_exit = tag == _code(1, st) or tag == _code(2, st) or tag == _code(3, st)
    if not (refused and is_exit and st[ScalperRow.PHASE] >= LONG):
        return 0
    st[ScalperRow.PHASE] = FLAT
    return _withdraw_exits(st, out, 0)


class Scalper(EventStrategy):
    """The rules above as an event strategy on book ticks: their parameters, checked, and
    the vector the rules work on (fresh at `start`, once the market's tick is known)."""

    def __init__(
        self,
        imbalance_threshold: float,
        take_profit_ticks: int,
        stop_loss_ticks: int,
        max_hold_ms: int,
        entry: str,
        quote_amount: float,
        cancel_after_ms: int,
    ) -> None:
        if not 0 < imbalance_threshold <= 1:
            raise ValueError(f"imbalance_threshold={imbalance_threshold}: must be in (0, 1]")
        if entry not in ENTRIES:
            raise ValueError(f"entry={entry!r}: one of {', '.join(ENTRIES)}")
        for name, value in (
            ("take_profit_ticks", take_profit_ticks),
            ("stop_loss_ticks", stop_loss_ticks),
            ("max_hold_ms", max_hold_ms),
            ("quote_amount", quote_amount),
            ("cancel_after_ms", cancel_after_ms),
        ):
            if not value > 0:
                raise ValueError(f"{name}={value}: must be > 0")
        self.imbalance_threshold = float(imbalance_threshold)
        self.take_profit_ticks = int(take_profit_ticks)
        self.stop_loss_ticks = int(stop_loss_ticks)
        self.max_hold_ms = int(max_hold_ms)
        self.entry = entry
        self.quote_amount = float(quote_amount)
        self.cancel_after_ms = int(cancel_after_ms)
        self.start(np.nan)

    def start(self, tick_size: float) -> None:
        """A fresh run on a market whose prices move by `tick_size`."""
        self.state = np.zeros(ScalperRow.COUNTS + len(TAGS_COUNTED))
        self.state[: ScalperRow.CODES] = [
            self.imbalance_threshold,
            self.take_profit_ticks,
            self.stop_loss_ticks,
            self.max_hold_ms,
            1.0 if self.entry == "maker" else 0.0,
            self.quote_amount,
            self.cancel_after_ms,
            tick_size,
        ]
        self.state[ScalperRow.CODES : ScalperRow.PHASE] = [TAGS.code(tag) for tag in TAGS_COUNTED]
        self.out = np.zeros((MAX_INTENTS, c.ORDER))

    def on_bar(self, bar: Bar, window: Columns, account: Account) -> list[Command]:
        raise TypeError("the scalper trades book ticks (on_tick), not candles")

    def on_tick(self, tick: BookTick, account: Account) -> list[Command]:
        """Decide at a quote the broker has matched already."""
        time_ms, size = float(tick.timestamp_ms), tick.ask_size
        n = on_tick(time_ms, tick.bid, tick.bid_size, size, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def on_fill(self, fill: Fill, account: Account) -> list[Command]:
        buy, tag, now = fill.side is Side.BUY, TAGS.code(fill.tag), float(fill.time_ms)
        n = on_fill(now, buy, fill.price, tag, account.position, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def on_order_event(self, event: OrderEvent, account: Account) -> list[Command]:
        if event.status not in (OrderStatus.REJECTED, OrderStatus.CANCELED):
            return []
        refused = event.status is OrderStatus.REJECTED
        n = on_dropped(TAGS.code(event.tag), refused, self.state, self.out)
        return as_intents(self.out[:n]) if n else []

    def report(self, last_price: float) -> dict[str, float]:
        """Fills by tag (entries, then the exits by reason), for the stats table."""
        counts = self.state[ScalperRow.COUNTS :].tolist()
        return {
            f"scalper_{tag.split(':')[-1]}_fills": n
            for tag, n in zip(TAGS_COUNTED, counts, strict=True)
        }


def cost_breakdown(fills: list[Fill], bids: Vec, asks: Vec) -> dict[str, float]:
    """Where a scalper's money went, against the mid price at each fill's tick.

    equity change = mid_pnl - spread - fees + the open position's mark, exactly. `spread` is
    what the fills paid beyond the mid: half the spread for a taker; for a maker fill, which
    needs the market to trade through its price, how far the quotes had already moved past it.
    `mid_pnl` is what the same trades would have made at the mid, fee-free. A fee the venue
    kept in base is base never received, valued at the mid like the rest: the mark is then
    of the base really held (dust included).
    """
    mid_pnl = spread = fees = 0.0
    for fill in fills:
        mid = 0.5 * (float(bids[fill.bar]) + float(asks[fill.bar]))
        sign = 1.0 if fill.side is Side.SELL else -1.0
        mid_pnl += sign * (fill.amount - fill.fee_base) * mid
        spread += sign * fill.amount * (mid - fill.price)
        fees += fill.fee_base * mid if fill.fee_base else fill.fee
    return {"mid_pnl": mid_pnl, "spread": spread, "fees": fees}
