"""The pure step from per-variant sums to statistics: per-unit ratio metrics with the delta method,
the wire model carrying every sum each metric needs, and metrics too thin to analyse."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from services.prompts.experiment_metrics import (
    UNIT_METRICS,
    USAGE_METRICS,
    Moments,
    VariantInput,
    evaluate,
    ratio_of,
    unit_summaries,
    usage_moments,
)
from services.prompts.statistics import Guardrail
from shared.messages.experiments import VariantUsage


def moments(pairs: list[tuple[float, float]]) -> Moments:
    return Moments(
        len(pairs),
        sum(x for x, _ in pairs),
        sum(y for _, y in pairs),
        sum(x * x for x, _ in pairs),
        sum(y * y for _, y in pairs),
        sum(x * y for x, y in pairs),
    )


def test_ratio_from_sums_matches_the_delta_method_on_the_unit_values() -> None:
    """Σx/Σy and its variance from the five sums equal the delta method computed with numpy's
    covariance of the per-unit values."""
    rng = random.Random(7)
    pairs = [(rng.uniform(0.5, 3.0) * k, float(k)) for k in (rng.randint(1, 6) for _ in range(200))]
    found = ratio_of(moments(pairs))
    assert found is not None
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    cov = np.cov(x, y, ddof=1)
    ratio = x.mean() / y.mean()
    expected = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / y.mean() ** 2
    assert found.estimate == pytest.approx(ratio, rel=1e-12)
    assert found.unit_variance == pytest.approx(expected, rel=1e-9)


def test_units_with_many_correlated_requests_widen_the_interval() -> None:
    """A unit's requests are not independent: the same costs grouped into few heavy units give a
    larger variance of the mean cost per request than one request per unit."""
    costs = [1.0 + (i % 10) / 10 for i in range(200)]
    one_each = ratio_of(moments([(c, 1.0) for c in costs]))
    # Ten units of twenty requests each, the expensive requests concentrated in a few units.
    grouped = sorted(costs)
    clustered = ratio_of(moments([(sum(grouped[i : i + 20]), 20.0) for i in range(0, 200, 20)]))
    assert one_each is not None
    assert clustered is not None
    assert clustered.estimate == pytest.approx(one_each.estimate)
    assert clustered.variance_of_estimate > 3 * one_each.variance_of_estimate


def test_every_usage_metric_has_its_sums_on_the_wire() -> None:
    """Each built-in metric's numerator, denominator, their squares and cross product are fields of
    VariantUsage, so no metric silently loses its covariance."""
    fields = set(VariantUsage.model_fields)
    for metric, (num, den) in USAGE_METRICS.items():
        assert {num, den, f"{num}_sq", f"{den}_sq", f"{num}_{den}"} <= fields, metric
        usage = {name: 1.0 for name in fields if name != "variant"} | {"units": 3}
        assert usage_moments(usage, metric).xy == 1.0


def test_a_metric_a_variant_cannot_estimate_is_left_out_and_blocks_a_winner() -> None:
    """A variant with one unit on the primary metric: it is listed as insufficient, no winner is
    suggested, and a guardrail on it does not fire."""
    strong = moments([(1.0 + i % 3, 1.0) for i in range(50)])
    variants = [
        VariantInput("a", 0.5, 50, {"cost_per_request": strong, "latency_ms": strong}),
        VariantInput("b", 0.5, 50, {"cost_per_request": moments([(0.1, 1.0)]), "latency_ms": strong}),
    ]
    outcome = evaluate(
        variants, "cost_per_request", [Guardrail("cost_per_request", 0.0)], ["cost_per_request", "latency_ms"]
    )
    assert outcome.insufficient == ("cost_per_request",)
    assert outcome.analysis.winner is None
    assert "not enough data" in outcome.analysis.winner_reason
    assert outcome.analysis.guardrails == ()
    assert set(outcome.summaries["b"]) == {"latency_ms"}
    assert math.isfinite(outcome.summaries["b"]["latency_ms"].estimate)


def usage_of(costs: list[float], errors: list[int]) -> dict[str, float]:
    """A variant's usage sums with one request per unit, of the given cost and error count."""
    usage = {name: 0.0 for name in VariantUsage.model_fields if name != "variant"}
    usage.update(
        units=len(costs),
        events=float(len(costs)),
        cost=sum(costs),
        cost_sq=sum(c * c for c in costs),
        error_units=float(sum(1 for e in errors if e > 0)),
    )
    return usage


def test_per_unit_metrics_are_compared_by_welch_and_the_two_proportion_test() -> None:
    """cost_per_unit is a mean per unit compared with Welch's t-test (scipy's p-value), and
    units_with_errors a share of units compared with the pooled two-proportion z-test
    (statsmodels' p-value): the textbook tests where each unit is one observation."""
    rng = random.Random(11)
    control_costs = [rng.uniform(1.0, 3.0) for _ in range(80)]
    treatment_costs = [rng.uniform(0.8, 2.2) for _ in range(60)]
    control_errors = [1 if i % 5 == 0 else 0 for i in range(80)]
    treatment_errors = [1 if i % 12 == 0 else 0 for i in range(60)]
    variants = [
        VariantInput("c", 0.5, 80, {}, unit_summaries(usage_of(control_costs, control_errors))),
        VariantInput("t", 0.5, 60, {}, unit_summaries(usage_of(treatment_costs, treatment_errors))),
    ]
    outcome = evaluate(variants, "cost_per_unit", [], list(UNIT_METRICS))
    found = {r.metric: r.comparison for r in outcome.analysis.results}
    welch = stats.ttest_ind(treatment_costs, control_costs, equal_var=False)
    assert found["cost_per_unit"].p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert found["cost_per_unit"].df == pytest.approx(welch.df, rel=1e-9)
    _, p_rate = proportions_ztest([sum(treatment_errors), sum(control_errors)], [60, 80])
    assert found["units_with_errors"].p_value == pytest.approx(p_rate, rel=1e-9)
    assert outcome.summaries["c"]["units_with_errors"].estimate == pytest.approx(16 / 80)


def test_per_unit_metrics_wait_for_two_units() -> None:
    """A variant with one unit cannot estimate per-unit metrics: they are listed as insufficient."""
    assert unit_summaries(usage_of([1.0], [0])) == dict.fromkeys(UNIT_METRICS)
