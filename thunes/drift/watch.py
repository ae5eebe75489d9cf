"""A paper or live session's drift watch: `DriftWatch.watch(engine, risk, parts, store_path)`
after the engine is built, as `Alerts.watch` is. It observes the engine
(`LiveEngine.observe`): the kernel's fills (trade returns, losses, slippage) and each
step's closes (realised volatility), feeds the monitor, acts on an alarm as
`drift.actions` says, and saves the monitor after each step beside the state file. It
never sends an order: `pause` only stops new buys (the risk rules' `paused`, until someone
resumes), `resweep` only writes a request.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from thunes.domain.orders import Command, Fill, OrderIntent, OrderType, Side
from thunes.domain.timeframes import DAY_MS, utc_minute
from thunes.drift import persist
from thunes.drift.monitor import Alarm, DriftMonitor
from thunes.live.engine import LiveEngine
from thunes.notify.events import Event, Kind
from thunes.risk.engine import RiskEngine
from thunes.tracking.base import RunRecord

if TYPE_CHECKING:
    from thunes.components import Components
    from thunes.domain.orders import OrderEvent

log = logging.getLogger(__name__)

SWEEP_PRESETS = {"SmaCross": "sma", "Dca": "dca", "Grid": "grid", "Scalper": "scalper"}
"""conf/sweep/ presets by strategy class: what a re-optimisation request runs."""


class DriftWatch:
    @classmethod
    def watch(
        cls, engine: LiveEngine, risk: RiskEngine, parts: Components, store_path: Path
    ) -> DriftWatch | None:
        """Watch `engine` when `drift` names streams (drift=none: None, nothing wrapped)."""
        if not parts.drift.streams:
            return None
        path = persist.state_path(store_path)
        watch = cls(engine, risk, parts, path)
        engine.observe(watch)
        return watch

    def __init__(
        self,
        engine: LiveEngine,
        risk: RiskEngine,
        parts: Components,
        path: Path,
    ) -> None:
        self.engine, self.risk, self.parts, self.path = engine, risk, parts, path
        self.monitor: DriftMonitor = persist.load(path, parts.drift)
        self.slippage = parts.exchange.slippage
        self._decided: dict[str, float] = {}  # the close a market order was decided at
        self._trades: dict[str, list[float]] = {}  # open trades: [cost, proceeds] in quote

    # --- the kernel's recorder ------------------------------------------------------------

    def sending(self, symbol: str, command: Command) -> None:
        if isinstance(command, OrderIntent) and command.type is OrderType.MARKET:
            j = self.engine.lane_of.get(symbol)
            if j is not None:
                self._decided[symbol] = self.engine.kernel.last_close[j]

    def event(self, symbol: str, event: OrderEvent) -> None:
        """An order's news measures nothing here: its fills do."""

    def filled(self, fill: Fill) -> None:
        buy, symbol = fill.side is Side.BUY, fill.symbol
        decided = self._decided.get(symbol, 0.0)
        if not fill.maker and decided > 0:
            move = (fill.price / decided - 1) * (1 if buy else -1)  # adverse: > 0
            self._handle(
                self.monitor.observe("slippage", symbol, move - self.slippage, fill.time_ms)
            )
        trade = self._trades.setdefault(symbol, [0.0, 0.0])
        notional = fill.price * fill.amount
        if buy:
            trade[0] += notional + fill.fee
            return
        trade[1] += notional - fill.fee
        broker = next((b for s, b, _ in self.engine.books() if s == symbol), None)
        if broker is not None and broker.position > 0:
            return  # a partial exit: the trade is still open
        cost, proceeds = self._trades.pop(symbol)
        if cost > 0:
            for alarm in self.monitor.trade_closed(symbol, proceeds / cost - 1, fill.time_ms):
                self._handle(alarm)

    # --- the engine's step ----------------------------------------------------------------

    def stepped(self, close_ms: int) -> None:
        for lane, close in zip(self.engine.lanes, self.engine.kernel.last_close, strict=True):
            self._handle(self.monitor.bar(lane.symbol, close, close_ms))
        persist.save(self.path, self.monitor)

    # --- on an alarm ----------------------------------------------------------------------

    def _handle(self, alarm: Alarm | None) -> None:
        if alarm is None:
            return
        detector = self.monitor.detector
        done = []
        if "pause" in detector.actions and not self.risk.paused:
            self.risk.paused = True
            done.append("new entries paused until resumed")
        if "resweep" in detector.actions:
            done.append(f"re-optimisation requested in {self._request(alarm)}")
        if "mlflow" in detector.actions:
            threading.Thread(target=self._track, args=(alarm,), daemon=True).start()
        if "notify" in detector.actions:
            baseline = self.monitor.channels[(alarm.stream, alarm.symbol)].baseline
            text = (
                f"{alarm.stream} drifted ({detector.name}) at {utc_minute(alarm.time_ms)} UTC: "
                f"z {alarm.value:+.2f} against {baseline.mean:.4g} ± {baseline.std:.4g}"
            )
            self.parts.notifier.publish(
                Event(Kind.DRIFT, "; ".join([text, *done]), symbol=alarm.symbol)
            )

    def _request(self, alarm: Alarm) -> Path:
        """A re-optimisation sweep on the last `resweep_days` (market time), written for a
        person or a scheduler to run: nothing here runs it."""
        detector = self.monitor.detector
        since = utc_minute(alarm.time_ms - detector.resweep_days * DAY_MS)[:10]
        until = utc_minute(alarm.time_ms)[:10]
        strategy = type(self.parts.strategy).__name__
        symbol = alarm.symbol.replace("/", "").lower()
        command = (
            f"thunes -m +sweep={SWEEP_PRESETS.get(strategy, 'base')} symbol={symbol} "
            f"data.since={since} data.until={until}"
        )
        folder = self.path.parent / "resweep"
        folder.mkdir(parents=True, exist_ok=True)
        request = folder / f"{alarm.time_ms}-{symbol}-{alarm.stream}.json"
        request.write_text(
            json.dumps(
                {
                    "at": utc_minute(alarm.time_ms),
                    "symbol": alarm.symbol,
                    "stream": alarm.stream,
                    "z": alarm.value,
                    "command": command,
                },
                indent=2,
            )
        )
        return request

    def _track(self, alarm: Alarm) -> None:
        """One MLflow run per alarm, off the trading thread; a failure is logged, not raised."""
        detector = self.monitor.detector
        record = RunRecord(
            name=f"drift-{alarm.stream}-{alarm.symbol}",
            params={f"drift.{k}": str(v) for k, v in detector.params().items()},
            metrics={"z": alarm.value, "time_ms": float(alarm.time_ms)},
            tags={
                "mode": "drift",
                "detector": detector.name,
                "stream": alarm.stream,
                "symbol": alarm.symbol,
            },
            artifact_dir=self.path.parent,
        )
        try:
            self.parts.tracker.log_run(record)
        except Exception:
            log.exception("drift: MLflow logging failed")
