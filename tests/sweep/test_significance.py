"""Deflated Sharpe: published values, independent derivations and behaviour under the null."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

from thunes.sweep.significance import (
    deflated_sharpe,
    degradation,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_per_period,
)

DAYS = 250  # the DSR paper's daily annualisation


def test_dsr_paper_numerical_example() -> None:
    """Bailey & Lopez de Prado (2014), JPM 40(5), numerical example: after N = 100 trials,
    annualised SR 2.5 over T = 1250 daily returns, variance of the trials' annualised SRs 1/2,
    skewness -3, kurtosis 10 -> E[max SR] = 0.1132 per day and DSR = 0.9004."""
    sharpe = 2.5 / math.sqrt(DAYS)
    benchmark = expected_max_sharpe(100, 0.5 / DAYS)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(sharpe, benchmark, n=1250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def exact_expected_max_of_normals(n: int) -> float:
    """E[max of n iid N(0, 1)] = integral of x n phi(x) Phi(x)^(n-1), by quadrature."""

    def density(x: float) -> float:
        return x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1)

    return float(integrate.quad(density, -10.0, 10.0, limit=200)[0])


def test_expected_max_sharpe_approximates_the_exact_order_statistic() -> None:
    """The paper's extreme-value formula vs the exact E[max] (1.5388, 2.5076, 3.2414 for
    10, 100, 1000 normals in the order-statistics tables): close, and closer as N grows."""
    errors = []
    for n, table in [(10, 1.5388), (100, 2.5076), (1000, 3.2414)]:
        exact = exact_expected_max_of_normals(n)
        assert exact == pytest.approx(table, abs=1e-4)
        errors.append(expected_max_sharpe(n, 1.0) / exact - 1.0)
    assert all(0.0 < e < 0.025 for e in errors)
    assert errors == sorted(errors, reverse=True)


def test_expected_max_sharpe_scales_with_the_trials_spread() -> None:
    assert expected_max_sharpe(100, 0.04) == pytest.approx(0.2 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(1, 0.04) == 0.0
    assert expected_max_sharpe(100, 0.0) == 0.0
    with pytest.raises(ValueError, match="sharpe_variance"):
        expected_max_sharpe(10, -1.0)


def test_max_sharpe_of_null_trials_lands_around_expected_max() -> None:
    """Edgeless trials: the best Sharpe beats expected_max about half the time. A mean is not a
    median: the max is right-skewed (Gumbel in the limit, where P(max > mean) = 1 - e^(-e^-g)
    ~ 0.43), so the band is centred a little under one half."""
    rng = np.random.default_rng(7)
    experiments, trials, bars = 400, 100, 250
    beats, best, benchmark = 0, [], []
    for _ in range(experiments):
        returns = rng.standard_normal((trials, bars))
        sharpes = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
        expected = expected_max_sharpe(trials, float(np.var(sharpes, ddof=1)))
        beats += int(sharpes.max() > expected)
        best.append(sharpes.max())
        benchmark.append(expected)
    assert 0.35 <= beats / experiments <= 0.55
    assert np.mean(best) == pytest.approx(np.mean(benchmark), rel=0.03)


def test_psr_is_one_half_when_the_sharpe_equals_the_benchmark() -> None:
    for skew, kurtosis in [(0.0, 3.0), (-3.0, 10.0), (1.5, 6.0)]:
        assert probabilistic_sharpe_ratio(0.1, 0.1, 500, skew, kurtosis) == 0.5


def test_psr_against_zero_matches_a_one_sided_t_test_for_normal_returns() -> None:
    """For normal returns, PSR(0) is the confidence of the t-test of a positive mean."""
    rng = np.random.default_rng(3)
    for drift in [0.0, 0.05, 0.1]:
        returns = rng.normal(drift, 1.0, size=500)
        psr = probabilistic_sharpe_ratio(sharpe_per_period(returns), 0.0, 500, 0.0, 3.0)
        p_value = stats.ttest_1samp(returns, 0.0, alternative="greater").pvalue
        assert psr == pytest.approx(1.0 - p_value, abs=0.01)


def test_psr_corrects_for_skew_so_its_false_positive_rate_is_alpha() -> None:
    """Skewed returns (exponential: skew 2, kurtosis 9) whose true Sharpe IS the benchmark:
    PSR >= 0.95 should happen 5% of the time. Ignoring the moments (normal PSR) halves that."""
    rng = np.random.default_rng(11)
    true_sharpe, bars, runs = 0.3, 1000, 2000
    returns = rng.exponential(1.0, size=(runs, bars)) - 1.0 + true_sharpe  # mean 0.3, sd 1
    sharpes = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    skews = stats.skew(returns, axis=1)
    kurts = stats.kurtosis(returns, axis=1, fisher=False)
    corrected = [
        probabilistic_sharpe_ratio(sr, true_sharpe, bars, sk, ku)
        for sr, sk, ku in zip(sharpes, skews, kurts, strict=True)
    ]
    naive = [probabilistic_sharpe_ratio(sr, true_sharpe, bars, 0.0, 3.0) for sr in sharpes]
    assert np.mean(np.array(corrected) >= 0.95) == pytest.approx(0.05, abs=0.015)
    assert np.mean(np.array(naive) >= 0.95) < 0.03


def test_psr_refuses_excess_kurtosis_and_too_short_records() -> None:
    with pytest.raises(ValueError, match="non-excess kurtosis"):
        probabilistic_sharpe_ratio(0.1, 0.0, 100, skew=0.0, kurtosis=0.0)
    with pytest.raises(ValueError, match="at least 2 returns"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, skew=0.0, kurtosis=3.0)


def test_sharpe_per_period_is_mean_over_sample_std_and_zero_when_undefined() -> None:
    assert sharpe_per_period(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0 / 1.0)
    assert sharpe_per_period(np.array([0.01] * 5)) == 0.0
    assert sharpe_per_period(np.array([0.01])) == 0.0
    assert sharpe_per_period(np.array([])) == 0.0
    with pytest.raises(ValueError, match="finite"):
        sharpe_per_period(np.array([0.01, np.nan, 0.02]))


def null_sweep(rng: np.random.Generator, trials: int, bars: int) -> np.ndarray:
    return rng.normal(0.0, 0.01, size=(trials, bars))


def per_trial_sharpe(returns: np.ndarray) -> np.ndarray:
    return np.array([sharpe_per_period(row) for row in returns])


def test_best_of_1000_noise_trials_is_not_significant_but_a_real_edge_is() -> None:
    rng = np.random.default_rng(2014)
    returns = null_sweep(rng, trials=1000, bars=1000)
    sharpes = per_trial_sharpe(returns)
    best = returns[int(np.argmax(sharpes))]
    # Taken alone, the luckiest noise trial looks like skill...
    naive = probabilistic_sharpe_ratio(sharpes.max(), 0.0, 1000, 0.0, 3.0)
    assert naive > 0.99
    # ...deflated for the 1000 trials it was picked from, it does not.
    luck = deflated_sharpe(best, sharpes, periods_per_year=365)
    assert not luck.significant
    assert luck.n_trials == 1000
    assert luck.sharpe == pytest.approx(sharpes.max())
    assert luck.annualised == pytest.approx(sharpes.max() * math.sqrt(365))

    edge = rng.normal(0.0025, 0.01, size=1000)  # true Sharpe 0.25 per bar
    with_edge = np.append(sharpes, sharpe_per_period(edge))
    real = deflated_sharpe(edge, with_edge, periods_per_year=365)
    assert real.significant
    assert real.dsr > 0.999
    assert real.expected_max > luck.expected_max * 0.9  # the edge did not win by a lower bar


def test_dsr_falls_as_the_number_of_trials_grows() -> None:
    rng = np.random.default_rng(5)
    best = rng.normal(0.001, 0.01, size=1000)
    spread = 0.03
    dsrs = [
        deflated_sharpe(best, np.resize([-spread, spread], n), periods_per_year=365).dsr
        for n in [2, 10, 100, 1000, 10000]
    ]
    assert all(a > b for a, b in itertools.pairwise(dsrs))


def test_a_single_trial_is_its_psr_against_zero() -> None:
    rng = np.random.default_rng(9)
    best = rng.normal(0.001, 0.01, size=500)
    sharpe = sharpe_per_period(best)
    result = deflated_sharpe(best, np.array([sharpe]), periods_per_year=365)
    expected = probabilistic_sharpe_ratio(
        sharpe, 0.0, 500, stats.skew(best), stats.kurtosis(best, fisher=False)
    )
    assert result.expected_max == 0.0
    assert result.dsr == pytest.approx(expected)


def test_identical_trials_have_no_selection_bias() -> None:
    rng = np.random.default_rng(9)
    best = rng.normal(0.001, 0.01, size=500)
    sharpe = sharpe_per_period(best)
    one = deflated_sharpe(best, np.array([sharpe]), periods_per_year=365)
    many_copies = deflated_sharpe(best, np.full(50, sharpe), periods_per_year=365)
    assert many_copies.expected_max == 0.0
    assert many_copies.dsr == pytest.approx(one.dsr)


def test_flat_returns_give_a_number_and_no_significance() -> None:
    trials = np.array([0.0, 0.05, -0.05])
    result = deflated_sharpe(np.zeros(300), trials, periods_per_year=365)
    assert result.sharpe == 0.0
    assert 0.0 <= result.dsr < 0.5
    assert not result.significant
    lone = deflated_sharpe(np.full(300, 0.001), np.array([0.0]), periods_per_year=365)
    assert lone.dsr == 0.5 and not lone.significant


def test_significance_threshold_follows_alpha() -> None:
    rng = np.random.default_rng(1)
    best = rng.normal(0.0006, 0.01, size=1000)
    sharpe = sharpe_per_period(best)
    result = deflated_sharpe(best, np.array([sharpe]), periods_per_year=365, alpha=0.5)
    assert 0.5 < result.dsr < 0.95  # so the two alphas disagree
    assert result.significant
    assert not deflated_sharpe(best, np.array([sharpe]), 365, alpha=0.05).significant


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"best_returns": np.array([0.01])}, "at least 2 returns"),
        ({"trial_sharpes": np.array([])}, "trial_sharpes is empty"),
        ({"trial_sharpes": np.array([0.1, np.nan])}, "finite"),
        ({"periods_per_year": 0.0}, "periods_per_year"),
        ({"alpha": 1.0}, "alpha"),
    ],
)
def test_deflated_sharpe_refuses_bad_inputs(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "best_returns": np.array([0.01, -0.02, 0.03]),
        "trial_sharpes": np.array([0.1, 0.2]),
        "periods_per_year": 365.0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        deflated_sharpe(**args)  # type: ignore[arg-type]


def test_degradation_is_the_share_of_the_train_value_lost_out_of_sample() -> None:
    assert degradation(2.0, 2.0) == 0.0
    assert degradation(2.0, 1.0) == 0.5
    assert degradation(2.0, 0.0) == 1.0
    assert degradation(2.0, -1.0) == 1.5
    assert degradation(2.0, 3.0) == -0.5
    assert degradation(-1.0, -2.0) == 1.0  # a negative train value getting worse: positive
    assert degradation(-1.0, -0.5) == -0.5
    assert math.isnan(degradation(0.0, 1.0))
