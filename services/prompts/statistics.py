"""Experiment statistics over per-variant summaries (the store aggregates; this only computes).

- Each metric of a variant is a `Summary`: a mean of a continuous metric (cost, latency, tokens,
  score), a rate (errors, successes) or a ratio of two per-unit sums (cost per successful outcome,
  delta method with their covariance).
- Intervals: t for means, Wilson's score interval for rates, normal for ratios.
- Comparisons with the control: Welch's t-test for means (Welch-Satterthwaite degrees of freedom),
  the pooled two-proportion z-test for rates, a z-test for ratios; the difference with its interval,
  and the relative lift with the delta-method variance Var(t/c) ≈ Var(t)/c² + t²Var(c)/c⁴.
- Several variants x metrics: Holm's step-down correction. Holm rather than Benjamini-Hochberg
  because a winner here is promoted to production: we want the chance of *any* false winner
  (family-wise error) bounded, not the expected share of false ones, and with at most 9 variants x
  a few metrics Holm costs little power. Holm needs no independence, so it holds for the
  correlated metrics of one experiment and for anytime-valid p-values alike.
- Looking early: the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Wang and Ramdas,
  "Time-uniform central limit theory and asymptotic confidence sequences" (Annals of Statistics,
  2024; arXiv:2103.06476, eqs. 155 and 161), a normal-mixture boundary, as GrowthBook's sequential
  testing uses it (tuning parameter n* = 5000 by default): its interval and p-value stay valid
  however often they are looked at. The p-value of one look is returned; a caller that keeps the
  running minimum across looks gets the always-valid p-value.
- Sample-ratio mismatch: Pearson's chi-square of the units per variant against the weights,
  flagged below p = 0.001 (GrowthBook's threshold); a flagged experiment suggests no winner.
- Guardrails (lower is better: cost, latency, error rate): breached when the confidence sequence
  of the relative lift lies entirely above the allowed increase, or the variant's own interval
  lies above an absolute ceiling; sequential because guardrails are watched continuously; not
  corrected for multiplicity, erring towards stopping a variant.
- A winner is suggested only when its primary metric is significant after correction, in the good
  direction, with no guardrail breached and no sample-ratio mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.prompts.distributions import (
    STANDARD_NORMAL,
    chi2_sf,
    normal_two_sided_p,
    t_ppf,
    t_two_sided_p,
)

DEFAULT_ALPHA = 0.05
SRM_THRESHOLD = 0.001
DEFAULT_TUNING = 5000.0


class Kind(StrEnum):
    MEAN = "mean"
    RATE = "rate"
    RATIO = "ratio"


@dataclass(frozen=True)
class Summary:
    kind: Kind
    n: int
    estimate: float
    # Variance of one unit's value (ratios: of the linearised value); the estimate's is this / n.
    unit_variance: float

    @property
    def variance_of_estimate(self) -> float:
        return self.unit_variance / self.n if self.n > 0 else math.inf


def mean_summary(n: int, mean: float, variance: float) -> Summary:
    """From a count, mean and sample variance (n - 1 in the denominator)."""
    if n < 2 or variance < 0 or not math.isfinite(mean):
        raise ValueError("a mean needs n >= 2, a finite mean and a variance >= 0")
    return Summary(Kind.MEAN, n, mean, variance)


def mean_from_sums(n: int, total: float, total_of_squares: float) -> Summary:
    """From the sums a store keeps (count, Σx, Σx²)."""
    mean = total / n
    variance = max(0.0, (total_of_squares - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    return mean_summary(n, mean, variance)


def mean_from_values(values: Sequence[float]) -> Summary:
    n = len(values)
    mean = math.fsum(values) / n
    return mean_summary(n, mean, math.fsum((x - mean) ** 2 for x in values) / (n - 1))


def rate_summary(n: int, successes: int) -> Summary:
    if n < 1 or not 0 <= successes <= n:
        raise ValueError("a rate needs 0 <= successes <= n and n >= 1")
    p = successes / n
    return Summary(Kind.RATE, n, p, p * (1 - p))


def ratio_summary(
    n: int,
    mean_numerator: float,
    mean_denominator: float,
    var_numerator: float,
    var_denominator: float,
    covariance: float,
) -> Summary:
    """Σnumerator / Σdenominator over n units (cost per successful outcome: cost / successes), with
    the delta method's unit variance (var_x - 2 R cov_xy + R² var_y) / mean_y²."""
    if n < 2 or mean_denominator == 0:
        raise ValueError("a ratio needs n >= 2 and a non-zero denominator")
    ratio = mean_numerator / mean_denominator
    unit = (var_numerator - 2 * ratio * covariance + ratio * ratio * var_denominator) / mean_denominator**2
    return Summary(Kind.RATIO, n, ratio, max(unit, 0.0))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def interval(summary: Summary, alpha: float = DEFAULT_ALPHA) -> Interval:
    """The interval of one variant's value: t for means, Wilson for rates, normal for ratios."""
    if summary.kind is Kind.RATE:
        z = STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
        n, p = summary.n, summary.estimate
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return Interval(centre - half, centre + half)
    q = (
        t_ppf(1 - alpha / 2, summary.n - 1)
        if summary.kind is Kind.MEAN
        else STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    )
    half = q * math.sqrt(summary.variance_of_estimate)
    return Interval(summary.estimate - half, summary.estimate + half)


@dataclass(frozen=True)
class Comparison:
    difference: float
    difference_interval: Interval
    statistic: float
    df: float  # math.inf for z-tests
    p_value: float
    relative_lift: float
    lift_variance: float
    lift_interval: Interval


def welch_df(control: Summary, treatment: Summary) -> float:
    vc, vt = control.variance_of_estimate, treatment.variance_of_estimate
    denominator = vc * vc / (control.n - 1) + vt * vt / (treatment.n - 1)
    return (vc + vt) ** 2 / denominator if denominator > 0 else math.inf


def lift_variance(control: Summary, treatment: Summary) -> float:
    """Delta method for t/c - 1: Var(t)/c² + t²Var(c)/c⁴ (the two variants are independent)."""
    c, t = control.estimate, treatment.estimate
    return treatment.variance_of_estimate / c**2 + t * t * control.variance_of_estimate / c**4


def compare(control: Summary, treatment: Summary, alpha: float = DEFAULT_ALPHA) -> Comparison:
    if control.kind is not treatment.kind:
        raise ValueError("a comparison is between summaries of one kind")
    difference = treatment.estimate - control.estimate
    se = math.sqrt(control.variance_of_estimate + treatment.variance_of_estimate)
    if control.kind is Kind.MEAN:
        df = welch_df(control, treatment)
        statistic = (
            difference / se if se > 0 else (0.0 if difference == 0 else math.copysign(math.inf, difference))
        )
        p_value = t_two_sided_p(statistic, df) if math.isfinite(statistic) else 0.0
        quantile = t_ppf(1 - alpha / 2, df)
    else:
        df = math.inf
        test_se = se
        if control.kind is Kind.RATE:
            # The test pools the two rates (the null says they are equal); the interval does not.
            pooled = (control.estimate * control.n + treatment.estimate * treatment.n) / (
                control.n + treatment.n
            )
            test_se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
        statistic = difference / test_se if test_se > 0 else 0.0
        p_value = normal_two_sided_p(statistic)
        quantile = STANDARD_NORMAL.inv_cdf(1 - alpha / 2)
    if control.estimate != 0:
        lift = treatment.estimate / control.estimate - 1
        variance = lift_variance(control, treatment)
    else:
        lift, variance = math.nan, math.nan
    half = quantile * math.sqrt(variance) if math.isfinite(variance) else math.nan
    return Comparison(
        difference,
        Interval(difference - quantile * se, difference + quantile * se),
        statistic,
        df,
        p_value,
        lift,
        variance,
        Interval(lift - half, lift + half),
    )


@dataclass(frozen=True)
class Sequential:
    interval: Interval
    p_value: float


def sequential_rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture's spread, chosen so the boundary is tightest near n = tuning (eq. 161)."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning)


def confidence_sequence(
    estimate: float,
    variance_of_estimate: float,
    n: int,
    alpha: float = DEFAULT_ALPHA,
    tuning: float = DEFAULT_TUNING,
) -> Sequential:
    """Anytime-valid interval and p-value for an estimate over n units in all (both variants)."""
    rho = sequential_rho(alpha, tuning)
    unit_variance = variance_of_estimate * n
    r = n * rho * rho + 1
    half = math.sqrt(unit_variance) * math.sqrt(2 * r * math.log(math.sqrt(r) / alpha) / (n * n * rho * rho))
    if variance_of_estimate > 0:
        st2 = estimate * estimate * n / variance_of_estimate
        log_e_value = rho * rho * st2 / (2 * r) - 0.5 * math.log(r)
        p_value = math.exp(-log_e_value) if log_e_value > 0 else 1.0
    else:
        p_value = 1.0 if estimate == 0 else 0.0
    return Sequential(Interval(estimate - half, estimate + half), min(1.0, p_value))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class SampleRatio:
    chi_square: float
    df: int
    p_value: float
    mismatch: bool
    expected: tuple[float, ...]


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("one count per weight, two or more")
    total = sum(observed)
    weight_sum = math.fsum(weights)
    expected = tuple(total * w / weight_sum for w in weights)
    if total == 0:
        return SampleRatio(0.0, len(observed) - 1, 1.0, False, expected)
    chi_square = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p_value = chi2_sf(chi_square, len(observed) - 1)
    return SampleRatio(chi_square, len(observed) - 1, p_value, p_value < threshold, expected)


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool = True
    primary: bool = False


@dataclass(frozen=True)
class Guardrail:
    """A metric where lower is better (cost, latency, error rate)."""

    metric: str
    # Stop when confidently more than this much worse than the control (0.1: 10 % worse).
    max_relative_increase: float | None = 0.0
    # Stop when the variant's own value is confidently above this (e.g. 2000 ms mean latency).
    max_value: float | None = None


@dataclass(frozen=True)
class VariantData:
    units: int
    metrics: Mapping[str, Summary]


@dataclass(frozen=True)
class MetricResult:
    variant: str
    metric: str
    comparison: Comparison
    sequential: Sequential | None
    adjusted_p_value: float
    significant: bool
    improvement: bool


@dataclass(frozen=True)
class GuardrailStatus:
    variant: str
    metric: str
    breached: bool
    reason: str


@dataclass(frozen=True)
class Analysis:
    control: str
    results: tuple[MetricResult, ...]
    intervals: Mapping[str, Mapping[str, Interval]]
    sample_ratio: SampleRatio
    guardrails: tuple[GuardrailStatus, ...]
    stop: tuple[str, ...]  # variants to stop now (a guardrail breached)
    winner: str | None
    winner_reason: str


def analyse(
    control: str,
    variants: Mapping[str, VariantData],
    weights: Mapping[str, float],
    metrics: Sequence[Metric],
    guardrails: Sequence[Guardrail] = (),
    alpha: float = DEFAULT_ALPHA,
    sequential: bool = True,
    tuning: float = DEFAULT_TUNING,
) -> Analysis:
    if control not in variants:
        raise ValueError("the control is one of the variants")
    names = list(variants)
    treatments = [v for v in names if v != control]
    srm = sample_ratio_mismatch([variants[v].units for v in names], [weights[v] for v in names])
    intervals = {v: {m: interval(s, alpha) for m, s in data.metrics.items()} for v, data in variants.items()}
    raw: list[tuple[str, Metric, Comparison, Sequential | None]] = []
    for variant in treatments:
        for metric in metrics:
            c, t = variants[control].metrics[metric.name], variants[variant].metrics[metric.name]
            comparison = compare(c, t, alpha)
            seq = (
                confidence_sequence(
                    comparison.relative_lift, comparison.lift_variance, c.n + t.n, alpha, tuning
                )
                if sequential and math.isfinite(comparison.lift_variance)
                else None
            )
            raw.append((variant, metric, comparison, seq))
    adjusted = holm([seq.p_value if seq is not None else cmp.p_value for _, _, cmp, seq in raw])
    results = tuple(
        MetricResult(
            variant,
            metric.name,
            cmp,
            seq,
            p,
            p < alpha,
            (cmp.relative_lift > 0) == metric.higher_is_better and cmp.difference != 0,
        )
        for (variant, metric, cmp, seq), p in zip(raw, adjusted, strict=True)
    )
    statuses = tuple(
        _guardrail(variant, guardrail, variants[control], variants[variant], alpha, tuning)
        for variant in treatments
        for guardrail in guardrails
    )
    stop = tuple(sorted({s.variant for s in statuses if s.breached}))
    winner, reason = _winner(results, metrics, stop, srm)
    return Analysis(control, results, intervals, srm, statuses, stop, winner, reason)


def _guardrail(
    variant: str,
    guardrail: Guardrail,
    control: VariantData,
    treatment: VariantData,
    alpha: float,
    tuning: float,
) -> GuardrailStatus:
    c, t = control.metrics[guardrail.metric], treatment.metrics[guardrail.metric]
    if guardrail.max_relative_increase is not None and c.estimate != 0:
        comparison = compare(c, t, alpha)
        seq = confidence_sequence(
            comparison.relative_lift, comparison.lift_variance, c.n + t.n, alpha, tuning
        )
        if seq.interval.low > guardrail.max_relative_increase:
            return GuardrailStatus(
                variant,
                guardrail.metric,
                True,
                f"{guardrail.metric} is at least {seq.interval.low:+.1%} vs the control "
                f"(allowed {guardrail.max_relative_increase:+.1%})",
            )
    if guardrail.max_value is not None:
        own = confidence_sequence(t.estimate, t.variance_of_estimate, t.n, alpha, tuning).interval
        if own.low > guardrail.max_value:
            return GuardrailStatus(
                variant,
                guardrail.metric,
                True,
                f"{guardrail.metric} is at least {own.low:.4g} (ceiling {guardrail.max_value:.4g})",
            )
    return GuardrailStatus(variant, guardrail.metric, False, "within bounds")


def _winner(
    results: Sequence[MetricResult], metrics: Sequence[Metric], stop: Sequence[str], srm: SampleRatio
) -> tuple[str | None, str]:
    if srm.mismatch:
        return None, f"sample ratio mismatch (p = {srm.p_value:.2g}): assignment or logging is broken"
    primary = [m.name for m in metrics if m.primary] or [metrics[0].name] if metrics else []
    candidates = [
        r
        for r in results
        if r.metric in primary and r.significant and r.improvement and r.variant not in stop
    ]
    if not candidates:
        return None, "no variant is significantly better on the primary metric after correction"
    best = max(candidates, key=lambda r: abs(r.comparison.relative_lift))
    return best.variant, (
        f"{best.metric} {best.comparison.relative_lift:+.1%} (adjusted p = {best.adjusted_p_value:.2g})"
    )
