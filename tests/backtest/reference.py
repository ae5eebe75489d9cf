"""An independent reference backtest in plain Python loops and exact decimals.

It implements the documented conventions (thunes/backtest/engine.py) without numpy,
pandas or vectorbt, so an agreement to 1e-9 means the engine does what the docs say.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass
class RefTrade:
    entry_bar: int
    entry_price: float
    exit_bar: int
    exit_price: float
    size: float
    fees: float
    pnl: float
    exit_reason: str


def _round(value: float, step: float, mode: str) -> float:
    if step == 0:
        return value
    units = (Decimal(value) / Decimal(str(step))).to_integral_value(rounding=mode)
    return float(units * Decimal(str(step)))


def _sma(values: list[float], end: int, window: int) -> float | None:
    if end + 1 < window:
        return None
    return sum(values[end + 1 - window : end + 1]) / window


def reference_backtest(
    opens: list[float],
    closes: list[float],
    fast: int,
    slow: int,
    *,
    fee: float,
    slippage: float,
    tick: float,
    step: float,
    min_notional: float,
    sizing: str,
    amount: float,
    cash: float,
) -> tuple[list[RefTrade], float, int]:
    """Trades, final equity and skipped entries of a long-only SMA cross."""
    trades: list[RefTrade] = []
    position = 0.0
    entry: tuple[int, float, float] | None = None  # bar, price, fee
    pending: str | None = None
    skipped = 0
    for bar in range(len(closes)):
        if pending == "buy":
            price = _round(opens[bar] * (1 + slippage), tick, ROUND_CEILING)
            budget = {
                "fixed_quote": min(amount, cash / (1 + fee)),
                "all_in": cash / (1 + fee),
                "equity_fraction": amount * cash / (1 + fee),
            }[sizing]
            size = _round(budget / price, step, ROUND_FLOOR)
            if size * price < min_notional or size <= 0:
                skipped += 1
            else:
                paid = size * price * fee
                cash -= size * price + paid
                position, entry = size, (bar, price, paid)
        elif pending == "sell" and entry is not None:
            price = _round(opens[bar] * (1 - slippage), tick, ROUND_FLOOR)
            paid = position * price * fee
            cash += position * price - paid
            pnl = position * (price - entry[1]) - entry[2] - paid
            trades.append(
                RefTrade(entry[0], entry[1], bar, price, position, entry[2] + paid, pnl, "exit")
            )
            position, entry = 0.0, None
        pending = None
        fast_now, slow_now = _sma(closes, bar, fast), _sma(closes, bar, slow)
        fast_before, slow_before = _sma(closes, bar - 1, fast), _sma(closes, bar - 1, slow)
        if None in (fast_now, slow_now, fast_before, slow_before):
            continue
        assert fast_now is not None and slow_now is not None
        assert fast_before is not None and slow_before is not None
        if position == 0 and fast_now > slow_now and fast_before <= slow_before:
            pending = "buy"
        elif position > 0 and fast_now < slow_now and fast_before >= slow_before:
            pending = "sell"
    if entry is not None:
        last = closes[-1]
        pnl = position * (last - entry[1]) - entry[2]
        trades.append(
            RefTrade(entry[0], entry[1], len(closes) - 1, last, position, entry[2], pnl, "open")
        )
    return trades, cash + position * closes[-1], skipped
