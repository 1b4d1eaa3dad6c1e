"""Per-variant sums → `statistics.Summary` per metric, and the experiment's analysis (pure).

The unit of randomisation is the unit (user or session), not the request. Per-request metrics are
ratios of two per-unit totals (cost / requests, latency / timed requests, errors / requests, score
sum / scores): the delta method then accounts for units making many correlated requests, where a
per-request mean would understate the variance (the approach of GrowthBook's ratio metrics), and
they are compared with a z-test. Per-unit metrics are one observation per unit, so the textbook
tests hold: `cost_per_unit` (a unit's total cost) is a mean compared with Welch's t-test, and
`units_with_errors` (the share of units that met an error) a rate compared with the two-proportion
test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.prompts.statistics import (
    Analysis,
    Guardrail,
    Metric,
    Summary,
    VariantData,
    analyse,
    mean_from_sums,
    rate_summary,
    ratio_summary,
)

# metric → (numerator, denominator) of the usage sums; lower is better for all of them.
USAGE_METRICS: dict[str, tuple[str, str]] = {
    "cost_per_request": ("cost", "events"),
    "latency_ms": ("latency", "latency_n"),
    "error_rate": ("errors", "events"),
    "tokens_per_request": ("tokens", "events"),
    "cost_per_success": ("cost", "successes"),
}
# Per-unit metrics (one observation per unit), lower is better too.
UNIT_METRICS = ("cost_per_unit", "units_with_errors")
SCORE_PREFIX = "score:"


@dataclass(frozen=True)
class Moments:
    """Over n units: Σx, Σy, Σx², Σy², Σxy of per-unit totals x (numerator) and y (denominator)."""

    n: int
    x: float
    y: float
    xx: float
    yy: float
    xy: float


def ratio_of(m: Moments) -> Summary | None:
    """The ratio Σx/Σy with its delta-method variance, or None when it cannot be estimated."""
    if m.n < 2 or m.y == 0:
        return None
    mx, my = m.x / m.n, m.y / m.n
    var_x = max(0.0, (m.xx - m.n * mx * mx) / (m.n - 1))
    var_y = max(0.0, (m.yy - m.n * my * my) / (m.n - 1))
    cov = (m.xy - m.n * mx * my) / (m.n - 1)
    if not all(math.isfinite(v) for v in (mx, my, var_x, var_y, cov)):
        return None
    return ratio_summary(m.n, mx, my, var_x, var_y, cov)


def usage_moments(usage: Mapping[str, float], metric: str) -> Moments:
    """A metric's moments from a variant's usage sums (`VariantUsage` as a mapping)."""
    num, den = USAGE_METRICS[metric]
    cross = usage[f"{num}_{den}"]
    return Moments(int(usage["units"]), usage[num], usage[den], usage[f"{num}_sq"], usage[f"{den}_sq"], cross)


def unit_summaries(usage: Mapping[str, float]) -> dict[str, Summary | None]:
    """The per-unit metrics of a variant's usage sums; None where they cannot be estimated yet."""
    units = int(usage["units"])
    if units < 2:
        return dict.fromkeys(UNIT_METRICS)
    with_errors = round(usage.get("error_units", 0.0))
    return {
        "cost_per_unit": mean_from_sums(units, usage["cost"], usage["cost_sq"]),
        "units_with_errors": rate_summary(units, min(max(with_errors, 0), units)),
    }


def higher_is_better(metric: str) -> bool:
    return metric.startswith(SCORE_PREFIX)


@dataclass(frozen=True)
class VariantInput:
    key: str
    weight: float
    exposures: int
    moments: Mapping[str, Moments]  # ratio metrics by name
    summaries: Mapping[str, Summary | None] = field(default_factory=dict)  # per-unit metrics by name


@dataclass(frozen=True)
class Outcome:
    analysis: Analysis
    summaries: Mapping[str, Mapping[str, Summary]]  # variant → metric → summary
    insufficient: tuple[str, ...]


def evaluate(
    variants: Sequence[VariantInput],
    primary: str,
    guardrails: Sequence[Guardrail],
    metrics: Sequence[str],
) -> Outcome:
    """Analyse the metrics every variant can estimate; the first variant is the control. A metric
    some variant cannot estimate yet is listed as insufficient (a guardrail on it waits too)."""
    summaries: dict[str, dict[str, Summary]] = {v.key: {} for v in variants}
    insufficient: list[str] = []
    for metric in metrics:
        found = {v.key: _summary(v, metric) for v in variants}
        if any(s is None for s in found.values()):
            insufficient.append(metric)
            continue
        for key, summary in found.items():
            assert summary is not None
            summaries[key][metric] = summary
    usable = [m for m in metrics if m not in insufficient]
    chosen = [Metric(m, higher_is_better(m), m == primary) for m in usable]
    analysis = analyse(
        variants[0].key,
        {v.key: VariantData(v.exposures, summaries[v.key]) for v in variants},
        {v.key: v.weight for v in variants},
        chosen,
        [g for g in guardrails if g.metric in usable],
    )
    if primary not in usable:
        analysis = Analysis(
            analysis.control,
            analysis.results,
            analysis.intervals,
            analysis.sample_ratio,
            analysis.guardrails,
            analysis.stop,
            None,
            analysis.winner_reason
            if analysis.sample_ratio.mismatch
            else f"not enough data on the primary metric {primary} yet",
        )
    return Outcome(analysis, summaries, tuple(insufficient))


def _summary(variant: VariantInput, metric: str) -> Summary | None:
    if metric in variant.summaries:
        return variant.summaries[metric]
    return ratio_of(variant.moments[metric]) if metric in variant.moments else None
