"""A book-ticker scalper: buy when the best bid's size outweighs the ask's, get out a few
ticks later. Long-only, one position at a time.

Rules, read from the best bid/ask only (no candles):
- entry when (bid_size - ask_size) / (bid_size + ask_size) >= imbalance_threshold, while flat
  and with no entry working: a buy limit at the best bid ("maker"; it fills only when the best
  ask later moves strictly below it; at the first tick cancel_after_ms after it was placed it is
  withdrawn, before that tick can fill it) or a market buy ("taker", at the next tick's ask);
- take-profit: a sell limit at entry + take_profit_ticks ticks (maker; fills when the best bid
  moves strictly above it);
- stop: when the best bid falls to entry - stop_loss_ticks ticks, sold at that bid (taker);
- time limit: at the first tick max_hold_ms after the entry, sold at the bid (taker).

The rules are numba functions over plain numbers so that the tick engine's batch loop and its
per-event `on_tick` run the very same code; `Scalper` holds the parameters and reports.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from thunes.domain.orders import Fill, Side
from thunes.domain.tags import MAX_LOSS_TAG
from thunes.execution.filters import FloatArray
from thunes.execution.rounding import to_grid

ENTRY_TAG = "scalper:entry"
TAKE_PROFIT_TAG = "scalper:take_profit"
STOP_TAG = "scalper:stop"
TIME_LIMIT_TAG = "scalper:time_limit"
TAGS = (ENTRY_TAG, TAKE_PROFIT_TAG, STOP_TAG, TIME_LIMIT_TAG, MAX_LOSS_TAG)  # by code
ENTRY, TAKE_PROFIT, STOP, TIME_LIMIT, MAX_LOSS = range(5)  # tag codes; NONE: nothing to do
NONE = -1
ENTRIES = ("maker", "taker")

# slots of the rules vector handed to the numba code
THRESHOLD, TP_TICKS, SL_TICKS, MAX_HOLD_MS, MAKER, QUOTE, CANCEL_AFTER_MS = range(7)
N_RULES = 7  # the engine appends its own slots after these


@njit(cache=True)
def wants_entry(bid_size: float, ask_size: float, rules: FloatArray) -> bool:
    """The book leans to the bid side enough: more resting buyers than sellers at the top."""
    total = bid_size + ask_size
    return total > 0.0 and (bid_size - ask_size) / total >= rules[THRESHOLD]


@njit(cache=True)
def is_stale(now_ms: float, placed_ms: float, rules: FloatArray) -> bool:
    """A maker entry left unfilled this long has lost its reason: withdraw it."""
    return now_ms - placed_ms >= rules[CANCEL_AFTER_MS]


@njit(cache=True)
def exit_levels(entry: float, tick: float, rules: FloatArray) -> tuple[float, float]:
    """(take-profit, stop): N ticks above the entry, M below, on the tick grid (as sells are
    rounded: up)."""
    take_profit, stop = entry + rules[TP_TICKS] * tick, entry - rules[SL_TICKS] * tick
    return to_grid(take_profit, tick, True), to_grid(stop, tick, True)


@njit(cache=True)
def exit_reason(
    now_ms: float, bid: float, entry_ms: float, take_profit: float, stop: float, rules: FloatArray
) -> int:
    """Which exit this tick triggers; the adverse ones first (stop, time), as with candles."""
    if bid <= stop:
        return STOP
    if now_ms - entry_ms >= rules[MAX_HOLD_MS]:
        return TIME_LIMIT
    if bid > take_profit:
        return TAKE_PROFIT
    return NONE


class Scalper:
    """The parameters of the rules above, checked, and what a report says about the fills."""

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

    def rules(self) -> FloatArray:
        """The parameters as the numba code reads them (slots THRESHOLD ... CANCEL_AFTER_MS)."""
        return np.array(
            [
                self.imbalance_threshold,
                self.take_profit_ticks,
                self.stop_loss_ticks,
                self.max_hold_ms,
                1.0 if self.entry == "maker" else 0.0,
                self.quote_amount,
                self.cancel_after_ms,
            ],
            dtype=np.float64,
        )

    def report(self, fills: list[Fill]) -> dict[str, float]:
        """Entries and exits by reason, for the stats table."""
        counts = {tag: 0 for tag in TAGS}
        for fill in fills:
            if fill.tag in counts:
                counts[fill.tag] += 1
        return {f"scalper_{tag.split(':')[-1]}_fills": float(n) for tag, n in counts.items()}


def cost_breakdown(fills: list[Fill], bids: FloatArray, asks: FloatArray) -> dict[str, float]:
    """Where a scalper's money went, against the mid price at each fill's tick.

    equity change = mid_pnl - spread - fees + the open position's mark, exactly. `spread` is
    what the fills paid beyond the mid: half the spread for a taker; for a maker fill, which
    needs the market to trade through its price, how far the quotes had already moved past it.
    `mid_pnl` is what the same trades would have made at the mid, fee-free.
    """
    mid_pnl = spread = fees = 0.0
    for fill in fills:
        mid = 0.5 * (float(bids[fill.bar]) + float(asks[fill.bar]))
        sign = 1.0 if fill.side is Side.SELL else -1.0
        mid_pnl += sign * fill.amount * mid
        spread += sign * fill.amount * (mid - fill.price)
        fees += fill.fee
    return {"mid_pnl": mid_pnl, "spread": spread, "fees": fees}
