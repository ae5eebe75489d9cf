"""What the terminal shows after a run: the stats table and where every output is."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

_PERCENT = {"total_return", "cagr", "max_drawdown", "win_rate", "exposure", "buy_and_hold_return"}
_LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "max_drawdown": "Max drawdown",
    "win_rate": "Win rate",
    "trades": "Trades",
    "exposure": "Exposure",
    "fees_paid": "Fees paid",
    "buy_and_hold_return": "Buy & hold return",
    "end_value": "End value",
    "skipped_entries": "Skipped entries (filters, cash, risk)",
    "skipped_exits": "Skipped exits (dust)",
}


def _format(name: str, value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if name in _PERCENT and isinstance(value, float):
        return f"{value:.2%}"
    if isinstance(value, float):
        return f"{value:,.2f}" if name in ("fees_paid", "end_value") else f"{value:.3f}"
    return str(value)


def print_stats(console: Console, title: str, stats: pd.Series, extra: list[str]) -> None:
    """The headline table, then the `extra` rows (risk rules fired, the strategy's figures)."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, label in _LABELS.items():
        table.add_row(label, _format(name, stats[name]))
    for name in extra:
        table.add_row(name.replace("_", " ").capitalize(), _format(name, stats[name]))
    console.print(table)


def print_outputs(console: Console, run_dir: Path, names: list[str], tracked: str | None) -> None:
    shown = Path(os.path.relpath(run_dir))  # short, and still right from where the user stands
    console.print(f"[bold]Outputs[/bold] in {shown}/", soft_wrap=True)
    for name in names:
        console.print(f"  {shown / name}", soft_wrap=True)
    if tracked:
        console.print(f"[bold]MLflow[/bold]: {tracked}")
        console.print("  open with: mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db")
