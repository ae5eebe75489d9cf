"""A sweep scores the equity the backtest reports, read without building the report."""

from __future__ import annotations

import numpy as np
import pytest

from tests.config.compose import composed
from thunes.backtest.choice import backtest
from thunes.components import Components, build
from thunes.data.sources import CandleSet
from thunes.reporting.tables import single_column
from thunes.sweep.scoring import equity_and_fills

SHORT = ["data=sim", "data.since=2024-06-01", "data.until=2024-09-01"]


def built(overrides: list[str]) -> tuple[Components, list[CandleSet]]:
    """Fresh components: a stateful strategy must not carry one run's state into the next."""
    with composed(*overrides) as cfg:
        parts = build(cfg)
    return parts, [parts.data.load(parts.exchange, m) for m in parts.markets]


@pytest.mark.parametrize(
    "overrides",
    [
        SHORT,  # SMA with the default risk limits: the event engine
        [*SHORT, "risk=none"],  # nothing stateful: the vectorbt path
        [*SHORT, "strategy=dca"],
        [*SHORT, "strategy=grid", "strategy.stop_below=0.02"],
        [*SHORT, "symbols=[btcusdt,ethusdt,solusdt]"],
        ["strategy=scalper", "data=sim_ticks", "data.ticks=5000"],
    ],
    ids=["sma", "sma-no-risk", "dca", "grid", "three-symbols", "scalper"],
)
def test_equity_and_fills_are_the_backtests(overrides: list[str]) -> None:
    equity, fills = equity_and_fills(*built(overrides))
    result = backtest(*built(overrides))
    np.testing.assert_allclose(equity, single_column(result.portfolio.value()), rtol=1e-12)
    assert fills == len(result.fills) and fills > 0
