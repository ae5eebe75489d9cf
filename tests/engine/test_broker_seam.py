"""The seam holds: a broker written apart from the simulated one, in plain Python, that
calls only the shared preparation and risk functions (tests/fakes/python_broker.py), gives
the compiled broker's orders, fills, refusals and equity on the same candles, for every
strategy, with the default risk limits and with none, with fees on top and fees out of what
is received. Paper and live brokers plug into the
same seam, so they inherit the same rules, not copies of them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.backtest.test_strategy_parity import (
    BTC,
    CASH,
    DATA,
    FEES,
    RISKS,
    SLIPPAGE,
    STRATEGIES,
)
from tests.engine.lanes import run_one
from tests.fakes.python_broker import PythonAccount, PythonBroker
from thunes.data.candles import as_columns
from thunes.engine.sim_broker import SimBroker
from thunes.execution.broker import Broker
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.strategy.signal_runner import as_event_strategy


@pytest.mark.parametrize("from_received", [False, True], ids=["fee_on_top", "fee_from_received"])
@pytest.mark.parametrize("risk_name", sorted(RISKS))
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_python_broker_on_the_seam_gives_the_compiled_fills(
    name: str, risk_name: str, from_received: bool
) -> None:
    frame = DATA["gapped"]
    fees = replace(FEES, from_received=from_received)
    runs = []
    for python in (False, True):
        risk = RiskEngine(RISKS[risk_name], fees.taker)
        args = (fees, SLIPPAGE, BTC, FixedQuote(100.0))
        broker: Broker = (
            PythonBroker(*args, PythonAccount(CASH), risk)
            if python
            else SimBroker(*args, CASH, risk)
        )
        strategy = as_event_strategy(STRATEGIES[name](), None if python else as_columns(frame))
        runs.append((run_one(strategy, broker, frame, batch=not python), risk))
    (compiled, compiled_risk), (seam, seam_risk) = runs
    assert compiled.fills, "a case that trades"
    assert seam.fills == compiled.fills
    assert [f.tradable for f in seam.fills] == [f.tradable for f in compiled.fills]
    assert [(s.bar, s.side, s.reason, s.tag) for s in seam.skipped] == [
        (s.bar, s.side, s.reason, s.tag) for s in compiled.skipped
    ]
    np.testing.assert_array_equal(seam.equity, compiled.equity)
    assert seam_risk.fired == compiled_risk.fired
