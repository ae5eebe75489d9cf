"""The stats and trades tables a user reads, computed from a backtest result."""

from __future__ import annotations

import numpy as np
import pandas as pd

from thunes.backtest.result import BacktestResult
from thunes.domain.orders import Side
from thunes.reporting.metrics import RATIOS, ratios

RISK_RULES = (
    "max_loss_per_trade",
    "kill_switch_trips",
    "kill_switch",
    "cooldown",
    "max_open_positions",
)
"""How often each risk rule fired: stops taken, trips, and buys refused by each rule."""

TRADE_COLUMNS = (
    "symbol",
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


def single_column(values: pd.Series | pd.DataFrame) -> pd.Series:
    """A grouped (several-symbol) portfolio's one group column, as a Series."""
    return values.iloc[:, 0] if isinstance(values, pd.DataFrame) else values


def _one(value: object) -> float:
    return float(np.asarray(value, dtype="float64").reshape(-1)[0])


def _buy_and_hold(close: pd.Series | pd.DataFrame) -> float:
    """Holding each symbol from the first bar to the last, equally weighted."""
    prices = close.to_numpy().reshape(len(close), -1)
    return float(np.mean(prices[-1] / prices[0] - 1))


def summary_stats(result: BacktestResult) -> pd.Series:
    """Headline metrics, ratios as fractions (0.12 is 12%), annualised over 365 days."""
    pf = result.portfolio
    # Trade counts from the records with numpy: vectorbt's mapped-array reductions take a
    # function argument, so numba recompiles them in every process (0.6 s measured).
    trades = pf.trades.values
    closed_pnl = trades["pnl"][trades["status"] == 1]
    figures = ratios(pf.value().to_numpy(), _one(pf.init_cash), pf.wrapper.freq)
    stats = {
        "start": pf.wrapper.index[0],
        "end": pf.wrapper.index[-1],
        "bars": len(pf.wrapper.index),
        "start_value": _one(pf.init_cash),
        "end_value": _one(pf.final_value()),
        **{name: _one(figures[name]) for name in RATIOS},
        "trades": len(trades),
        "closed_trades": len(closed_pnl),
        "win_rate": float((closed_pnl > 0).mean()) if len(closed_pnl) else float("nan"),
        "exposure": float(
            (pf.assets().to_numpy().reshape(len(pf.wrapper.index), -1) > 0).any(axis=1).mean()
        ),
        "fees_paid": float(pf.orders.values["fees"].sum()),
        "buy_and_hold_return": _buy_and_hold(pf.close),
        "skipped_entries": result.skipped_entries,
        "skipped_exits": result.skipped_exits,
        **{f"risk_{rule}": result.risk_fired.get(rule, 0) for rule in RISK_RULES},
        **result.strategy_report,
    }
    return pd.Series(stats, dtype=object, name="value")


def stats_table(portfolio_stats: pd.Series, result: BacktestResult) -> pd.DataFrame:
    """The portfolio's stats in `value`; with several symbols, one more column per symbol."""
    table = portfolio_stats.to_frame()
    columns = list(result.portfolio.wrapper.columns)
    if len(columns) < 2:
        return table
    trades, orders = result.portfolio.trades.values, result.portfolio.orders.values
    close = result.portfolio.close
    for col, symbol in enumerate(columns):
        mine = trades[trades["col"] == col]
        closed = mine["pnl"][mine["status"] == 1]
        table[symbol] = pd.Series(
            {
                "trades": len(mine),
                "closed_trades": len(closed),
                "win_rate": float((closed > 0).mean()) if len(closed) else float("nan"),
                "pnl": float(mine["pnl"].sum()),
                "fees_paid": float(orders["fees"][orders["col"] == col].sum()),
                "buy_and_hold_return": _buy_and_hold(close[symbol]),
                "skipped_entries": sum(
                    o.symbol == symbol and o.side is Side.BUY for o in result.skipped
                ),
            }
        )
    return table


def _exit_tags(result: BacktestResult, cols: np.ndarray, exit_bars: np.ndarray) -> list[str]:
    """Why each trade closed: the tag of the sell that closed it (exit, exit:stop_loss...)."""
    column = {name: i for i, name in enumerate(result.portfolio.wrapper.columns)}
    closing = {(column.get(f.symbol, 0), f.bar): f.tag for f in result.fills if f.side is Side.SELL}
    return [
        closing.get((int(col), int(bar)), "exit") or "exit"
        for col, bar in zip(cols, exit_bars, strict=True)
    ]


def trades_table(result: BacktestResult) -> pd.DataFrame:
    """One row per trade; an open trade is marked to the last close with exit_reason 'open'."""
    records = result.portfolio.trades.values
    index = pd.DatetimeIndex(result.portfolio.wrapper.index).tz_localize("UTC")
    is_open = records["status"] == 0
    table = pd.DataFrame(
        {
            "symbol": np.asarray(result.portfolio.wrapper.columns)[records["col"]],
            "entry_time": index[records["entry_idx"]],
            "entry_price": records["entry_price"],
            "exit_time": index[records["exit_idx"]],
            "exit_price": records["exit_price"],
            "size": np.round(records["size"], 12),  # drop binary noise: 0.01244, not ...01
            "fees": records["entry_fees"] + records["exit_fees"],
            "pnl": records["pnl"],
            "return": records["return"],
            "bars_held": records["exit_idx"] - records["entry_idx"],
            "exit_reason": np.where(
                is_open, "open", _exit_tags(result, records["col"], records["exit_idx"])
            ),
        },
        columns=list(TRADE_COLUMNS),
    )
    return table


ORDER_COLUMNS = ("time", "symbol", "side", "price", "amount", "fee", "status", "tag", "reason")


def orders_table(result: BacktestResult) -> pd.DataFrame:
    """Every order: the filled ones, and the skipped ones with why they never left."""
    index = pd.DatetimeIndex(result.portfolio.wrapper.index).tz_localize("UTC")
    rows = [
        (f.bar, f.symbol, f.side.value, f.price, round(f.amount, 12), f.fee, "filled", f.tag, "")
        for f in result.fills
    ] + [
        (o.bar, o.symbol, o.side.value, o.price, o.amount, 0.0, "skipped", o.tag, o.reason)
        for o in result.skipped
    ]
    table = pd.DataFrame(rows, columns=["bar", *ORDER_COLUMNS[1:]])
    table = table.sort_values("bar", kind="stable", ignore_index=True)
    table.insert(0, "time", index[table.pop("bar").to_numpy(dtype="int64")])
    return table
