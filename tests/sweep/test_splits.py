"""Out-of-sample splits: sizes, time order, no shared bar, and clear refusals."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest

from thunes.sweep.splits import Fold, holdout, make_folds, walk_forward


def hourly(n: int, start: str = "2024-01-01", tz: str | None = "UTC") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="1h", tz=tz)


def with_day_gap() -> pd.DatetimeIndex:
    """48 hourly bars on Jan 1-2, nothing on Jan 3, 24 bars on Jan 4 (UTC)."""
    return pd.DatetimeIndex(hourly(48).append(hourly(24, start="2024-01-04")))


def positions(part: slice) -> set[int]:
    return set(range(part.start, part.stop))


def assert_out_of_sample(fold: Fold) -> None:
    assert fold.train.stop - fold.train.start >= 1
    assert fold.test.stop - fold.test.start >= 1
    assert not positions(fold.train) & positions(fold.test)
    assert fold.train.stop <= fold.test.start


def test_holdout_by_fraction_takes_the_first_bars_for_train() -> None:
    [fold] = holdout(hourly(100), train_fraction=0.7)
    assert fold == Fold("holdout", slice(0, 70), slice(70, 100))


def test_holdout_by_date_starts_the_test_on_that_bar() -> None:
    index = hourly(100)
    [fold] = holdout(index, train_end="2024-01-02 03:00")
    assert index[fold.test.start] == pd.Timestamp("2024-01-02 03:00", tz="UTC")
    assert fold.train == slice(0, 27) and fold.test == slice(27, 100)


def test_holdout_date_inside_a_gap_starts_the_test_after_the_gap() -> None:
    index = with_day_gap()
    [fold] = holdout(index, train_end="2024-01-03 12:00")
    assert fold.train == slice(0, 48)
    assert index[fold.train.stop - 1] == pd.Timestamp("2024-01-02 23:00", tz="UTC")
    assert index[fold.test.start] == pd.Timestamp("2024-01-04 00:00", tz="UTC")
    assert fold.test == slice(48, 72)


def test_holdout_date_is_read_as_utc_whatever_the_index_zone() -> None:
    utc = holdout(hourly(100), train_end="2024-01-02 03:00")
    naive = holdout(hourly(100, tz=None), train_end="2024-01-02 03:00")
    offset = holdout(hourly(100), train_end="2024-01-02 05:00+02:00")
    paris = holdout(hourly(100).tz_convert("Europe/Paris"), train_end="2024-01-02 03:00")
    assert utc == naive == offset == paris


@pytest.mark.parametrize("train_end", ["2023-12-31", "2024-01-01 00:00", "2024-01-05 03:01"])
def test_holdout_refuses_a_date_that_leaves_a_window_empty(train_end: str) -> None:
    with pytest.raises(ValueError, match="outside the data"):
        holdout(hourly(100), train_end=train_end)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_fraction_must_be_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        holdout(hourly(100), train_fraction=fraction)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        walk_forward(hourly(100), folds=3, anchored=True, train_fraction=fraction)


def test_holdout_refuses_a_fraction_that_rounds_to_an_empty_window() -> None:
    with pytest.raises(ValueError, match="empty train or test"):
        holdout(hourly(3), train_fraction=0.2)


def test_walk_forward_anchored_expands_the_train_from_bar_0() -> None:
    # 100 bars, 30% for tests -> 3 tests of floor(30 / 3) = 10 bars after a 70-bar train
    folds = walk_forward(hourly(100), folds=3, anchored=True, train_fraction=0.7)
    assert [f.name for f in folds] == ["fold1", "fold2", "fold3"]
    assert [(f.train, f.test) for f in folds] == [
        (slice(0, 70), slice(70, 80)),
        (slice(0, 80), slice(80, 90)),
        (slice(0, 90), slice(90, 100)),
    ]


def test_walk_forward_rolling_slides_a_fixed_length_train() -> None:
    folds = walk_forward(hourly(100), folds=3, anchored=False, train_fraction=0.7)
    assert [(f.train, f.test) for f in folds] == [
        (slice(0, 70), slice(70, 80)),
        (slice(10, 80), slice(80, 90)),
        (slice(20, 90), slice(90, 100)),
    ]


def test_walk_forward_gives_the_rounding_remainder_to_the_first_train() -> None:
    # 103 bars, 40% = 41.2 bars for 4 tests -> 10 bars each; 103 - 40 = 63 train bars
    folds = walk_forward(hourly(103), folds=4, anchored=False, train_fraction=0.6)
    assert folds[0].train == slice(0, 63)
    assert folds[-1].test == slice(93, 103)


FEASIBLE = [
    (n, k, fraction, anchored)
    for n, k, fraction, anchored in itertools.product(
        [7, 50, 333, 1000], [1, 2, 5], [0.3, 0.5, 0.8], [True, False]
    )
    if math.floor(n * (1 - fraction) / k) >= 1  # else refused: see the test below
]


@pytest.mark.parametrize(("n", "k", "fraction", "anchored"), FEASIBLE)
def test_walk_forward_invariants(n: int, k: int, fraction: float, anchored: bool) -> None:
    folds = walk_forward(hourly(n), folds=k, anchored=anchored, train_fraction=fraction)
    assert len(folds) == k
    for fold in folds:
        assert_out_of_sample(fold)
        assert fold.train.stop == fold.test.start  # no bar left unused between them
    tests = [f.test for f in folds]
    assert {t.stop - t.start for t in tests} == {tests[0].stop - tests[0].start}
    assert all(a.stop == b.start for a, b in itertools.pairwise(tests))
    assert tests[-1].stop == n
    assert folds[0].train.start == 0
    assert folds[0].train.stop >= fraction * n
    if anchored:
        assert all(f.train.start == 0 for f in folds)
    else:
        assert {f.train.stop - f.train.start for f in folds} == {folds[0].train.stop}


def test_walk_forward_refuses_too_few_bars_for_the_folds() -> None:
    with pytest.raises(ValueError, match="too few bars for 5 folds"):
        walk_forward(hourly(10), folds=5, anchored=True, train_fraction=0.7)
    with pytest.raises(ValueError, match="folds must be >= 1"):
        walk_forward(hourly(10), folds=0, anchored=True, train_fraction=0.7)


def configured(kind: str, train_end: str | None = None) -> list[Fold]:
    return make_folds(
        hourly(100), kind, train_end=train_end, train_fraction=0.7, folds=3, anchored=False
    )


def test_make_folds_dispatches_on_kind() -> None:
    assert configured("holdout") == holdout(hourly(100), train_fraction=0.7)
    assert configured("holdout", "2024-01-02") == holdout(hourly(100), train_end="2024-01-02")
    assert configured("walk_forward") == walk_forward(
        hourly(100), folds=3, anchored=False, train_fraction=0.7
    )


def test_make_folds_refuses_unknown_kinds_and_ignored_dates() -> None:
    with pytest.raises(ValueError, match="unknown split kind 'kfold'"):
        configured("kfold")
    with pytest.raises(ValueError, match="train_end applies to kind='holdout' only"):
        configured("walk_forward", "2024-01-02")


def test_unsorted_or_empty_index_is_refused() -> None:
    with pytest.raises(ValueError, match="sorted in time"):
        holdout(pd.DatetimeIndex(hourly(10)[::-1]))
    with pytest.raises(ValueError, match="empty"):
        walk_forward(hourly(0), folds=1, anchored=True, train_fraction=0.5)
