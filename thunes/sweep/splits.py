"""Out-of-sample splits of a bar series, so a sweep is scored on bars it was not tuned on.

Folds are integer positions into the candle frame (use `frame.iloc[fold.test]`). In every fold
`train` and `test` are disjoint and contiguous, and `test` starts exactly where `train` ends or
later: a parameter chosen on `train` never saw a bar of `test`.

Each window is backtested on its own, from a flat account, its first `warmup` bars spent
warming the indicators (thunes/sweep/trial.py): a bot started at the window's first bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Fold:
    """One train/test split; slices are positions into the bar series."""

    name: str
    train: slice
    test: slice


def holdout(
    index: pd.DatetimeIndex, train_end: str | None = None, train_fraction: float = 0.7
) -> list[Fold]:
    """One split: train = bars before `train_end` (UTC), test = bars from it on.

    Without `train_end`, train is the first floor(train_fraction * bars) bars. A `train_end`
    inside a gap of the data starts the test at the first bar after the gap. A naive date, or a
    naive index, is read as UTC.
    """
    n = _bar_count(index)
    if train_end is None:
        cut = math.floor(_checked_fraction(train_fraction) * n)
        if not 0 < cut < n:
            raise ValueError(
                f"train_fraction={train_fraction} of {n} bars leaves an empty train or test window"
            )
    else:
        cut = int(index.searchsorted(_utc_like(train_end, index), side="left"))
        if not 0 < cut < n:
            raise ValueError(
                f"train_end={train_end!r} is outside the data ({index[0]} .. {index[-1]}): "
                "train and test both need at least one bar"
            )
    return [Fold("holdout", slice(0, cut), slice(cut, n))]


def walk_forward(
    index: pd.DatetimeIndex, folds: int, anchored: bool, train_fraction: float
) -> list[Fold]:
    """`folds` consecutive test windows of equal length after an initial train window.

    Scheme (scikit-learn's TimeSeriesSplit with an explicit test size): with n bars,
    test = floor(n * (1 - train_fraction) / folds) bars and the first train window is the
    n - folds * test bars before the first test (at least the `train_fraction` share: the
    rounding remainder goes to it), so the last test window ends on the last bar.
    Fold k (1-based) tests [n - (folds - k + 1) * test, n - (folds - k) * test).
    Anchored: train is every bar before the test (expanding window, starts at bar 0).
    Rolling: train is the first train window's length, ending where the test starts (sliding;
    TimeSeriesSplit's max_train_size set to that length).
    """
    n = _bar_count(index)
    fraction = _checked_fraction(train_fraction)
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    test = math.floor(n * (1.0 - fraction) / folds)
    if test < 1:
        raise ValueError(
            f"too few bars for {folds} folds: {n} bars with train_fraction={train_fraction} "
            f"leave {math.floor(n * (1.0 - fraction))} test bars, fewer than one per fold"
        )
    first_test = n - folds * test
    result = []
    for k in range(folds):
        start = first_test + k * test
        train_start = 0 if anchored else start - first_test
        result.append(Fold(f"fold{k + 1}", slice(train_start, start), slice(start, start + test)))
    return result


def make_folds(
    index: pd.DatetimeIndex,
    kind: str,
    *,
    train_end: str | None,
    train_fraction: float,
    folds: int,
    anchored: bool,
) -> list[Fold]:
    """The folds a sweep config asks for; `kind` is "holdout" or "walk_forward".

    `folds` and `anchored` only shape a walk-forward; `train_end` only applies to a holdout
    and is refused for a walk-forward rather than silently ignored.
    """
    if kind == "holdout":
        return holdout(index, train_end=train_end, train_fraction=train_fraction)
    if kind == "walk_forward":
        if train_end is not None:
            raise ValueError("train_end applies to kind='holdout' only, not to walk_forward")
        return walk_forward(index, folds=folds, anchored=anchored, train_fraction=train_fraction)
    raise ValueError(f"unknown split kind {kind!r}: expected 'holdout' or 'walk_forward'")


def _bar_count(index: pd.DatetimeIndex) -> int:
    if len(index) == 0:
        raise ValueError("the bar index is empty")
    if not index.is_monotonic_increasing:
        raise ValueError("the bar index must be sorted in time")
    return len(index)


def _checked_fraction(train_fraction: float) -> float:
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    return train_fraction


def _utc_like(date: str, index: pd.DatetimeIndex) -> pd.Timestamp:
    """`date` as a UTC instant, in the index's time zone (naive = UTC) so the two compare."""
    stamp = pd.Timestamp(date)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.tz_localize(None) if index.tz is None else stamp.tz_convert(index.tz)
