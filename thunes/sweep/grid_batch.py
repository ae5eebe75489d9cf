"""The grid's fast path for a signal strategy on one symbol: thousands of parameter sets
through the event engine's compiled loop at once (thunes/engine/signal_sweep.py).

The rules are the same ones a trial runs: each combination's strategy is built from the
config and computes its own decisions (`Strategy.signals`), the batch runs them through the
broker and risk rules of `engines.backtest`, and the figures come from the same ratios.
Indicators shared by several combinations are computed once per window. Memory is bounded
by `sweep.batch`: the equity of one batch of columns at a time (44,000 bars x 512 columns:
180 MB), of which only each column's figures are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from thunes.components import Components, make_strategy
from thunes.data.candles import as_columns
from thunes.data.sources import CandleSet
from thunes.engine.signal_sweep import signal_equity_batch
from thunes.errors import ConfigError
from thunes.execution.filters import FloatArray
from thunes.reporting.metrics import ratios
from thunes.strategy.base import Strategy
from thunes.strategy.indicators import shared_within
from thunes.strategy.scalper import Scalper
from thunes.sweep.trial import HEADLINE, TrialOutcome, windows_of

PREFIX = "strategy."
_EXITS = ("stop_loss", "take_profit", "trailing_stop")


def applies(parts: Components, keys: list[str]) -> bool:
    """One symbol, a signal strategy, and only the strategy's own parameters swept."""
    return (
        len(parts.markets) == 1
        and isinstance(parts.strategy, Strategy)
        and not isinstance(parts.strategy, Scalper)
        and all(key.startswith(PREFIX) for key in keys)
    )


@dataclass(frozen=True)
class StrategyNode:
    """The strategy's node as plain values and its schema, read once for the whole grid
    (OmegaConf's conversion costs 0.1 ms: a second on 10,000 combinations)."""

    values: dict[str, Any]
    schema: type | None

    @classmethod
    def of(cls, cfg: DictConfig) -> StrategyNode:
        values = OmegaConf.to_container(cfg.strategy, resolve=True)
        schema = OmegaConf.get_type(cfg.strategy)
        return cls(values, None if schema is dict else schema)  # type: ignore[arg-type]

    def built(self, combo: dict[str, Any]) -> Strategy | str:
        """The combination's strategy, its values checked by the strategy's schema first
        (`__post_init__`: fast < slow, a known average...); or why they are refused."""
        values = {**self.values, **{k.removeprefix(PREFIX): v for k, v in combo.items()}}
        try:
            if self.schema is not None:
                self.schema(**values)
            strategy = make_strategy(values)
        except (ConfigError, ValueError, TypeError) as error:
            return " ".join(str(error).split())
        assert isinstance(strategy, Strategy)  # `applies` said so
        return strategy


@dataclass(frozen=True)
class Window:
    """A backtest window's candles and their columns, made once for the whole grid: the
    indicators the combinations share are remembered per column array."""

    candles: CandleSet
    columns: dict[str, FloatArray]
    times_ms: npt.NDArray[np.int64]
    buffers: dict[int, FloatArray] = field(default_factory=dict)  # equity, by batch width

    @classmethod
    def of(cls, candles: CandleSet) -> Window:
        times = pd.DatetimeIndex(candles.frame.index).as_unit("ms").asi8
        return cls(candles, as_columns(candles.frame), times)


def _figures(parts: Components, win: Window, strategies: list[Strategy]) -> dict[str, FloatArray]:
    """Each headline figure of every strategy on this window (an array each), in one
    batch; a figure over a zero denominator scores 0, as a trial's (trial.metrics)."""
    columns = win.columns
    signals = [s.signals(columns) for s in strategies]
    first = strategies[0]
    batch = signal_equity_batch(
        win.times_ms,
        columns["open"],
        columns["high"],
        columns["low"],
        columns["close"],
        np.stack([s.entries for s in signals]).T,  # a column per run, each one contiguous
        np.stack([s.exits for s in signals]).T,
        fees=parts.exchange.fees,
        slippage=parts.exchange.slippage,
        filters=parts.filters.for_market(parts.market),
        sizer=parts.sizer,
        cash=parts.cash,
        risk=parts.risk,
        stop_loss=first.stop_loss,
        take_profit=first.take_profit,
        trailing_stop=first.trailing_stop,
        out=win.buffers.get(len(strategies)),  # refilled: a fresh 180 MB costs page faults
    )
    win.buffers[len(strategies)] = batch.equity
    figures = ratios(batch.equity, parts.cash, win.candles.timeframe)
    figures["fills"] = batch.fills.astype(np.float64)
    return {name: np.where(np.isfinite(v := figures[name]), v, 0.0) for name in HEADLINE}


def _mean_over(folds: list[dict[str, FloatArray]]) -> dict[str, FloatArray]:
    """trial.mean_over for every strategy at once: the same sums (a row per strategy)."""
    return {name: np.stack([f[name] for f in folds], axis=1).mean(axis=1) for name in folds[0]}


def score_all(
    cfg: DictConfig,
    parts: Components,
    combos: list[dict[str, Any]],
    candle_sets: list[CandleSet],
    advance: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Every combination's row, in batches of `sweep.batch` columns, on the folds' windows
    a trial cuts (`trial.windows_of`). The averages the combinations share are computed
    once per window for the whole grid (a few hundred arrays of the window's length at
    most: one per distinct parameter value)."""
    windows = [
        (Window.of(train[0]), Window.of(test[0])) for train, test in windows_of(cfg, candle_sets)
    ]
    with shared_within():
        return _score(cfg, parts, combos, windows, advance)


def _score(
    cfg: DictConfig,
    parts: Components,
    combos: list[dict[str, Any]],
    windows: list[tuple[Window, Window]],
    advance: Callable[[int], None],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    size = int(cfg.sweep.batch)
    node = StrategyNode.of(cfg)
    for start in range(0, len(combos), size):
        chunk = combos[start : start + size]
        built = [node.built(combo) for combo in chunk]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, strategy in enumerate(built):  # the exits are one per batch call
            if isinstance(strategy, Strategy):
                groups.setdefault(tuple(getattr(strategy, e) for e in _EXITS), []).append(i)
        scored: dict[int, dict[str, Any]] = {}
        for members in groups.values():
            strategies = [cast(Strategy, built[i]) for i in members]
            per_fold = [
                (_figures(parts, train, strategies), _figures(parts, test, strategies))
                for train, test in windows
            ]
            train = _mean_over([fold for fold, _ in per_fold])
            test = _mean_over([fold for _, fold in per_fold])
            for j, i in enumerate(members):
                outcome = TrialOutcome(
                    [],
                    {name: float(values[j]) for name, values in train.items()},
                    {name: float(values[j]) for name, values in test.items()},
                )
                scored[i] = {**chunk[i], "state": "COMPLETE", **outcome.figures()}
        for i, strategy in enumerate(built):
            failed = {**chunk[i], "state": "FAIL", "error": strategy}
            rows.append(scored.get(i, failed))
        advance(len(chunk))
    return rows
