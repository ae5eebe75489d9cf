"""The vectorbt backtest equals an independent plain-loop reference, to 1e-9 relative."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.backtest.candles import wavy_candles, with_gap
from tests.backtest.reference import reference_backtest
from thunes.backtest.engine import VectorbtBacktester
from thunes.data.candles import apply_gap_policy, as_columns
from thunes.domain.market import Fees, MarketFilters
from thunes.errors import DataError
from thunes.portfolio.sizing import AllIn, EquityFraction, FixedQuote, Sizer
from thunes.reporting.tables import summary_stats, trades_table
from thunes.strategy.sma_cross import SmaCross

FILTERS = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=5.0)
NO_FILTERS = MarketFilters(tick_size=0.0, step_size=0.0, min_qty=0.0, min_notional=0.0)
SIZERS: dict[str, tuple[Sizer, float]] = {
    "fixed_quote": (FixedQuote(250.0), 250.0),
    "all_in": (AllIn(), 0.0),
    "equity_fraction": (EquityFraction(0.3), 0.3),
}


def compare(
    frame: pd.DataFrame,
    sizing: str,
    filters: MarketFilters,
    fee: float = 0.001,
    slippage: float = 0.0005,
    cash: float = 1000.0,
) -> pd.DataFrame:
    sizer, amount = SIZERS[sizing]
    strategy = SmaCross(4, 12, "sma", None, None, None)
    result = VectorbtBacktester(
        Fees(fee, fee, from_received=False), slippage, filters, sizer, cash
    ).run(frame, "1h", strategy.signals(as_columns(frame)))
    trades = trades_table(result)
    expected, equity, skipped = reference_backtest(
        frame["open"].tolist(),
        frame["close"].tolist(),
        4,
        12,
        fee=fee,
        slippage=slippage,
        tick=filters.tick_size,
        step=filters.step_size,
        min_notional=filters.min_notional,
        sizing=sizing,
        amount=amount,
        cash=cash,
    )
    assert len(trades) == len(expected) > 3
    assert list(trades["entry_time"]) == [frame.index[t.entry_bar] for t in expected]
    assert list(trades["exit_time"]) == [frame.index[t.exit_bar] for t in expected]
    assert list(trades["exit_reason"]) == [t.exit_reason for t in expected]
    for column in ("entry_price", "exit_price", "size", "fees", "pnl"):
        assert trades[column].tolist() == pytest.approx(
            [getattr(t, column) for t in expected], rel=1e-9
        ), column
    stats = summary_stats(result)
    assert stats["end_value"] == pytest.approx(equity, rel=1e-9)
    assert stats["skipped_entries"] == skipped
    return trades


@pytest.mark.parametrize("sizing", sorted(SIZERS))
@pytest.mark.parametrize("filters", [FILTERS, NO_FILTERS], ids=["filters", "no-filters"])
def test_backtest_matches_reference(sizing: str, filters: MarketFilters) -> None:
    compare(wavy_candles(), sizing, filters)


def test_textbook_settings_match_reference() -> None:
    compare(wavy_candles(seed=11), "all_in", NO_FILTERS, fee=0.002, slippage=0.0, cash=10_000)


def test_fills_happen_at_the_next_open_never_the_deciding_bar() -> None:
    frame = wavy_candles()
    trades = compare(frame, "fixed_quote", NO_FILTERS, slippage=0.0)
    signals = SmaCross(4, 12, "sma", None, None, None).signals(as_columns(frame))
    decided = frame.index[signals.entries]
    for entry_time, price in zip(trades["entry_time"], trades["entry_price"], strict=True):
        position = frame.index.get_loc(entry_time)
        assert frame.index[position - 1] in decided
        assert price == pytest.approx(frame["open"].iloc[position], rel=1e-12)


def test_orders_below_min_notional_are_skipped_and_counted() -> None:
    frame = wavy_candles()
    tiny = MarketFilters(tick_size=0.01, step_size=0.001, min_qty=0.001, min_notional=300.0)
    result = VectorbtBacktester(
        Fees(0.001, 0.001, from_received=False), 0.0, tiny, FixedQuote(250.0), 1000.0
    ).run(frame, "1h", SmaCross(4, 12, "sma", None, None, None).signals(as_columns(frame)))
    stats = summary_stats(result)
    assert stats["trades"] == 0
    decided = SmaCross(4, 12, "sma", None, None, None).signals(as_columns(frame)).entries[:-1]
    assert stats["skipped_entries"] == int(decided.sum())


@pytest.mark.parametrize("policy", ["keep", "ffill"])
def test_gap_policies_match_reference(policy: str) -> None:
    gapped = with_gap(wavy_candles(), first=100, length=7)
    frame, report = apply_gap_policy(gapped, "1h", policy)  # type: ignore[arg-type]
    assert (report.count, report.missing_bars, report.longest_bars) == (1, 7, 7)
    assert len(frame) == len(gapped) + (7 if policy == "ffill" else 0)
    compare(frame, "fixed_quote", FILTERS)


def test_gap_policy_fail_stops_with_the_report() -> None:
    gapped = with_gap(wavy_candles(), first=100, length=7)
    with pytest.raises(DataError, match="7"):
        apply_gap_policy(gapped, "1h", "fail")
