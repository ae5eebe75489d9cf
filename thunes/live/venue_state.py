"""A venue session's memory beside the broker's (thunes/state/ holds the orders, fills and
positions the exchange brokers write): after each step a checkpoint of the kernel (bars,
last closes, the strategies' state vectors), the intents still queued, the fills the
strategies have heard of, and the market time reached. A restart, after Ctrl-C or SIGKILL,
resumes from it: the feed starts after the last close, and a step a crash cut short runs
again from the checkpoint.

Nothing reaches the venue from a step before its checkpoint: the strategies' intents are
only queued during a step, and the brokers send them after it. An intent leaves the saved
queue once its order is recorded (`order_sending`) and before it is sent (the broker's
`on_outbox`), so a crash in between finds it recorded, looked up by client id ("never
placed") and queued again: sent once. A fill booked but not yet heard by its strategy at
the crash is handed to it after the restart.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np

from thunes.domain.orders import Command, Fill, OrderEvent, OrderIntent, OrderType, Side
from thunes.engine.exchange_broker import ExchangeBroker
from thunes.engine.kernel import Kernel
from thunes.errors import ConfigError
from thunes.execution.filters import FloatArray
from thunes.live.persist import state_vector
from thunes.risk.engine import RiskEngine
from thunes.state.store import StateStore


def _intent(values: dict[str, object]) -> OrderIntent:
    return OrderIntent(
        Side(str(values["side"])),
        OrderType(str(values["type"])),
        values["amount"],  # type: ignore[arg-type]
        values["quote"],  # type: ignore[arg-type]
        values["price"],  # type: ignore[arg-type]
        str(values["tag"]),
    )


def _values(intent: OrderIntent) -> dict[str, object]:
    return {
        "side": intent.side.value,
        "type": intent.type.value,
        "amount": intent.amount,
        "quote": intent.quote,
        "price": intent.price,
        "tag": intent.tag,
    }


class VenueState:
    """The kernel's recorder (it counts the fills each strategy heard) and the live
    engine's `stepped`. `what` names the strategy, its parameters and symbols: a state
    file of another run is refused rather than resumed into it."""

    def __init__(self, store: StateStore, what: str) -> None:
        self.store, self.what = store, what
        stored = self._text("what")
        if stored is not None and stored != what:
            raise ConfigError(
                f"state file {store.path} holds a session of {stored}, not of {what}: "
                "run that config, or pick another state.account (or state.dir)"
            )
        self.brokers: dict[str, ExchangeBroker] = {}
        self.kernel: Kernel | None = None
        self.risk: RiskEngine | None = None
        self.heard: dict[str, set[int]] = {}  # symbol -> trade ids its strategy heard
        self._fixed: dict[str, bytes | str] = {}

    def _text(self, key: str) -> str | None:
        value = self.store.resumed(key)
        return value.decode() if isinstance(value, bytes) else value

    def _ms(self, key: str) -> int | None:
        text = self._text(key)
        return None if text is None else int(text)

    @property
    def run_id(self) -> str | None:
        """The run's client-id prefix, kept by every restart (None: a first start)."""
        return self._text("run")

    @property
    def started_ms(self) -> int | None:
        return self._ms("started_ms")

    @property
    def last_ms(self) -> int | None:
        """Market time of the last step's close: where a restart's feed begins."""
        return self._ms("last_ms")

    def attach(
        self,
        brokers: dict[str, ExchangeBroker],
        kernel: Kernel,
        risk: RiskEngine,
        run_id: str,
        started_ms: int,
    ) -> bool:
        """Take the run's brokers and kernel, restored from the last checkpoint if there is
        one (True). The risk state is the store's: fills write it as they are booked."""
        self.brokers, self.kernel, self.risk = brokers, kernel, risk
        self._fixed = {"what": self.what, "run": run_id, "started_ms": str(started_ms)}
        for symbol, broker in brokers.items():
            broker.on_outbox = self._queue_saver(symbol)
        risk.restore(self.store.risk())
        book = self.store.resumed("kernel")
        if not isinstance(book, bytes):
            return False
        saved = np.load(io.BytesIO(book), allow_pickle=False)
        for j, lane in enumerate(kernel.lanes):
            state_vector(lane.strategy)[:] = saved[f"strategy{j}"]
        kernel.bars = [int(n) for n in saved["bars"]]
        kernel.last_close = [float(x) for x in saved["last_close"]]
        heard = json.loads(self._text("heard") or "{}")
        fills = self.store.fills()
        for symbol, broker in brokers.items():
            self.heard[symbol] = set(heard.get(symbol, []))
            queued = json.loads(self._text(f"outbox:{symbol}") or "[]")
            missed = [
                f for f in fills if f.symbol == symbol and f.trade_id not in self.heard[symbol]
            ]
            broker.restore([_intent(v) for v in queued], missed)
        return True

    def _queue_saver(self, symbol: str) -> Callable[[list[OrderIntent]], None]:
        def save(queued: list[OrderIntent]) -> None:
            assert self.risk is not None
            outbox = json.dumps([_values(i) for i in queued])
            self.store.checkpoint({f"outbox:{symbol}": outbox}, self.risk.state())

        return save

    def stepped(self, close_ms: int) -> None:
        """After a step, before its intents leave: the checkpoint a restart resumes from."""
        assert self.kernel is not None and self.risk is not None
        arrays: dict[str, FloatArray] = {
            "bars": np.array(self.kernel.bars),
            "last_close": np.array(self.kernel.last_close),
        }
        for j, lane in enumerate(self.kernel.lanes):
            arrays[f"strategy{j}"] = state_vector(lane.strategy)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        values: dict[str, bytes | str] = {**self._fixed, "kernel": buffer.getvalue()}
        values["last_ms"] = str(close_ms)
        values["heard"] = json.dumps({s: sorted(ids) for s, ids in self.heard.items()})
        for symbol, broker in self.brokers.items():
            values[f"outbox:{symbol}"] = json.dumps([_values(i) for i in broker.outbox])
        self.store.checkpoint(values, self.risk.state())

    # --- the kernel's recorder: the brokers record orders themselves ----------------------

    def sending(self, symbol: str, command: Command) -> None:
        return None

    def filled(self, fill: Fill) -> None:
        self.heard.setdefault(fill.symbol, set()).add(fill.trade_id)

    def event(self, symbol: str, event: OrderEvent) -> None:
        return None
