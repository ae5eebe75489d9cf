"""Several symbols, one wallet: shared cash and the max-open-positions limit hold."""

from __future__ import annotations

import numpy as np

from tests.backtest.candles import wavy_candles, with_gap
from thunes.domain.market import Fees, MarketFilters
from thunes.domain.orders import Side
from thunes.engine.lane import Lane
from thunes.engine.replay import PortfolioEngine, PortfolioRun
from thunes.engine.sim_broker import SimBroker, Wallet
from thunes.portfolio.sizing import FixedQuote
from thunes.risk.engine import RiskEngine
from thunes.risk.limits import RiskLimits
from thunes.strategy.signal_runner import SignalRunner
from thunes.strategy.sma_cross import SmaCross

FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)


def run(max_positions: int, cash: float) -> tuple[PortfolioRun, list[Lane], RiskEngine]:
    limits = RiskLimits(float("inf"), float("inf"), max_positions, 0.0, False)
    risk, wallet = RiskEngine(limits, 0.001), Wallet(cash)
    frames = [wavy_candles(seed=s, bars=500) for s in (1, 2, 3)]
    frames[2] = with_gap(frames[2], 100, 12)  # a symbol with an outage
    lanes = [
        Lane(
            SignalRunner(SmaCross(3, 9, "sma", None, None, None)),
            SimBroker(
                Fees(0.001, 0.001, from_received=False),
                0.0,
                FILTERS,
                FixedQuote(300.0),
                wallet,
                risk,
            ),
            frame,
        )
        for frame in frames
    ]
    return PortfolioEngine(lanes).run(), lanes, risk


def positions_over_time(lanes: list[Lane], timeline: np.ndarray) -> np.ndarray:
    """Each symbol's position at every timeline step, rebuilt from its fills."""
    held = np.zeros((len(lanes), len(timeline)))
    for j, lane in enumerate(lanes):
        times = lane.candles.index.as_unit("ms").asi8
        position = 0.0
        for fill in lane.broker.fills:
            position += fill.amount if fill.side is Side.BUY else -fill.amount
            held[j, np.searchsorted(timeline, times[fill.bar]) :] = round(position, 9)
    return held


def test_max_open_positions_is_never_exceeded_and_refusals_are_counted() -> None:
    result, lanes, risk = run(max_positions=2, cash=10_000.0)
    open_counts = (positions_over_time(lanes, result.timeline) > 0).sum(axis=0)
    assert open_counts.max() == 2
    assert risk.fired["max_open_positions"] > 0
    assert "max_open_positions" in {o.reason for r in result.lanes for o in r.skipped}


def test_shared_cash_is_never_overdrawn_and_equity_adds_up() -> None:
    # room for two 300 entries, not three: the third buys what cash is left (as vectorbt
    # sizes a fixed quote it cannot afford in full)
    result, lanes, _ = run(max_positions=3, cash=700.0)
    events = sorted(
        (
            (lane.candles.index[f.bar], j, f)
            for j, lane in enumerate(lanes)
            for f in lane.broker.fills
        ),
        key=lambda item: (item[0], item[1]),
    )
    cash = 700.0
    for _, _, fill in events:
        cost = fill.amount * fill.price
        cash += -(cost + fill.fee) if fill.side is Side.BUY else cost - fill.fee
        assert cash >= -1e-9
    assert abs(cash - lanes[0].broker.wallet.cash) < 1e-6
    marked = sum(lane.broker.position * lane.candles["close"].iloc[-1] for lane in lanes)
    assert abs(result.equity[-1] - (cash + marked)) < 1e-6
    first_buys = [lane.broker.fills[0] for lane in lanes[:2]]
    third = next(f for f in lanes[2].broker.fills if f.bar == first_buys[0].bar)
    assert [round(f.amount * f.price) for f in first_buys] == [300, 300]
    assert (
        third.amount * third.price + third.fee
        <= 700.0 - sum(f.amount * f.price + f.fee for f in first_buys) + 1e-9
    )
