"""The tick engine: the scalper (thunes/strategy/scalper.py) and the shared broker over best
bid/ask ticks, as `PortfolioEngine` runs candle strategies.

Per tick: the broker fills what the quote reaches (broker_core.on_quote: market orders at
the ask or the bid, limits the quote trades through, stops at the bid), the strategy hears
what befell its orders (refusals and withdrawals, then the fills), then decides at the quote;
its orders leave then and meet the quotes from the next tick on. Fees, rounding, minimums,
cash and the risk engine's rules are the broker's, as for candles; the venue has no
slippage (the spread is the cost) and fills an order whole. Equity is marked at the bid.
A signal holds for many ticks: a buy the broker would refuse again for the reason it last
recorded is withheld (broker_core.would_refuse asks without counting), so that a run of
identical refusals is one skipped order, counted once by the risk engine.

`run_ticks` runs the numba rules and broker in one compiled loop; `on_tick` calls their
faces (`SimBroker.on_quote`, `Scalper.on_tick`...) once per tick, in the same order: the
two give the same fills, and mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import numpy.typing as npt
from numba import njit

from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import (
    ClientIds,
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    Side,
    SkippedOrder,
)
from thunes.domain.reasons import REASONS
from thunes.domain.rows import BUY, CANCEL, OrderRow
from thunes.domain.tags import TAGS
from thunes.domain.ticks import BookTick
from thunes.engine import broker_core as c
from thunes.engine.broker_core import AcctRow, Book, LaneRow, LogRow
from thunes.engine.sim_broker import SimBroker, as_row
from thunes.execution.filters import FloatArray as Vec
from thunes.portfolio.sizing import FixedQuote
from thunes.risk import rules
from thunes.risk.engine import RiskEngine
from thunes.strategy import scalper as s

if TYPE_CHECKING:
    import pandas as pd

Bools = npt.NDArray[np.bool_]
MINUTE_MS = 60_000


class TickRecorder(Protocol):
    """The kernel's recorder (kernel.Recorder: orders and fills written before the strategy
    hears of them) that also keeps checkpoints: `stepped(last_ms)` at the first tick of each
    market minute, with the time of the last tick the engine took whole."""

    def sending(self, symbol: str, command: Command) -> None: ...

    def filled(self, fill: Fill) -> None: ...

    def event(self, symbol: str, event: OrderEvent) -> None: ...

    def stepped(self, close_ms: int) -> None: ...


class QuoteRow(IntEnum):
    """A tick's fields, as a row of `_loop`'s `rows`."""

    TIME = 0  # epoch ms
    BID = 1
    BID_SIZE = 2
    ASK = 3
    ASK_SIZE = 4


@c.core  # no reference counting: see broker_core.core
def _send(out: Vec, n: int, gate: Vec, rk: Vec, b: Book, st: Vec, prefixes: Bools) -> None:
    """Submit the rules' n rows to lane 0. A buy the broker would refuse again for the
    reason it last recorded (`gate`) is withheld, the rules hearing it refused: a signal
    holds for many ticks, and its run of identical refusals is one record, counted once."""
    while n:
        withheld = -1
        for k in range(n):
            o = out[k]
            if o[OrderRow.TYPE] == CANCEL:
                c.cancel(0, prefixes[int(o[OrderRow.TAG])], 0, b)
                continue
            positions = c.open_positions(b)
            repeat = gate[0] != 0 and o[OrderRow.SIDE] == BUY
            if repeat and c.would_refuse(0, o, positions, rk, b) == gate[0]:
                withheld = int(o[OrderRow.TAG])
            else:
                c.submit(0, o, positions, rk, b)
        n = 0 if withheld < 0 else s.on_dropped(withheld, True, st, out)


@c.core  # no reference counting: see broker_core.core
def _hear(k: int, gate: Vec, rk: Vec, b: Book, st: Vec, out: Vec, prefixes: Bools) -> None:
    """Tell the rules of their orders refused or withdrawn, from log row k on (their
    answers' rows too), as the per-event face delivers order events; the gate keeps the
    last refusal until an order leaves."""
    acct, _, _, log, _ = b
    while k < acct[AcctRow.N_LOG]:
        kind = log[k, LogRow.KIND]
        if kind == c.ACCEPTED:
            gate[0] = 0.0
        elif kind == c.SKIP or kind == c.CANCELED:
            if kind == c.SKIP:
                gate[0] = log[k, LogRow.REASON]
            n = s.on_dropped(int(log[k, LogRow.TAG]), kind == c.SKIP, st, out)
            _send(out, n, gate, rk, b, st, prefixes)
        k += 1


@njit(cache=True)
def _loop(
    first: int,
    rows: Vec,
    gate: Vec,
    rk: Vec,
    b: Book,
    st: Vec,
    out: Vec,
    prefixes: Bools,
    equity: Vec,
) -> Vec:
    """Rows of ticks (`QuoteRow`) from tick `first` on, through lane 0's broker and the
    rules; returns the log: `_ticks` in the log as it is, again in one twice as long
    whenever a tick could overflow it (rarely)."""
    acct, lanes, orders, log, scratch = b
    j = 0
    while True:
        b = acct, lanes, orders, log, scratch
        j = _ticks(j, first, rows, gate, rk, b, st, out, prefixes, equity)
        if j == len(rows):
            return log
        log = c.grown(log)


@njit(cache=True)
def _ticks(
    start: int,
    first: int,
    rows: Vec,
    gate: Vec,
    rk: Vec,
    b: Book,
    st: Vec,
    out: Vec,
    prefixes: Bools,
    equity: Vec,
) -> int:
    """`_loop`'s ticks from row `start`: returns the row it stopped before, `len(rows)` at
    the end. It rebinds no array: a loop that may (the grown log) pays numba's reference
    counting of each at every tick."""
    acct, lanes, _, log, _ = b
    for j in range(start, len(rows)):
        if acct[AcctRow.N_LOG] + 64 > len(log):
            return j
        i, t, bid = first + j, rows[j, QuoteRow.TIME], rows[j, QuoteRow.BID]
        a = int(acct[AcctRow.N_LOG])
        if c.reaches(0, bid, bid, lanes):  # on_quote's quick test, without a call
            c.on_quote(0, i, t, bid, rows[j, QuoteRow.ASK], rk, b)
        else:
            c.clock(0, i, t, lanes)
        rules.mark(0, bid, t, rk)  # the fat-finger guard measures from the last bid
        if rules.owes(0, rk):
            c.obey(0, rk, b)
        z = int(acct[AcctRow.N_LOG])
        if z > a:
            _hear(a, gate, rk, b, st, out, prefixes)
            for r in range(a, z):
                if log[r, LogRow.KIND] == c.FILL:
                    m, buy, gate[0] = int(acct[AcctRow.N_LOG]), log[r, LogRow.SIDE] == BUY, 0.0
                    price, tag = log[r, LogRow.PRICE], int(log[r, LogRow.TAG])
                    n = s.on_fill(t, buy, price, tag, lanes[0, LaneRow.POS], st, out)
                    _send(out, n, gate, rk, b, st, prefixes)
                    _hear(m, gate, rk, b, st, out, prefixes)
        bid_size, ask_size = rows[j, QuoteRow.BID_SIZE], rows[j, QuoteRow.ASK_SIZE]
        n = s.on_tick(t, bid, bid_size, ask_size, st, out)
        if n:
            m = int(acct[AcctRow.N_LOG])
            _send(out, n, gate, rk, b, st, prefixes)
            _hear(m, gate, rk, b, st, out, prefixes)
        equity[j] = acct[AcctRow.CASH] + (lanes[0, LaneRow.POS] + lanes[0, LaneRow.DUST]) * bid
    return len(rows)


@dataclass(frozen=True)
class TickResult:
    fills: list[Fill]
    skipped: list[SkippedOrder]
    equity: Vec  # one mark per tick, at the bid


class TickEngine:
    """Batch (`run_ticks`) and per-event (`on_tick`) faces over one broker and one
    strategy; they mix."""

    def __init__(
        self,
        strategy: s.Scalper,
        fees: Fees,
        filters: MarketFilters,
        cash: float,
        risk: RiskEngine | None = None,
        ids: ClientIds | None = None,
        recorder: TickRecorder | None = None,
    ) -> None:
        """`ids` name its orders (a paper run's client ids; None: the simulator's);
        `recorder` hears of every order and fill first, and of each minute's checkpoint
        (`on_tick` only: a batch run records nothing)."""
        strategy.start(filters.tick_size)
        self.strategy = strategy
        # every entry says its quote: the sizer is never asked
        quote = FixedQuote(strategy.quote_amount)
        self.broker = SimBroker(fees, 0.0, filters, quote, cash, risk, ids)
        self.recorder = recorder
        self.gate = np.zeros(1)  # the last refusal recorded, 0 once an order has left
        self.marks = np.zeros(1024)  # grows by doubling
        self.ticks = 0  # ticks seen: the next one's number, and the marks in use
        self.last_ms: int | None = None  # the last tick taken whole (its market time)

    def resume(self, ticks: int) -> None:
        """Go on from tick number `ticks` (a restored paper run): the marks before it are
        not known again (NaN)."""
        self.ticks, self.marks = ticks, np.full(ticks + 1024, math.nan)

    def account(self) -> tuple[float, float]:
        """(cash, base held: the position and its dust) now."""
        return self.broker.cash, self.broker.holdings

    def on_tick(self, tick: BookTick) -> list[Fill]:
        """One tick as it arrives; returns the fills it caused. The first tick of a market
        minute first has the recorder checkpoint what the ticks before it left."""
        broker, strategy, i, recorder = self.broker, self.strategy, self.ticks, self.recorder
        last = self.last_ms
        if (
            recorder is not None
            and last is not None
            and tick.timestamp_ms // MINUTE_MS != last // MINUTE_MS
        ):
            recorder.stepped(last)
        if i >= len(self.marks):
            self._grow(1)
        fills = broker.on_quote(i, tick.timestamp_ms, tick.bid, tick.ask)
        broker.at(tick.timestamp_ms, tick.bid)  # marked; a tripped kill-switch obeyed
        if recorder is not None:
            for fill in fills:
                recorder.filled(fill)
        self._hear()
        for fill in fills:
            self.gate[0] = 0.0
            self._send(strategy.on_fill(fill, broker))
            self._hear()
        commands = strategy.on_tick(tick, broker)
        if commands:  # most ticks: nothing to send, nothing to hear
            self._send(commands)
            self._hear()
        self.marks[i] = broker.cash + broker.holdings * tick.bid
        self.ticks, self.last_ms = i + 1, tick.timestamp_ms
        return fills

    def _send(self, commands: list[Command]) -> None:
        """Submit the strategy's commands, withholding a repeated refusal as the compiled
        loop's `_send` does."""
        broker = self.broker
        while commands:
            withheld: OrderIntent | None = None
            for command in commands:
                positions = int(broker.committed)
                if isinstance(command, OrderIntent) and command.side is Side.BUY and self.gate[0]:
                    o, rk = as_row(command), broker.risk_vector
                    why = c.would_refuse(broker.lane, o, positions, rk, broker.wallet.book)
                    if why == self.gate[0]:
                        withheld = command
                        continue
                if self.recorder is not None:
                    self.recorder.sending(broker.symbol, command)
                broker.submit(command, positions)
            commands = (
                []
                if withheld is None
                else self.strategy.on_order_event(self._refused(withheld), broker)
            )

    def _refused(self, intent: OrderIntent) -> OrderEvent:
        why = REASONS[int(self.gate[0])]
        price = math.nan if intent.price is None else intent.price
        return OrderEvent(OrderStatus.REJECTED, intent.side, intent.type, price, intent.tag, why)

    def _hear(self) -> None:
        """What befell the strategy's orders, and its answers, until nothing more does."""
        broker = self.broker
        while broker.events:
            events, broker.events = broker.events, []
            for event in events:
                if self.recorder is not None:
                    self.recorder.event(broker.symbol, event)
                if event.status is OrderStatus.NEW:
                    self.gate[0] = 0.0
                elif event.status is OrderStatus.REJECTED:
                    self.gate[0] = REASONS.index(event.reason)
                self._send(self.strategy.on_order_event(event, broker))

    def run_ticks(self, ticks: pd.DataFrame) -> TickResult:
        """A frame of ticks (UTC index; bid, bid_size, ask, ask_size), in compiled code."""
        rows = np.empty((len(ticks), len(QuoteRow)))
        rows[:, QuoteRow.TIME] = cast("pd.DatetimeIndex", ticks.index).as_unit("ms").asi8
        rows[:, QuoteRow.BID :] = ticks[["bid", "bid_size", "ask", "ask_size"]].to_numpy(np.float64)
        self._grow(len(rows))
        marks = self.marks[self.ticks : self.ticks + len(rows)]
        w, st = self.broker.wallet, self.strategy
        w.log = _loop(
            self.ticks,
            rows,
            self.gate,
            self.broker.risk_vector,
            w.book,
            st.state,
            st.out,
            TAGS.prefix_table(),
            marks,
        )
        w.drain(events=False)
        self.ticks += len(rows)
        return self.result()

    def result(self) -> TickResult:
        """Everything so far (the risk engine's counts are in its own vector already)."""
        b = self.broker
        return TickResult(list(b.fills), list(b.skipped), self.marks[: self.ticks].copy())

    def _grow(self, ticks: int) -> None:
        """Room for `ticks` more marks."""
        if self.ticks + ticks > len(self.marks):
            self.marks = np.concatenate([self.marks, np.empty(max(ticks, len(self.marks)))])


def run_ticks(
    ticks: pd.DataFrame,
    strategy: s.Scalper,
    fees: Fees,
    filters: MarketFilters,
    cash: float,
    risk: RiskEngine | None = None,
) -> TickResult:
    """The batch face: the same fills as feeding the ticks to `TickEngine.on_tick` one by one."""
    return TickEngine(strategy, fees, filters, cash, risk).run_ticks(ticks)
