"""Is a sweep's best Sharpe real, or the luck of trying many parameter sets?

Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5). The best of N trials
has an inflated Sharpe even when no trial has an edge; the DSR is the probability that the
best trial's true Sharpe beats the maximum that N edgeless trials would be expected to reach,
given the track record's length, skewness and fat tails.

Every Sharpe ratio here is per period (per bar, not annualised): the formulas count periods.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class Deflated:
    """The best trial's Sharpe and the probability that it is more than selection luck."""

    sharpe: float  # per period
    annualised: float
    expected_max: float  # per period: what the best of n_trials edgeless trials would show
    dsr: float  # probability that the true Sharpe exceeds expected_max
    n_trials: int
    significant: bool  # dsr >= 1 - alpha


def sharpe_per_period(returns: np.ndarray) -> float:
    """Mean over sample standard deviation (ddof=1); 0 when undefined: < 2 returns, or flat.

    Flat is tested as all returns equal: np.std of a constant is rounding noise (~1e-19), not
    0, and would turn a constant return into a Sharpe of ~1e16.
    """
    values = _finite(returns)
    if values.size < 2 or np.ptp(values) == 0.0:
        return 0.0
    return float(np.mean(values) / np.std(values, ddof=1))


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n: int, skew: float, kurtosis: float
) -> float:
    """P(true Sharpe > benchmark) given `sharpe` measured on `n` returns (Bailey & LdP 2012).

    PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)), with
    `kurtosis` NOT excess (3 for normal returns). Any distribution has kurtosis >= 1 + skew^2,
    which keeps the root real; a smaller value is refused as a likely excess kurtosis.
    """
    if n < 2:
        raise ValueError(f"a Sharpe ratio needs at least 2 returns, got n={n}")
    if kurtosis < 1.0 + skew**2 - 1e-9:
        raise ValueError(
            f"kurtosis={kurtosis} is below 1 + skew^2 = {1.0 + skew**2}, impossible for any "
            "distribution: pass the non-excess kurtosis (3 for normal returns)"
        )
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    # >= (1 - skew SR / 2)^2 >= 0; the floor only absorbs rounding for two-point returns.
    scale = math.sqrt(max(variance, np.finfo(float).tiny))
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(n - 1) / scale))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected maximum Sharpe of `n_trials` independent edgeless trials (DSR paper, eq. 2).

    SR0 = sqrt(V) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g = Euler-Mascheroni:
    an extreme-value approximation of E[max] of N normals with variance V. 0 for N <= 1.
    """
    if sharpe_variance < 0.0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials <= 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return math.sqrt(sharpe_variance) * float(z)


def deflated_sharpe(
    best_returns: np.ndarray,
    trial_sharpes: np.ndarray,
    periods_per_year: float,
    alpha: float = 0.05,
) -> Deflated:
    """The DSR of the best trial: its PSR against `expected_max_sharpe` of all trials.

    - `best_returns`: the selected trial's per-period returns (at least 2, all finite); its
      skewness and kurtosis are the paper's sample moments, scipy.stats skew/kurtosis with
      bias=True (m3 / m2^1.5, m4 / m2^2): these satisfy kurtosis >= 1 + skew^2, which the
      bias-corrected estimators can break on short, skewed samples.
    - `trial_sharpes`: per-period Sharpe of every trial tried, the best included; N is their
      count and V their sample variance (ddof=1).
    Degenerate inputs give numbers, never NaN: N = 1 or identical trials (V = 0) make the
    benchmark 0, i.e. the plain PSR against 0; flat returns have Sharpe 0 (skew 0, kurtosis 3
    stand in for the undefined moments, which a zero Sharpe makes irrelevant), so the DSR is at
    most 0.5 and never significant.
    """
    returns = _finite(best_returns)
    trials = _finite(trial_sharpes)
    if returns.size < 2:
        raise ValueError(f"the best trial needs at least 2 returns, got {returns.size}")
    if trials.size < 1:
        raise ValueError("trial_sharpes is empty: pass every trial's Sharpe, the best included")
    if periods_per_year <= 0.0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    sharpe = sharpe_per_period(returns)
    skew, kurtosis = 0.0, 3.0
    if sharpe != 0.0:
        skew = float(stats.skew(returns, bias=True))
        kurtosis = float(stats.kurtosis(returns, fisher=False, bias=True))
    variance = float(np.var(trials, ddof=1)) if trials.size > 1 else 0.0
    benchmark = expected_max_sharpe(trials.size, variance)
    dsr = probabilistic_sharpe_ratio(sharpe, benchmark, returns.size, skew, kurtosis)
    return Deflated(
        sharpe=sharpe,
        annualised=sharpe * math.sqrt(periods_per_year),
        expected_max=benchmark,
        dsr=dsr,
        n_trials=int(trials.size),
        significant=dsr >= 1.0 - alpha,
    )


def degradation(train: float, test: float) -> float:
    """Relative drop of a higher-is-better metric from train to test: (train - test) / |train|.

    For a positive train value this is 1 - test/train: 0 = held up, 0.5 = lost half,
    1 = gone, > 1 = turned negative, < 0 = improved out of sample. Dividing by |train| keeps the
    sign meaning "worse out of sample" for a negative train value too. NaN when train == 0:
    there is no in-sample level to lose a share of.
    """
    if train == 0.0:
        return math.nan
    return (train - test) / abs(train)


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError("returns and Sharpe ratios must be finite (drop NaN bars first)")
    return array
