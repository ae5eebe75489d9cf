"""Every strategy gives the same fills in a backtest and in a replay.

A backtest runs the event engine's compiled loop (`batch=True`) over decisions computed once
for the whole history (`SignalRunner(strategy, precomputed=strategy.signals(...))`); a
replay recomputes them bar by bar from the rolling window a live bot would hold
(`SignalRunner(strategy)`), calling the same rules event by event from Python. Stateful
strategies (DCA, grid) run compiled in the one and event by event in the other. Either
way the fills (bar, side, price, amount, fee, tag) and the equity curve must be the same,
with the default risk limits as with none that can bind, on clean data and on data with
gaps. The vectorbt fast path is held to the event engine in test_replay_parity.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from tests.backtest.candles import with_gap
from tests.engine.lanes import run_one
from thunes.data.candles import as_columns
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Fill
from thunes.engine.replay import ReplayResult
from thunes.engine.sim_broker import SimBroker
from thunes.exchange.sim import SimExchange
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.base import Strategy
from thunes.strategy.dca import Dca
from thunes.strategy.events import EventStrategy
from thunes.strategy.grid import Grid
from thunes.strategy.signal_runner import as_event_strategy
from thunes.strategy.sma_cross import SmaCross

FEES = Fees(0.001, 0.001, from_received=False)
SLIPPAGE = 0.0005
BTC = MarketFilters(tick_size=0.01, step_size=0.00001, min_qty=0.00001, min_notional=5.0)
CASH = 1_000.0
BARS = 3_000
DEFAULT_RISK = RiskLimits(5.0, 20.0, 3, 60.0, True)  # conf/risk/default.yaml
NO_RISK = RiskLimits(math.inf, math.inf, 1_000_000, 0.0, False)  # conf/risk/none.yaml

Make = Callable[[], Strategy | EventStrategy]


def grid(**overrides: float | int | None) -> Grid:
    """A relative, geometric grid of 11 levels, +-10%, 20 quote a level, unless overridden."""
    rules: dict[str, object] = {
        "lower": -0.1,
        "upper": 0.1,
        "relative": True,
        "levels": 11,
        "spacing": "geometric",
        "quote_per_level": 20.0,
        "stop_below": None,
        "take_profit_above": None,
        "recenter_after": None,
    }
    return Grid(**{**rules, **overrides})  # type: ignore[arg-type]


# Fresh instances per run: SignalRunner, DCA and grid keep state between bars.
STRATEGIES: dict[str, Make] = {
    "sma": lambda: SmaCross(10, 50, "sma", None, None, None),
    "ema": lambda: SmaCross(10, 50, "ema", None, None, None),
    # a stop-loss, a take-profit and a trailing stop that all fill on this data
    "sma_stops": lambda: SmaCross(10, 50, "sma", 0.03, 0.04, 0.05),
    # exits wider than the default max loss per trade (5 of 100 quote): the risk stop binds
    "sma_wide_stops": lambda: SmaCross(10, 50, "sma", 0.08, 0.05, 0.06),
    "dca": lambda: Dca(
        quote_amount=50.0,
        take_profit_pct=0.015,
        every_bars=None,
        drop_pct=0.02,
        volume_multiplier=1.5,
        max_safety_orders=3,
    ),
    "dca_clock": lambda: Dca(
        quote_amount=40.0,
        take_profit_pct=0.01,
        every_bars=12,
        drop_pct=None,
        volume_multiplier=1.0,
        max_safety_orders=4,
    ),
    "grid": lambda: grid(stop_below=0.05),
    "grid_wide": lambda: grid(
        lower=-0.25, upper=0.25, levels=26, quote_per_level=30.0, take_profit_above=0.05
    ),
    "grid_recenter": lambda: grid(recenter_after=24),  # conf/strategy/grid.yaml
    "grid_recenter_often": lambda: grid(levels=5, stop_below=0.1, recenter_after=3),
}


def sim_candles(bars: int = BARS) -> pd.DataFrame:
    start = 1_588_636_800_000  # 2020-05-05: a stretch where the grids trade both ways
    return SimExchange(seed=11, fees=FEES, slippage=0.0).candles(
        "BTC/USDT", "1h", start, start + bars * 3_600_000
    )


CLEAN = sim_candles()
GAPPED = with_gap(with_gap(CLEAN, 700, 33), 1_900, 7)
DATA = {"clean": CLEAN, "gapped": GAPPED}
RISKS = {"default_risk": DEFAULT_RISK, "no_risk": NO_RISK}


@dataclass(frozen=True)
class Run:
    result: ReplayResult
    risk: RiskEngine
    report: dict[str, float | None]  # the strategy's figures (NaN as None, so == holds)


def run(make: Make, frame: pd.DataFrame, limits: RiskLimits, whole_history: bool) -> Run:
    """One event-engine run: decisions over the whole history (backtest) or rolling (replay)."""
    runner = as_event_strategy(make(), as_columns(frame) if whole_history else None)
    risk = RiskEngine(limits, FEES.taker)
    broker = SimBroker(FEES, SLIPPAGE, BTC, FixedQuote(100.0), CASH, risk)
    result = run_one(runner, broker, frame, batch=whole_history)
    report = runner.report(float(frame["close"].iloc[-1]))
    return Run(result, risk, {k: None if math.isnan(v) else v for k, v in report.items()})


def rows(fills: list[Fill]) -> list[tuple[object, ...]]:
    return [(f.bar, f.side, f.price, f.amount, f.fee, f.tag, f.maker) for f in fills]


def assert_same_runs(backtest: ReplayResult, replay: ReplayResult) -> None:
    assert rows(replay.fills) == rows(backtest.fills)
    assert [(s.bar, s.side, s.reason, s.tag) for s in replay.skipped] == [
        (s.bar, s.side, s.reason, s.tag) for s in backtest.skipped
    ]
    np.testing.assert_array_equal(replay.equity, backtest.equity)


@pytest.mark.parametrize("risk_name", RISKS)
@pytest.mark.parametrize("data_name", DATA)
@pytest.mark.parametrize("name", STRATEGIES)
def test_replay_equals_backtest(name: str, data_name: str, risk_name: str) -> None:
    make, frame, limits = STRATEGIES[name], DATA[data_name], RISKS[risk_name]
    backtest = run(make, frame, limits, whole_history=True)
    replay = run(make, frame, limits, whole_history=False)
    assert_same_runs(backtest.result, replay.result)
    assert replay.risk.fired == backtest.risk.fired
    assert replay.report == backtest.report
    assert len(backtest.result.fills) >= 10  # the comparison is about something
    assert len(backtest.result.equity) == len(frame)
    if limits is NO_RISK:
        assert not backtest.risk.fired


@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "sma_stops"])
def test_default_risk_changes_something(name: str) -> None:
    """The default limits bind on this data, so the runs above test risk-driven fills too."""
    default = run(STRATEGIES[name], CLEAN, DEFAULT_RISK, whole_history=True)
    free = run(STRATEGIES[name], CLEAN, NO_RISK, whole_history=True)
    assert default.risk.fired
    assert rows(default.result.fills) != rows(free.result.fills)


def test_the_data_and_the_exits_cover_what_the_parity_is_about() -> None:
    assert len(GAPPED) == BARS - 40
    hours = np.diff(pd.DatetimeIndex(GAPPED.index).asi8) // 3_600_000_000_000
    assert sorted(hours[hours > 1].tolist()) == [8, 34]  # two outages: 7 and 33 bars
    stops = {f.tag for f in run(STRATEGIES["sma_stops"], CLEAN, NO_RISK, True).result.fills}
    assert {"exit", "exit:stop_loss", "exit:take_profit", "exit:trailing"} <= stops
    wide = {
        f.tag for f in run(STRATEGIES["sma_wide_stops"], CLEAN, DEFAULT_RISK, True).result.fills
    }
    assert "risk:max_loss" in wide


@pytest.mark.parametrize("risk_name", RISKS)
@pytest.mark.parametrize("name", ["grid_recenter", "grid_recenter_often"])
def test_the_recentring_grids_are_laid_again_on_this_data(name: str, risk_name: str) -> None:
    """So that the parity above covers grids laid again (above the range, or after a sale
    by the risk engine), not only grids laid once."""
    report = run(STRATEGIES[name], CLEAN, RISKS[risk_name], whole_history=True).report
    assert report["grid_recenters"] >= 1
