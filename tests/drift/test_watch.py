"""A paper or live session's drift watch: an alarm notifies, pauses new buys (sells still
pass), writes a re-optimisation request and sends no order; its detectors survive a
restart; a backtest marks its alarms on the plot."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.drift.test_detectors import NO_TRADES, market, shipped
from thunes.domain.orders import Fill, OrderIntent, OrderType, Side
from thunes.drift import persist
from thunes.drift.backtest import scan
from thunes.drift.monitor import DriftMonitor
from thunes.drift.watch import DriftWatch
from thunes.notify.events import Event, Kind
from thunes.reporting.plots import PlotData, _markers, _price_panel
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits


@dataclass
class _Notifier:
    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        self.events.append(event)


@dataclass
class _Broker:
    position: float = 0.0


@dataclass
class _Kernel:
    recorder: Any = None
    last_close: list[float] = field(default_factory=lambda: [100.0])


@dataclass
class _Lane:
    symbol: str = "BTC/USDT"


class _Engine:
    """What the watch reads of a LiveEngine: its kernel, lanes, books and step callback."""

    def __init__(self) -> None:
        self.kernel, self.lanes, self.stepped = _Kernel(), [_Lane()], None
        self.lane_of = {"BTC/USDT": 0}
        self.broker = _Broker()
        self.observers: list[Any] = []

    def observe(self, observer: Any) -> None:
        self.observers.append(observer)

    def books(self) -> list[tuple[str, _Broker, float]]:
        return [("BTC/USDT", self.broker, self.kernel.last_close[0])]


class SmaCross:  # the strategy's class name picks the sweep preset
    pass


@dataclass
class _Parts:
    drift: Any
    notifier: _Notifier = field(default_factory=_Notifier)
    tracker: Any = None
    strategy: Any = field(default_factory=SmaCross)
    exchange: Any = field(default_factory=lambda: type("X", (), {"slippage": 0.0005})())


def _watch(tmp_path: Path, *overrides: str) -> tuple[DriftWatch, _Engine, RiskEngine, _Parts]:
    detector = shipped("adwin", *overrides)
    engine, risk = _Engine(), RiskEngine(RiskLimits(5.0, 20.0, 3, 0.0, True), 0.001)
    parts = _Parts(detector)
    watch = DriftWatch.watch(engine, risk, parts, tmp_path / "paper.sqlite")  # type: ignore[arg-type]
    assert watch is not None
    return watch, engine, risk, parts


def _trade(watch: DriftWatch, engine: _Engine, ret: float, at: int) -> None:
    """A round trip through the recorder: a market buy at 100, its sell at 100 (1 + ret)."""
    watch.sending("BTC/USDT", OrderIntent(Side.BUY, OrderType.MARKET))
    engine.broker.position = 1.0
    watch.filled(Fill(0, Side.BUY, 100.0, 1.0, 0.0, symbol="BTC/USDT", time_ms=at))
    engine.broker.position = 0.0
    watch.filled(Fill(0, Side.SELL, 100.0 * (1 + ret), 1.0, 0.0, symbol="BTC/USDT", time_ms=at))


def test_an_alarm_notifies_pauses_buys_and_requests_a_sweep_without_trading(
    tmp_path: Path,
) -> None:
    watch, engine, risk, parts = _watch(
        tmp_path,
        "drift.streams=[trade_return]",
        "+drift.reference.trade_return=[0.01,0.01]",
        "drift.actions=[notify,pause,resweep]",
    )
    rng = np.random.default_rng(1)
    for k in range(100):  # as the backtest: mean 1%, std 1%
        _trade(watch, engine, float(rng.normal(0.01, 0.01)), k * 3_600_000)
    assert not parts.notifier.events and not risk.paused
    for k in range(100, 160):  # now every trade loses 2%
        _trade(watch, engine, -0.02, k * 3_600_000)
    (event,) = [e for e in parts.notifier.events if e.kind is Kind.DRIFT][:1]
    assert event.symbol == "BTC/USDT" and "trade_return drifted" in event.text
    assert "new entries paused" in event.text
    assert risk.paused
    assert risk.allows(OrderIntent(Side.BUY, OrderType.MARKET), 0, 0, False) == "entries paused"
    assert risk.allows(OrderIntent(Side.SELL, OrderType.MARKET), 0, 0, True) is None
    (request,) = (tmp_path / "resweep").glob("*.json")
    command = json.loads(request.read_text())["command"]
    assert command.startswith("thunes -m +sweep=sma symbol=btcusdt data.since=")
    # the watch observes the engine and sent nothing of its own
    assert engine.observers == [watch] and engine.kernel.recorder is None


def test_the_pause_survives_a_restart_of_the_risk_state() -> None:
    risk = RiskEngine(RiskLimits(5.0, 20.0, 3, 0.0, True), 0.001)
    risk.paused = True
    again = RiskEngine(RiskLimits(5.0, 20.0, 3, 0.0, True), 0.001)
    again.restore(risk.state())
    assert again.paused


def _closes(seed: int) -> list[float]:
    return market(seed, 4000, 2000).tolist()


def test_a_restart_resumes_the_detectors_state(tmp_path: Path) -> None:
    """Stopped half way and started again from its saved state, the watch raises the very
    alarms of one that ran without a stop; a fresh one (state lost) learns again and
    raises later, or never."""
    closes, hour = _closes(5), 3_600_000
    (tmp_path / "whole").mkdir()
    whole, engine, _, _ = _watch(tmp_path / "whole", "drift.streams=[volatility]")
    for k, close in enumerate(closes):
        engine.kernel.last_close[0] = close
        whole.stepped(k * hour)
    assert whole.monitor.alarms
    (tmp_path / "cut").mkdir()
    first, engine, _, _ = _watch(tmp_path / "cut", "drift.streams=[volatility]")
    for k, close in enumerate(closes[:1500]):
        engine.kernel.last_close[0] = close
        first.stepped(k * hour)
    saved = persist.state_path(tmp_path / "cut" / "paper.sqlite")
    assert saved.exists()
    second, engine, _, _ = _watch(tmp_path / "cut", "drift.streams=[volatility]")
    assert second.monitor.channels[("volatility", "BTC/USDT")].baseline.ready
    for k, close in enumerate(closes[1500:], start=1500):
        engine.kernel.last_close[0] = close
        second.stepped(k * hour)
    assert second.monitor.alarms == whole.monitor.alarms


def test_a_saved_state_of_another_detector_is_not_resumed(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite.drift.pickle"
    monitor = DriftMonitor(shipped("page_hinkley"))
    monitor.bar("X", 100.0, 0)
    path.write_bytes(pickle.dumps(monitor))
    assert persist.load(path, shipped("page_hinkley")).last_close == {"X": 100.0}
    assert persist.load(path, shipped("adwin")).last_close == {}


def test_drift_none_leaves_the_engine_alone(tmp_path: Path) -> None:
    engine = _Engine()
    parts = _Parts(shipped("none"))
    risk = RiskEngine(RiskLimits(5.0, 20.0, 3, 0.0, True), 0.001)
    assert DriftWatch.watch(engine, risk, parts, tmp_path / "s.sqlite") is None  # type: ignore[arg-type]
    assert not engine.observers


def test_a_backtests_alarms_are_marked_on_the_price_chart() -> None:
    close = market(2, 6000, 3000, 3.0).to_frame("BTC/USDT")
    drifts = scan(shipped("adwin", "drift.streams=[volatility]"), NO_TRADES, close)
    assert len(drifts) >= 1
    data = PlotData(
        "t",
        close["BTC/USDT"].tz_localize("UTC"),
        close["BTC/USDT"].tz_localize("UTC"),
        close["BTC/USDT"].tz_localize("UTC") * 0,
        NO_TRADES.assign(exit_reason=pd.Series(dtype=str)),
        drifts=drifts,
    )
    marks = {name: where for where, name, _, _ in _markers(_price_panel(data))}
    times, prices = marks["drift"]
    assert len(times) == len(drifts)
    first = drifts["time"].iloc[0]
    assert prices[0] == close["BTC/USDT"].asof(first.tz_localize(None))
