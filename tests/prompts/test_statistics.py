"""Experiment statistics agree with scipy.stats / statsmodels on fixed data, and the sequential
interval keeps its error rate under continuous peeking."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from services.prompts.distributions import chi2_sf, t_ppf, t_sf
from services.prompts.statistics import (
    Guardrail,
    Metric,
    VariantData,
    analyse,
    compare,
    confidence_sequence,
    holm,
    interval,
    lift_variance,
    mean_from_sums,
    mean_from_values,
    rate_summary,
    ratio_summary,
    sample_ratio_mismatch,
)

RNG = np.random.default_rng(20240917)
CONTROL = RNG.lognormal(mean=0.0, sigma=0.6, size=400)
TREATMENT = RNG.lognormal(mean=0.08, sigma=0.9, size=350)


def test_distribution_tails_match_scipy() -> None:
    """t tail and quantile (fractional df too) and chi-square tail equal scipy's to 1e-9."""
    for t, df in itertools.product([0, 0.3, 1, 1.96, 3, 8], [1, 2.5, 7, 30.2, 400, 1e5]):
        assert t_sf(t, df) == pytest.approx(stats.t.sf(t, df), abs=1e-9)
    for p, df in itertools.product([0.6, 0.95, 0.975, 0.999], [1, 3.3, 12, 1000]):
        assert t_ppf(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)
    for x, df in itertools.product([0.01, 1, 5.5, 30, 120], [1, 2, 4, 9]):
        assert chi2_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), abs=1e-12)


def test_welch_test_matches_scipy() -> None:
    """Welch's t statistic, p-value and difference interval equal scipy.stats.ttest_ind(equal_var=False)."""
    ours = compare(mean_from_values(list(CONTROL)), mean_from_values(list(TREATMENT)))
    theirs = stats.ttest_ind(TREATMENT, CONTROL, equal_var=False)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-7)
    low, high = theirs.confidence_interval(0.95)
    assert (ours.difference_interval.low, ours.difference_interval.high) == pytest.approx(
        (low, high), rel=1e-7
    )


def test_summaries_from_sums_equal_summaries_from_values() -> None:
    """(n, Σx, Σx²) as a store keeps them give the same summary as the raw values."""
    from_sums = mean_from_sums(len(CONTROL), float(CONTROL.sum()), float((CONTROL**2).sum()))
    from_values = mean_from_values(list(CONTROL))
    assert from_sums.estimate == pytest.approx(from_values.estimate)
    assert from_sums.unit_variance == pytest.approx(from_values.unit_variance, rel=1e-9)


def test_mean_and_rate_intervals_match_scipy_and_statsmodels() -> None:
    """A mean's t interval equals scipy's; a rate's Wilson interval equals statsmodels'."""
    summary = mean_from_values(list(CONTROL))
    low, high = stats.t.interval(0.95, len(CONTROL) - 1, loc=CONTROL.mean(), scale=stats.sem(CONTROL))
    ours = interval(summary)
    assert (ours.low, ours.high) == pytest.approx((low, high), rel=1e-9)
    rate = interval(rate_summary(480, 37))
    assert (rate.low, rate.high) == pytest.approx(proportion_confint(37, 480, method="wilson"), rel=1e-9)


def test_two_proportion_test_matches_statsmodels() -> None:
    """The pooled two-proportion z statistic and p-value equal statsmodels' proportions_ztest."""
    ours = compare(rate_summary(5000, 410), rate_summary(5100, 362))
    z, p = proportions_ztest([362, 410], [5100, 5000])
    assert ours.statistic == pytest.approx(z, rel=1e-9)
    assert ours.p_value == pytest.approx(p, rel=1e-9)


def test_lift_variance_is_the_delta_method() -> None:
    """The relative lift's variance equals gradient' Σ gradient of t/c - 1 (numerical gradient)."""
    control, treatment = mean_from_values(list(CONTROL)), mean_from_values(list(TREATMENT))
    c, t = control.estimate, treatment.estimate
    h = 1e-6
    gradient = np.array(
        [((t / (c + h)) - (t / (c - h))) / (2 * h), (((t + h) / c) - ((t - h) / c)) / (2 * h)]
    )
    covariance = np.diag([control.variance_of_estimate, treatment.variance_of_estimate])
    assert lift_variance(control, treatment) == pytest.approx(
        float(gradient @ covariance @ gradient), rel=1e-6
    )


def test_ratio_metric_variance_matches_the_delta_method_on_units() -> None:
    """Cost per successful outcome: the ratio and its variance equal the linearised units' variance."""
    cost = RNG.gamma(2.0, 0.01, size=800)
    success = (RNG.random(800) < 0.7).astype(float)
    summary = ratio_summary(
        800,
        cost.mean(),
        success.mean(),
        cost.var(ddof=1),
        success.var(ddof=1),
        float(np.cov(cost, success)[0, 1]),
    )
    ratio = cost.sum() / success.sum()
    linearised = (cost - ratio * success) / success.mean()
    assert summary.estimate == pytest.approx(ratio)
    assert summary.unit_variance == pytest.approx(linearised.var(ddof=1), rel=1e-9)


def test_holm_matches_statsmodels() -> None:
    """Holm's adjusted p-values equal statsmodels' multipletests(method='holm'), in input order."""
    p_values = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
    assert holm(p_values) == pytest.approx(list(multipletests(p_values, method="holm")[1]))


def test_srm_matches_scipy_and_flags_a_skewed_split() -> None:
    """The chi-square equals scipy.stats.chisquare; a 50/50 experiment that logged 5,200 vs 4,800 is flagged,
    5,030 vs 4,970 is not."""
    skewed = sample_ratio_mismatch([5200, 4800], [0.5, 0.5])
    theirs = stats.chisquare([5200, 4800], [5000, 5000])
    assert (skewed.chi_square, skewed.p_value) == pytest.approx((theirs.statistic, theirs.pvalue))
    assert skewed.mismatch
    assert not sample_ratio_mismatch([5030, 4970], [0.5, 0.5]).mismatch
    three = sample_ratio_mismatch([3000, 2000, 5050], [0.3, 0.2, 0.5])
    assert three.p_value == pytest.approx(stats.chisquare([3000, 2000, 5050], [3015, 2010, 5025]).pvalue)


def test_confidence_sequence_and_its_p_value_agree() -> None:
    """The anytime-valid p-value is below alpha exactly when the sequence excludes zero, and the sequence
    is wider than the fixed-horizon interval."""
    for estimate in np.linspace(-0.2, 0.2, 41):
        seq = confidence_sequence(float(estimate), 0.004, 2000)
        assert (seq.p_value < 0.05) == (not seq.interval.contains(0.0))
        fixed_half = 1.959964 * math.sqrt(0.004)
        assert seq.interval.high - estimate > fixed_half


def test_peeking_at_the_sequence_keeps_false_winners_below_alpha() -> None:
    """Under no true effect, stopping at the first of 40 looks that 'wins' is wrong in < 5 % of 300
    experiments with the confidence sequence, while the fixed-horizon test is wrong far more often."""
    rng = np.random.default_rng(7)
    sequential_wins = fixed_wins = 0
    for _ in range(300):
        a, b = rng.normal(1.0, 1.0, 4000), rng.normal(1.0, 1.0, 4000)
        sums_a, sums_b, squares_a, squares_b = a.cumsum(), b.cumsum(), (a * a).cumsum(), (b * b).cumsum()
        seq_hit = fixed_hit = False
        for look in range(100, 4001, 100):
            i = look - 1
            cmp = compare(
                mean_from_sums(look, float(sums_a[i]), float(squares_a[i])),
                mean_from_sums(look, float(sums_b[i]), float(squares_b[i])),
            )
            seq_hit = (
                seq_hit or confidence_sequence(cmp.relative_lift, cmp.lift_variance, 2 * look).p_value < 0.05
            )
            fixed_hit = fixed_hit or cmp.p_value < 0.05
        sequential_wins += seq_hit
        fixed_wins += fixed_hit
    assert sequential_wins / 300 < 0.05
    assert fixed_wins / 300 > 0.15


def _variants(
    treatment_shift: float, cost_shift: float, units: tuple[int, int] = (5000, 5000)
) -> dict[str, VariantData]:
    rng = np.random.default_rng(11)
    data = {}
    for name, shift, cshift, n in (
        ("control", 0.0, 0.0, units[0]),
        ("b", treatment_shift, cost_shift, units[1]),
    ):
        score = rng.normal(0.70 + shift, 0.2, n)
        cost = rng.gamma(2.0, 0.005 * (1 + cshift), n)
        data[name] = VariantData(
            n, {"score": mean_from_values(list(score)), "cost": mean_from_values(list(cost))}
        )
    return data


def test_a_clear_improvement_is_suggested_as_the_winner() -> None:
    """A variant 5 % better on the primary metric, within its cost guardrail, is the suggested winner."""
    analysis = analyse(
        "control",
        _variants(0.035, 0.0),
        {"control": 0.5, "b": 0.5},
        [Metric("score", primary=True), Metric("cost", higher_is_better=False)],
        [Guardrail("cost", max_relative_increase=0.1)],
    )
    assert analysis.winner == "b"
    assert analysis.stop == ()
    assert all(
        r.adjusted_p_value >= min(r.sequential.p_value if r.sequential else 1, 1) for r in analysis.results
    )


def test_a_breached_cost_guardrail_stops_the_variant_and_blocks_the_win() -> None:
    """A variant that costs 40 % more is stopped (guardrail breached) and not suggested even though it scores
    better."""
    analysis = analyse(
        "control",
        _variants(0.035, 0.4),
        {"control": 0.5, "b": 0.5},
        [Metric("score", primary=True)],
        [Guardrail("cost", max_relative_increase=0.1)],
    )
    assert analysis.stop == ("b",)
    assert analysis.winner is None
    assert analysis.guardrails[0].breached
    assert "cost" in analysis.guardrails[0].reason


def test_no_winner_without_significance_or_with_sample_ratio_mismatch() -> None:
    """No effect gives no winner; a real effect with a broken 50/50 split (SRM) gives none either."""
    flat = analyse(
        "control", _variants(0.0, 0.0), {"control": 0.5, "b": 0.5}, [Metric("score", primary=True)]
    )
    assert flat.winner is None
    skewed = analyse(
        "control",
        _variants(0.035, 0.0, (5000, 4400)),
        {"control": 0.5, "b": 0.5},
        [Metric("score", primary=True)],
    )
    assert skewed.sample_ratio.mismatch
    assert skewed.winner is None
    assert "mismatch" in skewed.winner_reason
