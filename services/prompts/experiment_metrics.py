"""Per-variant sums → `statistics.Summary` per metric, and the experiment's analysis (pure).

The unit of randomisation is the unit (user or session), not the request, so every metric is a
ratio of two per-unit totals (cost / requests, latency / timed requests, errors / requests, score
sum / scores): the delta method then accounts for units making many correlated requests, where a
per-request mean would understate the variance (the approach of GrowthBook's ratio metrics).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.prompts.statistics import (
    Analysis,
    Guardrail,
    Metric,
    Summary,
    VariantData,
    analyse,
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


def higher_is_better(metric: str) -> bool:
    return metric.startswith(SCORE_PREFIX)


@dataclass(frozen=True)
class VariantInput:
    key: str
    weight: float
    exposures: int
    moments: Mapping[str, Moments]  # by metric name


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
        found = {v.key: ratio_of(v.moments[metric]) if metric in v.moments else None for v in variants}
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
