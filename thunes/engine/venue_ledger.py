"""What a venue's fills make of one symbol's holding and the account's quote, booked with
the simulated broker's own functions (engine/broker_core.py) on a lane row of the same
layout, so that a live position, its dust and its cost basis follow the backtest's rules.

The venue, not a fee rate, says what each fill cost: Binance takes a buy's fee from the
base received (`Fill.fee_base`), a sell's from the quote, or either from the account's BNB
(`Fill.fee_asset`, its value in quote in `fee`): then neither the position nor the quote
pays it, and only the cost basis and the PnL count it. What a buy adds to the position
is the part of the balance on the lot step; the rest is dust, held and never sold.

Each fill's reactions come from the risk rules' own `after_fill`, as the simulated broker
gets them: the protective stop moved to the open position (or withdrawn), and the
kill-switch's commands; the broker carries them out on the venue.

The quote is the account's, not the symbol's: a `Wallet` that the brokers of several
symbols on one account share, so that none spends what another has set aside.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill, Side
from thunes.domain.rows import ORDER
from thunes.engine import broker_core as c
from thunes.engine.broker_core import LaneRow
from thunes.engine.sim_broker import venue
from thunes.execution.filters import FloatArray
from thunes.execution.prepare import VenueRow
from thunes.portfolio.sizing import Sizer
from thunes.risk import rules
from thunes.risk.engine import STATE
from thunes.state.records import Booking, Position


class Wallet:
    """One account's quote, shared by its symbols' brokers: each `join`s with what it has
    set aside (buys at work), and `free` is the quote none of them has. Hold `lock` from
    reading `free` to setting the order's amount aside, so two brokers cannot both spend
    the same quote (a holder's reading takes no lock: a broker may hold its own lock
    while its fills `add` to the cash, which takes only the wallet's inner one).
    `committed` is the quote all of them have put to work (what they hold, at cost, and
    what they set aside): what the risk rules' max_total_notional caps."""

    def __init__(self, cash: float) -> None:
        self.cash = cash
        self.lock = threading.RLock()
        self._cash_lock = threading.Lock()
        self._holders: list[Callable[[], float]] = []
        self._commits: list[Callable[[], float]] = []

    def add(self, amount: float) -> None:
        with self._cash_lock:
            self.cash += amount

    def join(self, set_aside: Callable[[], float], committed: Callable[[], float]) -> None:
        self._holders.append(set_aside)
        self._commits.append(committed)

    def free(self) -> float:
        with self.lock:
            return self.cash - sum(held() for held in self._holders)

    def committed(self) -> float:
        with self.lock:
            return sum(commit() for commit in self._commits)


@dataclass(frozen=True)
class Entry:
    """One fill as booked, not yet kept: `Ledger.keep` makes it the ledger's state once
    the store has recorded it. `commands`: the risk rules' reactions (rows.py rows)."""

    fill: Fill
    booking: Booking
    commands: FloatArray
    lanes: FloatArray
    risk: FloatArray
    cash: float


class Ledger:
    """One symbol's lane (position, dust, cost basis, the venue's rules for preparation)
    and the account's quote (`wallet`); `risk_vector` is the risk engine's, updated by each
    sell, on the symbol's risk lane `risk_lane` (RiskEngine.lane: its cool-down); a fill's
    booking records the risk state at `risk_rows` (RiskEngine.rows), by name."""

    def __init__(
        self,
        fees: Fees,
        filters: MarketFilters,
        sizer: Sizer,
        wallet: Wallet,
        held: Position,
        risk_vector: FloatArray,
        risk_lane: int = 0,
        risk_rows: Mapping[str, int] = STATE,
    ) -> None:
        self.risk_lane, self.risk_rows = risk_lane, risk_rows
        self.lanes = np.zeros((1, c.LANE_WIDTH))
        self.fees, self.sizer = fees, sizer
        self.rules(filters)
        self.lanes[0, [LaneRow.POS, LaneRow.DUST, LaneRow.BOOK_AMOUNT, LaneRow.BOOK_COST]] = [
            held.amount,
            held.dust,
            held.amount,
            held.cost,
        ]
        self.wallet = wallet
        self.risk_vector = risk_vector
        rules.hold(risk_lane, held.amount, held.cost, risk_vector)  # its daily loss counts it

    def rules(self, filters: MarketFilters) -> None:
        """The venue's rules for preparation (tick, step, minimums), at start and when the
        markets are read again."""
        row = venue(self.fees, 0.0, filters, self.sizer)
        self.lanes[0, : len(row)] = row

    @property
    def cash(self) -> float:
        return self.wallet.cash

    @property
    def tick(self) -> float:
        return float(self.lanes[0, VenueRow.TICK])

    @property
    def venue_row(self) -> FloatArray:
        """The lane row execution/prepare.py reads."""
        return self.lanes[0]

    @property
    def position(self) -> float:
        return float(self.lanes[0, LaneRow.POS])

    @property
    def cost(self) -> float:
        """What the open position cost, fees in (its cost basis)."""
        return float(self.lanes[0, LaneRow.BOOK_COST])

    @property
    def dust(self) -> float:
        return float(self.lanes[0, LaneRow.DUST])

    def book(self, fill: Fill, by_max_loss: bool) -> Entry:
        """`fill` booked on copies of the state: what it received, the PnL it realised."""
        lanes, rk = self.lanes.copy(), self.risk_vector.copy()
        buy = fill.side is Side.BUY
        notional = fill.amount * fill.price
        in_quote = 0.0 if fill.fee_asset else fill.fee  # the fee the quote pays
        if buy:
            kept = float(c._sellable(0, fill.amount - fill.fee_base, _book_of(lanes)))
            lanes[0, LaneRow.POS] = round(lanes[0, LaneRow.POS] + kept, 12)
            cash = -notional - (0.0 if fill.fee_base else in_quote)
            cost_fee = (fill.amount - kept) * fill.price if fill.fee_base else fill.fee
        else:
            kept, held = fill.amount, lanes[0, LaneRow.POS]
            lanes[0, LaneRow.POS] = round(held - kept, 12) if kept < held else 0.0
            cash, cost_fee = notional - in_quote, fill.fee
        pnl = float(c._book(0, buy, fill.price, kept, cost_fee, _book_of(lanes)))
        out = np.empty((rules.MAX_COMMANDS, ORDER))
        n = rules.after_fill(
            self.risk_lane,
            not buy,
            pnl,
            fill.price,
            float(fill.time_ms),
            by_max_loss,
            lanes[0, LaneRow.BOOK_AMOUNT],
            lanes[0, LaneRow.BOOK_COST],
            lanes[0, LaneRow.POS],
            lanes[0, VenueRow.TICK],
            rk,
            out,
        )
        position = Position(
            lanes[0, LaneRow.POS], lanes[0, LaneRow.DUST], lanes[0, LaneRow.BOOK_COST]
        )
        booking = Booking(position, pnl, {name: float(rk[i]) for name, i in self.risk_rows.items()})
        return Entry(replace(fill, received=kept), booking, out[:n], lanes, rk, cash)

    def keep(self, entry: Entry) -> None:
        """Make a booked entry the state (after the store recorded it)."""
        self.lanes = entry.lanes
        self.risk_vector[:] = entry.risk
        self.wallet.add(entry.cash)


_NONE = np.zeros(0)


def _book_of(lanes: FloatArray) -> c.Book:
    """A wallet's arrays around one lane row: `_sellable` and `_book` read only the lanes."""
    return (_NONE, lanes, _NONE.reshape(0, 0, 0), _NONE.reshape(0, 0), _NONE.reshape(0, 0))
