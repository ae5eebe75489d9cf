"""What a venue's fills make of one symbol's holding and the account's quote, booked with
the simulated broker's own functions (engine/broker_core.py) on a lane row of the same
layout, so that a live position, its dust and its cost basis follow the backtest's rules.

The venue, not a fee rate, says what each fill cost: Binance takes a buy's fee from the
base received (`Fill.fee_base`), a sell's from the quote. What a buy adds to the position
is the part of the balance on the lot step; the rest is dust, held and never sold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side
from thunes.engine import broker_core as c
from thunes.engine.broker_core import LaneRow
from thunes.engine.sim_broker import venue
from thunes.execution.filters import FloatArray
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import STATE
from thunes.state.records import Booking, Position


@dataclass(frozen=True)
class Entry:
    """One fill as booked, not yet kept: `Ledger.keep` makes it the ledger's state once
    the store has recorded it."""

    fill: Fill
    booking: Booking
    flatten: bool  # the daily loss tripped a flattening kill-switch
    lanes: FloatArray
    risk: FloatArray
    cash: float


class Ledger:
    """One symbol's lane (position, dust, cost basis, the venue's rules for preparation)
    and the account's quote; `risk_vector` is the risk engine's, updated by each sell."""

    def __init__(
        self,
        fees: Fees,
        filters: MarketFilters,
        sizer: Sizer,
        cash: float,
        held: Position,
        risk_vector: FloatArray,
    ) -> None:
        self.lanes = np.zeros((1, c.LANE_WIDTH))
        row = venue(fees, 0.0, filters, sizer)
        self.lanes[0, : len(row)] = row
        self.lanes[0, [LaneRow.POS, LaneRow.DUST, LaneRow.BOOK_AMOUNT, LaneRow.BOOK_COST]] = [
            held.amount,
            held.dust,
            held.amount,
            held.cost,
        ]
        self.cash = cash
        self.risk_vector = risk_vector

    @property
    def venue_row(self) -> FloatArray:
        """The lane row execution/prepare.py reads."""
        return self.lanes[0]

    @property
    def position(self) -> float:
        return float(self.lanes[0, LaneRow.POS])

    @property
    def dust(self) -> float:
        return float(self.lanes[0, LaneRow.DUST])

    def book(self, fill: Fill, by_max_loss: bool) -> Entry:
        """`fill` booked on copies of the state: what it received, the PnL it realised."""
        lanes, rk = self.lanes.copy(), self.risk_vector.copy()
        buy = fill.side is Side.BUY
        notional = fill.amount * fill.price
        if buy:
            kept = float(c._sellable(0, fill.amount - fill.fee_base, _book_of(lanes)))
            lanes[0, LaneRow.POS] = round(lanes[0, LaneRow.POS] + kept, 12)
            cash = -notional - (0.0 if fill.fee_base else fill.fee)
            cost_fee = (fill.amount - kept) * fill.price if fill.fee_base else fill.fee
        else:
            kept, held = fill.amount, lanes[0, LaneRow.POS]
            lanes[0, LaneRow.POS] = round(held - kept, 12) if kept < held else 0.0
            cash, cost_fee = notional - fill.fee, fill.fee
        pnl = float(c._book(0, buy, fill.price, kept, cost_fee, _book_of(lanes)))
        flatten = not buy and bool(rules.on_realised(pnl, float(fill.time_ms), by_max_loss, rk))
        position = Position(
            lanes[0, LaneRow.POS], lanes[0, LaneRow.DUST], lanes[0, LaneRow.BOOK_COST]
        )
        booking = Booking(position, pnl, {name: float(rk[i]) for name, i in STATE.items()})
        return Entry(replace(fill, received=kept), booking, flatten, lanes, rk, cash)

    def keep(self, entry: Entry) -> None:
        """Make a booked entry the state (after the store recorded it)."""
        self.lanes = entry.lanes
        self.risk_vector[:] = entry.risk
        self.cash += entry.cash


_NONE = np.zeros(0)


def _book_of(lanes: FloatArray) -> c.Book:
    """A wallet's arrays around one lane row: `_sellable` and `_book` read only the lanes."""
    return (_NONE, lanes, _NONE.reshape(0, 0, 0), _NONE.reshape(0, 0))
