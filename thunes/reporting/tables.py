"""The stats and trades tables a user reads, computed from a backtest result."""

from __future__ import annotations

import numpy as np
import pandas as pd

from thunes.backtest.engine import BacktestResult

TRADE_COLUMNS = (
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "size",
    "fees",
    "pnl",
    "return",
    "bars_held",
    "exit_reason",
)


def summary_stats(result: BacktestResult) -> pd.Series:
    """Headline metrics, ratios as fractions (0.12 is 12%), annualised over 365 days."""
    pf = result.portfolio
    close = pf.close.to_numpy()
    # Trade counts from the records with numpy: vectorbt's mapped-array reductions take a
    # function argument, so numba recompiles them in every process (0.6 s measured).
    trades = pf.trades.values
    closed_pnl = trades["pnl"][trades["status"] == 1]
    stats = {
        "start": pf.wrapper.index[0],
        "end": pf.wrapper.index[-1],
        "bars": len(close),
        "start_value": float(pf.init_cash),
        "end_value": float(pf.final_value()),
        "total_return": float(pf.total_return()),
        "cagr": float(pf.annualized_return()),
        "sharpe": float(pf.sharpe_ratio()),
        "sortino": float(pf.sortino_ratio()),
        "calmar": float(pf.calmar_ratio()),
        "max_drawdown": float(pf.max_drawdown()),
        "trades": len(trades),
        "closed_trades": len(closed_pnl),
        "win_rate": float((closed_pnl > 0).mean()) if len(closed_pnl) else float("nan"),
        "exposure": float((pf.assets().to_numpy() > 0).mean()),
        "fees_paid": float(pf.orders.values["fees"].sum()),
        "buy_and_hold_return": float(close[-1] / close[0] - 1),
        "skipped_entries": result.skipped_entries,
        "skipped_exits": result.skipped_exits,
    }
    return pd.Series(stats, dtype=object, name="value")


def trades_table(result: BacktestResult) -> pd.DataFrame:
    """One row per trade; an open trade is marked to the last close with exit_reason 'open'."""
    records = result.portfolio.trades.values
    index = pd.DatetimeIndex(result.portfolio.wrapper.index).tz_localize("UTC")
    is_open = records["status"] == 0
    table = pd.DataFrame(
        {
            "entry_time": index[records["entry_idx"]],
            "entry_price": records["entry_price"],
            "exit_time": index[records["exit_idx"]],
            "exit_price": records["exit_price"],
            "size": np.round(records["size"], 12),  # drop binary noise: 0.01244, not ...01
            "fees": records["entry_fees"] + records["exit_fees"],
            "pnl": records["pnl"],
            "return": records["return"],
            "bars_held": records["exit_idx"] - records["entry_idx"],
            "exit_reason": np.where(is_open, "open", "signal"),
        },
        columns=list(TRADE_COLUMNS),
    )
    return table


ORDER_COLUMNS = ("time", "side", "price", "amount", "fee", "status", "reason")


def orders_table(result: BacktestResult) -> pd.DataFrame:
    """Every order: the filled ones, and the skipped ones with why they never left."""
    index = pd.DatetimeIndex(result.portfolio.wrapper.index).tz_localize("UTC")
    records = result.portfolio.orders.values
    filled = pd.DataFrame(
        {
            "time": index[records["idx"]],
            "side": np.where(records["side"] == 0, "buy", "sell"),
            "price": records["price"],
            "amount": np.round(records["size"], 12),
            "fee": records["fees"],
            "status": "filled",
            "reason": "",
        }
    )
    skipped = pd.DataFrame(
        {
            "time": index[[order.bar for order in result.skipped]],
            "side": [order.side.value for order in result.skipped],
            "price": [order.price for order in result.skipped],
            "amount": [order.amount for order in result.skipped],
            "fee": 0.0,
            "status": "skipped",
            "reason": [order.reason for order in result.skipped],
        }
    )
    table = pd.concat([filled, skipped], ignore_index=True) if len(skipped) else filled
    return table.sort_values("time", kind="stable", ignore_index=True)[list(ORDER_COLUMNS)]
