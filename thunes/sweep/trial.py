"""One sweep trial: the product's own backtest on each in-sample window, then on each
out-of-sample one. Only the in-sample figures steer the search; the rest is recorded.

Each window is backtested on its own, from a flat account, its first `warmup` bars spent
warming the indicators, as a bot started fresh at the window's start would be. Candles are
loaded once per process, not once per trial: trials differ in parameters, not in data.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from thunes.components import Components, build, make_strategy
from thunes.config.validate import GROUPS
from thunes.data.sources import CandleSet
from thunes.errors import ConfigError, DataError
from thunes.sweep.splits import Fold, make_folds

HEADLINE = ("sharpe", "sortino", "calmar", "total_return", "max_drawdown", "fills")
"""The figures every trial records for its in-sample and out-of-sample windows."""

_LOADED: dict[str, list[CandleSet]] = {}
_BUILT: dict[str, tuple[Components, list[CandleSet]]] = {}
_BUILT_FROM = (*(g for g in GROUPS if g not in ("strategy", "mode", "sweep")), "symbols", "cash")


@dataclass(frozen=True)
class TrialOutcome:
    """What a trial hands back to the sweeper: objectives to optimise, and the record."""

    values: list[float]
    train: dict[str, float]
    test: dict[str, float]

    def figures(self) -> dict[str, float]:
        """Both windows' figures, as `train_sharpe`, `test_sharpe`..."""
        return {
            **{f"train_{k}": v for k, v in self.train.items()},
            **{f"test_{k}": v for k, v in self.test.items()},
        }


def task_part(config: DictConfig) -> DictConfig:
    """A multirun's config without its `hydra` node: what a job receives."""
    return OmegaConf.masked_copy(config, [str(key) for key in config if key != "hydra"])


def with_params(cfg: DictConfig, params: Mapping[str, Any]) -> DictConfig:
    """A copy of the task config with these values set; typed nodes check each value."""
    copied = copy.deepcopy(cfg)
    for key, value in params.items():
        OmegaConf.update(copied, key, value, merge=False)
    return copied


def _key(cfg: DictConfig, keys: tuple[str, ...]) -> str:
    return json.dumps(
        {
            k: OmegaConf.to_container(cfg[k], resolve=True)
            if OmegaConf.is_config(cfg[k])
            else cfg[k]
            for k in keys
        },
        sort_keys=True,
        default=str,
    )


def prepared(cfg: DictConfig) -> tuple[Callable[[], Components], list[CandleSet]]:
    """A maker of `cfg`'s components, each call with strategies of its own, and the
    candles. Everything but the strategies is built on the first trial and kept (building
    it again cost 27 ms a trial, and none of it keeps state between runs); a strategy may
    keep state (a DCA cycle, a grid's levels), so every backtest gets new ones."""
    key = _key(cfg, _BUILT_FROM)
    if key not in _BUILT:
        base = build(cfg)
        _BUILT[key] = (base, candles_once(cfg, base))
    base, candles = _BUILT[key]
    values = {str(k): v for k, v in cfg.strategy.items()}  # typed values, resolved

    def fresh() -> Components:
        return replace(base, strategies=[make_strategy(values) for _ in base.markets])

    return fresh, candles


def candles_once(cfg: DictConfig, parts: Components) -> list[CandleSet]:
    """The run's candles, loaded on the first trial of this process and kept."""
    key = _key(cfg, ("exchange", "data", "symbol", "symbols"))
    if key not in _LOADED:
        _LOADED[key] = [parts.data.load(parts.exchange, market) for market in parts.markets]
    return _LOADED[key]


def folds_of(cfg: DictConfig, candles: CandleSet) -> list[Fold]:
    """The split's folds of these candles; a split the data cannot hold (a train_end
    outside it, more folds than bars) is a one-line config error naming `sweep.split`."""
    split = cfg.sweep.split
    try:
        return make_folds(
            pd.DatetimeIndex(candles.frame.index),
            split.kind,
            train_end=split.train_end,
            train_fraction=split.train_fraction,
            folds=split.folds,
            anchored=split.anchored,
        )
    except ValueError as error:
        raise ConfigError(f"sweep.split: {error}") from None


def window(candle_sets: list[CandleSet], part: slice) -> list[CandleSet]:
    """Every symbol's candles over the first symbol's bars `part`, cut by time."""
    index = candle_sets[0].frame.index[part]
    if len(index) == 0:
        raise DataError("a sweep window holds no candles; widen the data or the split")
    start, end = index[0], index[-1]
    return [replace(c, frame=c.frame.loc[start:end]) for c in candle_sets]


def metrics(parts: Components, candle_sets: list[CandleSet]) -> dict[str, float]:
    """The headline figures of one backtest: the stats' own ratios (reporting/metrics.py),
    without the stats' tables. A ratio over a zero denominator (no trade, no losing bar, no
    drawdown: NaN or infinite) scores 0: nothing measured, nothing to prefer, and an
    infinite objective would outrank every real one."""
    from thunes.reporting.metrics import ratios
    from thunes.sweep.scoring import equity_and_fills

    value, fills = equity_and_fills(parts, candle_sets)
    timeframe = candle_sets[0].timeframe
    figures = {k: float(v[0]) for k, v in ratios(value, parts.cash, timeframe).items()}
    figures["fills"] = float(fills)
    return {name: figures[name] if math.isfinite(figures[name]) else 0.0 for name in HEADLINE}


Windows = list[tuple[list[CandleSet], list[CandleSet]]]
_CUT: dict[tuple[int, str], tuple[list[CandleSet], Windows]] = {}


def windows_of(cfg: DictConfig, candle_sets: list[CandleSet]) -> Windows:
    """Each fold's (train, test) candles, cut once per process for these candles and this
    split (the entry keeps the candles alive, so their id names them)."""
    split = json.dumps(OmegaConf.to_container(cfg.sweep.split, resolve=True), sort_keys=True)
    key = (id(candle_sets), split)
    if key not in _CUT:
        folds = folds_of(cfg, candle_sets[0])
        cut = [(window(candle_sets, f.train), window(candle_sets, f.test)) for f in folds]
        _CUT[key] = (candle_sets, cut)
    return _CUT[key][1]


def mean_over(windows: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean([w[name] for w in windows])) for name in windows[0]}


def evaluate(cfg: DictConfig) -> TrialOutcome:
    fresh, candle_sets = prepared(cfg)
    cut = windows_of(cfg, candle_sets)
    train = mean_over([metrics(fresh(), part) for part, _ in cut])
    test = mean_over([metrics(fresh(), part) for _, part in cut])
    return TrialOutcome([train[name] for name in cfg.sweep.objectives], train, test)


def train_returns(cfg: DictConfig) -> np.ndarray:
    """The per-bar returns of `cfg`'s backtests on the in-sample windows, end to end: what
    the Deflated Sharpe Ratio judges for the best trial."""
    from thunes.reporting.metrics import bar_returns
    from thunes.sweep.scoring import equity_and_fills

    fresh, candle_sets = prepared(cfg)
    values = [equity_and_fills(fresh(), part)[0] for part, _ in windows_of(cfg, candle_sets)]
    joined = np.concatenate([bar_returns(v, float(cfg.cash)) for v in values])
    return joined[np.isfinite(joined)]  # a bar valued at nothing has no return
