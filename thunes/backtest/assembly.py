"""An engine's run as a `BacktestResult`: its fills placed on a vectorbt portfolio (for the
same stats, trades and plots as the vectorbt path), its skipped orders, risk counts and the
strategies' own figures."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import vectorbt as vbt
from vectorbt.base.array_wrapper import ArrayWrapper
from vectorbt.portfolio.enums import log_dt, order_dt

from thunes.backtest.result import BacktestResult
from thunes.domain.orders import Fill, Side
from thunes.engine.results import PortfolioRun
from thunes.engine.tick_engine import TickResult
from thunes.risk.engine import RiskEngine
from thunes.strategy.events import EventStrategy
from thunes.strategy.scalper import Scalper, cost_breakdown


def portfolio_from_fills(
    closes: dict[str, pd.Series],
    timeline: pd.DatetimeIndex,
    fills: dict[str, list[Fill]],
    positions: dict[str, npt.NDArray[np.int64]],
    timeframe: str,
    cash: float,
) -> vbt.Portfolio:
    """The event engine's fills as a vectorbt portfolio, for the same stats, trades and plots.

    Built from order records, so several fills in one bar (a grid crossing two levels) and
    each fill's own fee (maker or taker) are kept as they happened. Several symbols share
    one cash balance; `positions[symbol][bar]` places a symbol's bar on the common timeline.
    """
    index = pd.DatetimeIndex(timeline).tz_localize(None)
    close = pd.DataFrame(
        {
            symbol: pd.Series(series.to_numpy(dtype="float64"), index=index[positions[symbol]])
            for symbol, series in closes.items()
        },
        index=index,
    )
    close = close.ffill().bfill()  # a symbol's missing bar is valued at its last close
    rows = [
        (
            col,
            positions[symbol][fill.bar],
            fill.amount - fill.fee_base,  # what the account got: a fee kept in base is
            fill.price,  # worth the same in quote as one paid on top
            fill.fee,
            0 if fill.side is Side.BUY else 1,
        )
        for col, symbol in enumerate(closes)
        for fill in fills[symbol]
    ]
    rows.sort(key=lambda row: (row[1], row[0]))
    records = np.array([(i, *row) for i, row in enumerate(rows)], dtype=order_dt)
    grouped = len(closes) > 1
    wrapper = ArrayWrapper(
        index,
        close.columns,
        ndim=2 if grouped else 1,
        freq=pd.Timedelta(timeframe),
        group_by=True if grouped else None,
    )
    return vbt.Portfolio(
        wrapper,
        close if grouped else close.iloc[:, 0],
        records,
        np.array([], dtype=log_dt),
        init_cash=cash,
        cash_sharing=grouped,
    )


def assemble(
    run: PortfolioRun,
    frames: dict[str, pd.DataFrame],
    runners: list[EventStrategy],
    risk: RiskEngine,
    timeframe: str,
    cash: float,
) -> BacktestResult:
    """The event engine's run as a result for the reports: a vectorbt portfolio on the common
    timeline, fills and skipped orders placed on it, risk counts, the strategies' figures."""
    timeline = pd.DatetimeIndex(pd.to_datetime(run.timeline, unit="ms", utc=True))
    symbols = list(frames)
    steps = {  # each symbol's bars on the common timeline
        s: np.searchsorted(run.timeline, pd.DatetimeIndex(f.index).as_unit("ms").asi8)
        for s, f in frames.items()
    }
    portfolio = portfolio_from_fills(
        {s: f["close"] for s, f in frames.items()},
        timeline,
        {s: r.fills for s, r in zip(symbols, run.lanes, strict=True)},
        steps,
        timeframe,
        cash,
    )
    report: dict[str, float] = {}
    levels: list[float] = []
    dust = 0.0  # base a fee kept in base left under one step: held, never sold
    for runner, frame, lane in zip(runners, frames.values(), run.lanes, strict=True):
        last = float(frame["close"].iloc[-1])
        report.update(runner.report(last))
        levels += runner.plot_levels()
        dust += last * sum(f.amount - f.fee_base - f.tradable for f in lane.fills if f.fee_base)
    if dust:
        report["dust_value"] = dust
    fills = [
        f.placed(int(steps[s][f.bar]), s)
        for s, r in zip(symbols, run.lanes, strict=True)
        for f in r.fills
    ]
    skipped = [
        o.placed(int(steps[s][o.bar]), s)
        for s, r in zip(symbols, run.lanes, strict=True)
        for o in r.skipped
    ]
    return BacktestResult(portfolio, fills, skipped, dict(risk.fired), report, levels)


def assemble_ticks(
    run: TickResult,
    frame: pd.DataFrame,
    symbol: str,
    strategy: Scalper,
    risk: RiskEngine,
    timeframe: str,
    cash: float,
) -> BacktestResult:
    """The tick engine's run as a result for the reports, marked at the bid."""
    portfolio = portfolio_from_fills(
        {symbol: frame["bid"]},
        pd.DatetimeIndex(frame.index),
        {symbol: run.fills},
        {symbol: np.arange(len(frame), dtype=np.int64)},
        timeframe,
        cash,
    )
    bids, asks = frame["bid"].to_numpy(), frame["ask"].to_numpy()
    report = {**strategy.report(float(bids[-1])), **cost_breakdown(run.fills, bids, asks)}
    fills = [f.placed(f.bar, symbol) for f in run.fills]
    skipped = [o.placed(o.bar, symbol) for o in run.skipped]
    return BacktestResult(portfolio, fills, skipped, dict(risk.fired), report, [])
