"""Each shipped detector, with its calibrated values from conf/drift/: a market that switches
regime at a known point is caught within a bounded delay, and a stationary one seldom
raises an alarm. Seeds differ from the calibration's, so the rates are measured afresh
(`pytest -s` prints them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from tests.config.compose import composed
from thunes.drift.backtest import scan
from thunes.drift.calibrate import rates
from thunes.drift.detectors import Detector
from thunes.drift.monitor import DriftMonitor
from thunes.reporting.tables import TRADE_COLUMNS

DETECTORS = ("adwin", "page_hinkley", "kswin", "ddm")


def shipped(option: str, *overrides: str) -> Detector:
    with composed(f"drift={option}", *overrides) as cfg:
        detector = instantiate(cfg.drift, _convert_="all")
    assert isinstance(detector, Detector)
    return detector


# (fewest switches caught, longest delay allowed) on a 1-sigma mean shift, 500 values after it
BOUNDS = {"adwin": (0.9, 150), "page_hinkley": (0.9, 150), "kswin": (0.8, 300), "ddm": (0.5, 500)}
SEEDS = {"adwin": 60, "page_hinkley": 60, "kswin": 12, "ddm": 60}  # KSWIN: 1.7 ms a value


@pytest.mark.parametrize("option", DETECTORS)
def test_a_mean_shift_is_caught_in_bounded_time_and_stationary_streams_rarely_alarm(
    option: str,
) -> None:
    detector = shipped(
        option, "+drift.reference.trade_return=[0.0,1.0]", "drift.streams=[trade_return]"
    )
    measured = rates(detector, SEEDS[option], seed_base=50_000)
    print(f"\n{option}: {measured}")
    least, longest = BOUNDS[option]
    assert measured.false_alarm <= 0.1
    assert measured.detected >= least
    assert measured.max_delay <= longest


def market(seed: int, bars: int, switch: int | None, factor: float = 2.0) -> pd.Series:
    """Hourly closes of a random walk whose volatility is multiplied by `factor` from bar
    `switch` on (None: never)."""
    rng = np.random.default_rng(seed)
    sigma = np.full(bars, 0.01)
    if switch is not None:
        sigma[switch:] *= factor
    index = pd.date_range("2024-01-01", periods=bars, freq="h")
    return pd.Series(100 * np.exp(np.cumsum(rng.standard_normal(bars) * sigma)), index=index)


NO_TRADES = pd.DataFrame(columns=list(TRADE_COLUMNS))


# Bars after the switch: 10 windows; KSWIN tests its last 30 values, so it needs about half
# of them new (20 windows); DDM compares the rate since its start with its lowest, so after
# 125 calm windows it needs about 40 flagged ones.
LATEST = {"adwin": 240, "page_hinkley": 240, "kswin": 480, "ddm": 1200}


@pytest.mark.parametrize("option", DETECTORS)
def test_a_market_whose_volatility_doubles_is_flagged_soon_after_that_bar(option: str) -> None:
    """Realised volatility over 24-bar windows: the switch at bar 3,000 is flagged within
    LATEST bars; the same market without a switch raises (almost) nothing."""
    detector = shipped(option, "drift.streams=[volatility]")
    switch, caught, false = 3000, [], 0
    for seed in range(8):
        before = scan(detector, NO_TRADES, market(seed, 6000, None).to_frame("X"))
        false += len(before)
        found = scan(detector, NO_TRADES, market(seed, 6000, switch).to_frame("X"))
        bars = (found["time"] - pd.Timestamp("2024-01-01", tz="UTC")) // pd.Timedelta("1h")
        after = bars[bars >= switch]
        caught.append(int(after.iloc[0]) - switch if len(after) else None)
    print(f"\n{option}: delays in bars {caught}; stationary alarms {false} in 8 x 250 windows")
    assert all(delay is not None and delay <= LATEST[option] for delay in caught)
    assert false <= 1


def test_the_loss_flag_is_watched_against_its_reference_rate() -> None:
    """A strategy that won 60% of its trades and now loses them all: the loss stream alarms
    within a few trades, and a trade return learnt from the first trades is its reference."""
    detector = shipped("adwin", "drift.streams=[loss]", "+drift.reference.loss=[0.4,0.49]")
    monitor = DriftMonitor(detector)
    rng = np.random.default_rng(3)
    for k in range(200):
        monitor.trade_closed("X", 0.01 if rng.random() < 0.6 else -0.01, k)
    assert not monitor.alarms
    for k in range(200, 260):
        monitor.trade_closed("X", -0.01, k)
    assert monitor.alarms and monitor.alarms[0].stream == "loss"
    assert monitor.alarms[0].time_ms - 200 <= 30


def test_drift_none_watches_nothing() -> None:
    detector = shipped("none")
    assert detector.streams == ()
    assert scan(detector, NO_TRADES, market(0, 3000, 1000, 4.0).to_frame("X")).empty


def test_a_reference_backtests_trades_set_what_returns_and_losses_are_judged_against(
    tmp_path: Path,
) -> None:
    trades = NO_TRADES.reindex(range(4)).assign(
        **{"return": [0.02, -0.01, 0.03, 0.0], "exit_reason": ["exit", "exit", "exit", "open"]}
    )
    path = tmp_path / "trades.csv"
    trades.to_csv(path, index=False)
    detector = shipped("adwin", f"drift.reference_trades={path}")
    mean, std = detector.reference["trade_return"]
    assert mean == pytest.approx(0.04 / 3) and std == pytest.approx(
        np.std([0.02, -0.01, 0.03], ddof=1)
    )
    assert detector.reference["loss"] == pytest.approx((1 / 3, np.sqrt(2 / 9)))
    monitor = DriftMonitor(detector)
    monitor.trade_closed("X", 0.0, 0)  # judged at once: nothing to learn first
    assert monitor.channels[("trade_return", "X")].seen == 1
