"""A paper run's memory in the account's state file (thunes/state/): every order the
simulated book accepts and every fill, written before the strategy hears of it, and after
each step a checkpoint of the book (cash, positions with their dust and cost basis, open
orders, the id and trade counters), the strategies' state vectors, the risk state and the
market time reached. A restart, after Ctrl-C or SIGKILL, resumes from the last checkpoint.

A step a crash cut short runs again from that checkpoint: the simulated market is a function
of its seed, so the step places the same orders under the same client ids and makes the
same fills under the same trade ids, which the store records once. No id names two orders.
So a step that recorded nothing (no order, order event or fill: most of them) need not be
checkpointed at once: its state is the last checkpoint's stepped on by candles the feed
delivers again on a restart (the simulator's are its seed's, a ccxt feed back-fills closed
ones). Such steps are checkpointed at most every `QUIET_EVERY_S` seconds of host time, which
bounds what a restart re-lives at any `paper.speed`: at full speed a checkpoint per step was
most of a session's work; at speed 1 on 1m candles every step is still written.

The tick scalper's run (a `TickEngine` on book ticks) keeps the same memory, checkpointed at
the first tick of each market minute. The risk engine's own orders (the protective stop,
the kill-switch's sell), which no strategy sent, are recorded as the broker places them.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable

import numpy as np

from thunes.domain.orders import (
    Command,
    Fill,
    OrderEvent,
    OrderIntent,
    OrderStatus,
    OrderType,
)
from thunes.domain.tags import KILL_TAG, MAX_LOSS_TAG, TAGS
from thunes.engine.broker_core import LANE_WIDTH, LaneRow, band
from thunes.engine.kernel import Kernel
from thunes.engine.lane import Lane
from thunes.engine.sim_broker import SimBroker
from thunes.engine.tick_engine import TickEngine
from thunes.errors import ConfigError, ThunesError
from thunes.execution.filters import FloatArray
from thunes.risk.engine import RiskEngine
from thunes.state.records import Booking, Position
from thunes.state.store import StateStore
from thunes.strategy.events import EventStrategy
from thunes.strategy.signal_runner import SignalRunner


def state_vector(strategy: EventStrategy) -> FloatArray:
    """The array a strategy keeps its state in (grid levels, the DCA cycle, a signal
    strategy's stops): what the compiled loop changes in place."""
    rules = strategy.compiled()
    if rules is not None:
        return rules.state
    if isinstance(strategy, SignalRunner):  # decides per bar: no compiled form, same state
        return strategy.state
    raise ThunesError(f"{type(strategy).__name__} has no state vector: it cannot resume")


_GUARDS = (MAX_LOSS_TAG, KILL_TAG)  # the risk engine's orders: no strategy sends them
QUIET_EVERY_S = 1.0  # host seconds between two checkpoints of steps that recorded nothing


class PaperState:
    """The kernel's recorder (`sending`, `event`, `filled`) and the live engine's `stepped`
    for candle lanes on simulated brokers, or the tick engine's (`attach_ticks`). `what`
    names the run's strategy, its parameters and symbols: a state file of another is
    refused rather than resumed into it."""

    def __init__(
        self, store: StateStore, what: str, real: Callable[[], float] = time.monotonic
    ) -> None:
        """`real`: the host's clock, which only spaces the checkpoints of quiet steps."""
        self.store, self.what, self._real = store, what, real
        self.now_ms: Callable[[], int] = lambda: 0
        stored = self._text("what")
        if stored is not None and stored != what:
            raise ConfigError(
                f"state file {store.path} holds a paper run of {stored}, not of {what}: "
                "run that config, or pick another state.account (or state.dir)"
            )
        self.lanes: list[Lane] = []
        self.brokers: dict[str, SimBroker] = {}
        self.risk: RiskEngine | None = None
        self.kernel: Kernel | None = None
        self.ticks: TickEngine | None = None
        self.guards: set[str] = set()  # the risk engine's orders recorded open
        self.pending: dict[str, list[OrderIntent]] = {}  # sent, not yet accepted or refused
        self._pnl_day, self._pnl = -1, 0.0  # the risk engine's day PnL at the last fill
        self._recorded = False  # an order, order event or fill since the last checkpoint
        self._quiet_due = -math.inf  # host time a quiet step is checkpointed again from
        self._unsaved: int | None = None  # the close of a step stepped past, not checkpointed

    def _text(self, key: str) -> str | None:
        value = self.store.resumed(key)
        return value.decode() if isinstance(value, bytes) else value

    @property
    def run_id(self) -> str | None:
        """The run's client id prefix, kept by every restart (None: a first start)."""
        return self._text("run")

    @property
    def started_ms(self) -> int | None:
        """Market time the account's first start began at (paper.duration counts from it)."""
        value = self._text("started_ms")
        return None if value is None else int(value)

    @property
    def last_ms(self) -> int | None:
        """Market time of the last step's close: where a restart's feed begins."""
        value = self._text("last_ms")
        return None if value is None else int(value)

    def attach(
        self,
        lanes: list[Lane],
        risk: RiskEngine,
        kernel: Kernel,
        run_id: str,
        started_ms: int,
        now_ms: Callable[[], int],
    ) -> bool:
        """Take the run's lanes, restored from the last checkpoint if there is one (True);
        `now_ms`: the market clock the records are stamped with."""
        self.lanes, self.kernel = lanes, kernel
        return self._attach(
            {lane.symbol: _sim(lane) for lane in lanes}, risk, run_id, started_ms, now_ms
        )

    def attach_ticks(
        self,
        engine: TickEngine,
        risk: RiskEngine,
        run_id: str,
        started_ms: int,
        now_ms: Callable[[], int],
    ) -> bool:
        """`attach` for the tick scalper's engine, whose recorder this becomes."""
        self.ticks, engine.recorder = engine, self
        broker = engine.broker
        return self._attach({broker.symbol: broker}, risk, run_id, started_ms, now_ms)

    def _attach(
        self,
        brokers: dict[str, SimBroker],
        risk: RiskEngine,
        run_id: str,
        started_ms: int,
        now_ms: Callable[[], int],
    ) -> bool:
        self.brokers, self.risk, self.now_ms = brokers, risk, now_ms
        self._fixed: dict[str, bytes | str] = {
            "what": self.what,
            "run": run_id,
            "started_ms": str(started_ms),
        }
        self.guards = {o.client_id for o in self.store.orders() if o.tag in _GUARDS}
        book = self.store.resumed("book")
        if not isinstance(book, bytes):
            return False
        self._restore(book)
        # the checkpoint's, not the risk table's: a fill of a step cut short wrote a later
        # state there, and that step runs again
        risk.restore(json.loads(self._text("risk") or "{}"))
        for symbol, broker in brokers.items():  # a state saved before holdings counted
            lanes, j = broker.wallet.lanes, broker.lane
            risk.hold(symbol, lanes[j, LaneRow.BOOK_AMOUNT], lanes[j, LaneRow.BOOK_COST])
        self._pnl_day, self._pnl = risk.day, risk.day_realised
        return True

    def _vectors(self) -> list[FloatArray]:
        """The strategies' state vectors, in the lanes' order."""
        if self.ticks is not None:
            return [self.ticks.strategy.state]
        return [state_vector(lane.strategy) for lane in self.lanes]

    def _restore(self, book: bytes) -> None:
        saved = np.load(io.BytesIO(book), allow_pickle=False)
        names = json.loads(str(saved["tags"]))
        if [TAGS.code(name) for name in names] != list(range(len(names))):
            raise ThunesError(f"state file {self.store.path}: its order tags no longer match")
        wallet = next(iter(self.brokers.values())).wallet
        wallet.acct[:] = saved["acct"]
        lanes = saved["lanes"]  # a file saved before a lane had all of today's fields: padded
        wallet.lanes = np.zeros((len(lanes), LANE_WIDTH))
        wallet.lanes[:, : lanes.shape[1]] = lanes
        wallet.orders = saved["orders"].copy()
        for j in range(len(lanes)):  # the band the compiled broker keeps, as of these orders
            band(j, wallet.lanes, wallet.orders)
        for j, vector in enumerate(self._vectors()):
            vector[:] = saved[f"strategy{j}"]
        if self.ticks is not None:
            self.ticks.resume(int(saved["ticks"]))
            self.ticks.gate[:] = saved["gate"]
        if self.kernel is not None:
            self.kernel.bars = [int(n) for n in saved["bars"]]
            self.kernel.last_close = [float(x) for x in saved["last_close"]]

    def stepped(self, close_ms: int) -> None:
        """After a step (a minute of ticks): the checkpoint a restart resumes from, at once
        if the step recorded anything, else when `QUIET_EVERY_S` have passed (see the
        module's docstring); `flush` writes the one left at the session's end."""
        if self._recorded or self._real() >= self._quiet_due:
            self._checkpoint(close_ms)
        else:
            self._unsaved = close_ms

    def flush(self) -> None:
        """The checkpoint of the last step, if `stepped` left it unwritten (a session's end:
        the next start resumes after it)."""
        if self._unsaved is not None:
            self._checkpoint(self._unsaved)

    def _checkpoint(self, close_ms: int) -> None:
        assert self.risk is not None
        self._settle_guards()
        wallet = next(iter(self.brokers.values())).wallet
        arrays: dict[str, FloatArray] = {
            "acct": wallet.acct,
            "lanes": wallet.lanes,
            "orders": wallet.orders,
            "tags": np.array(json.dumps(TAGS.names)),
        }
        if self.kernel is not None:
            arrays["bars"] = np.array(self.kernel.bars)
            arrays["last_close"] = np.array(self.kernel.last_close)
        if self.ticks is not None:
            arrays["ticks"], arrays["gate"] = np.array(self.ticks.ticks), self.ticks.gate
        for j, vector in enumerate(self._vectors()):
            arrays[f"strategy{j}"] = vector
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        risk = self.risk.state()
        values: dict[str, bytes | str] = {**self._fixed, "book": buffer.getvalue()}
        values["last_ms"], values["risk"] = str(close_ms), json.dumps(risk)
        self.store.checkpoint(values, risk)
        self.pending.clear()
        self._recorded, self._unsaved = False, None
        self._quiet_due = self._real() + QUIET_EVERY_S

    # --- the kernel's recorder ------------------------------------------------------------

    def sending(self, symbol: str, command: Command) -> None:
        self._recorded = True
        if isinstance(command, OrderIntent):
            self.pending.setdefault(symbol, []).append(command)

    def event(self, symbol: str, event: OrderEvent) -> None:
        self._recorded = True
        intent = self._sent(symbol, event) if event.status is not OrderStatus.CANCELED else None
        if not event.order_id:
            return  # refused before it left: it never had an id
        if event.status is OrderStatus.NEW:
            amount, quote = (None, None) if intent is None else (intent.amount, intent.quote)
            self.store.order_placed(symbol, event, amount, quote, self.now_ms())
        else:
            status, now = event.status.value, self.now_ms()
            self.store.order_status(event.order_id, status, now, reason=event.reason)

    def _sent(self, symbol: str, event: OrderEvent) -> OrderIntent | None:
        """The intent an acceptance or refusal answers (the risk engine's own stop was
        never sent by a strategy: None)."""
        sent = self.pending.get(symbol, [])
        for k, intent in enumerate(sent):
            if (intent.side, intent.type, intent.tag) == (event.side, event.type, event.tag):
                return sent.pop(k)
        return None

    def filled(self, fill: Fill) -> None:
        """Record the fill once by trade id, with the position, the PnL it realised (the
        move of the risk engine's day PnL) and the risk state after it."""
        assert self.risk is not None
        self._recorded = True
        broker, risk = self.brokers[fill.symbol], self.risk
        if fill.tag in _GUARDS and fill.order_id not in self.guards:  # placed and met at once
            stop, nan = OrderType.STOP, math.nan
            self._guard(
                fill.symbol,
                OrderEvent(OrderStatus.NEW, fill.side, stop, nan, fill.tag, "", fill.order_id),
            )
        pnl = risk.day_realised - (self._pnl if risk.day == self._pnl_day else 0.0)
        self._pnl_day, self._pnl = risk.day, risk.day_realised
        held = Position(broker.position, broker.holdings - broker.position, broker.cost)
        self.store.fill(fill, Booking(held, pnl, risk.state()))
        self._place_guards(fill.symbol, broker)

    # --- the risk engine's own orders -----------------------------------------------------

    def _place_guards(self, symbol: str, broker: SimBroker) -> None:
        """Record the protective stop or kill-switch sell a fill had the broker place (the
        risk engine places them inside the fill: no order event tells of them)."""
        for placed in broker.working(_GUARDS):
            if placed.order_id not in self.guards:
                self._guard(symbol, placed)

    def _guard(self, symbol: str, placed: OrderEvent) -> None:
        self.store.order_placed(symbol, placed, None, None, self.now_ms())
        self.guards.add(placed.order_id)

    def _settle_guards(self) -> None:
        """The risk engine's orders gone from the book by the end of a step, unfilled: it
        withdrew them (a fill that took one has marked it filled already)."""
        if not self.guards:
            return
        resting = {o.order_id for b in self.brokers.values() for o in b.working(_GUARDS)}
        for order_id in self.guards - resting:
            self.store.order_status(order_id, OrderStatus.CANCELED.value, self.now_ms())
            self.guards.discard(order_id)


def _sim(lane: Lane) -> SimBroker:
    if not isinstance(lane.broker, SimBroker):
        raise ThunesError("paper state is kept for simulated brokers only")
    return lane.broker
