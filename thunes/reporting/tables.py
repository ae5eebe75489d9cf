"""The stats and trades tables a user reads, computed from a backtest result."""

from __future__ import annotations

import numpy as np
import pandas as pd

from thunes.backtest.engine import BacktestResult
from thunes.domain.orders import Side

RISK_RULES = (
    "max_loss_per_trade",
    "kill_switch_trips",
    "kill_switch",
    "cooldown",
    "max_open_positions",
)
"""How often each risk rule fired: stops taken, trips, and buys refused by each rule."""

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
        **{f"risk_{rule}": result.risk_fired.get(rule, 0) for rule in RISK_RULES},
        **result.strategy_report,
    }
    return pd.Series(stats, dtype=object, name="value")


def _exit_tags(result: BacktestResult, exit_bars: np.ndarray) -> list[str]:
    """Why each trade closed: the tag of the sell that closed it (exit, exit:stop_loss...)."""
    closing = {f.bar: f.tag for f in result.fills if f.side is Side.SELL}
    return [closing.get(int(bar), "exit") or "exit" for bar in exit_bars]


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
            "exit_reason": np.where(is_open, "open", _exit_tags(result, records["exit_idx"])),
        },
        columns=list(TRADE_COLUMNS),
    )
    return table


ORDER_COLUMNS = ("time", "side", "price", "amount", "fee", "status", "tag", "reason")


def orders_table(result: BacktestResult) -> pd.DataFrame:
    """Every order: the filled ones, and the skipped ones with why they never left."""
    index = pd.DatetimeIndex(result.portfolio.wrapper.index).tz_localize("UTC")
    rows = [
        (f.bar, f.side.value, f.price, round(f.amount, 12), f.fee, "filled", f.tag, "")
        for f in result.fills
    ] + [
        (o.bar, o.side.value, o.price, o.amount, 0.0, "skipped", o.tag, o.reason)
        for o in result.skipped
    ]
    table = pd.DataFrame(rows, columns=["bar", *ORDER_COLUMNS[1:]])
    table = table.sort_values("bar", kind="stable", ignore_index=True)
    table.insert(0, "time", index[table.pop("bar").to_numpy(dtype="int64")])
    return table
