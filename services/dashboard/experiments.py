"""The experiment page: an experiment's variants and weights, and its results (`GET
/api/v1/experiments/{id}/results`) per metric: each variant's estimate with its interval, the lift
against the control with its interval and p-value, the sample-ratio check, guardrails, the winner;
beside each metric's table a chart of the same estimates and intervals, and the winner's promotion
(`POST /api/v1/experiments/{id}/promote`) for those who may.

Pure: the API's answers in, rows out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.dashboard import formatting
from services.dashboard.prompts import move_done, move_problem
from shared.messages.envelope import ErrorBody
from shared.messages.experiments import (
    ExperimentId,
    ExperimentInfo,
    ExperimentResults,
    IntervalInfo,
    WinnerPromoted,
)
from shared.messages.prompts import LabelName

METRIC_WORDS = {
    "cost_per_request": "Cost per request",
    "latency_ms": "Latency",
    "error_rate": "Error rate",
    "tokens_per_request": "Tokens per request",
    "cost_per_success": "Cost per successful request",
    "cost_per_unit": "Cost per unit (Welch's t-test)",
    "units_with_errors": "Units that met an error (two-proportion test)",
}


class ExperimentQuery(BaseModel):
    """The experiment page's path (a query string is ignored)."""

    model_config = ConfigDict(extra="ignore")

    experiment_id: ExperimentId


def metric_words(metric: str) -> str:
    if metric.startswith("score:"):
        return f"Score “{metric.removeprefix('score:')}”"
    return METRIC_WORDS.get(metric, metric)


def value_text(metric: str, value: float | None) -> str:
    """An estimate as its metric reads: dollars, milliseconds, a share, tokens, a score."""
    if value is None:
        return "—"
    if metric in ("cost_per_request", "cost_per_success", "cost_per_unit"):
        return formatting.usd(value) if abs(value) >= 0.0001 or value == 0 else f"${value:.2e}"
    if metric == "latency_ms":
        return f"{value:,.0f} ms"
    if metric in ("error_rate", "units_with_errors"):
        return f"{value * 100:.1f}%"
    if metric == "tokens_per_request":
        return f"{value:,.0f}"
    return f"{value:.3g}"


def interval_text(metric: str, interval: IntervalInfo | None) -> str:
    if interval is None or (interval.low is None and interval.high is None):
        return "—"
    return f"{value_text(metric, interval.low)} to {value_text(metric, interval.high)}"


def lift_text(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


def lift_interval_text(interval: IntervalInfo | None) -> str:
    if interval is None or interval.low is None or interval.high is None:
        return "—"
    return f"{lift_text(interval.low)} to {lift_text(interval.high)}"


def p_text(value: float | None) -> str:
    if value is None:
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


@dataclass(frozen=True)
class VariantRow:
    key: str
    version: int
    weight: str
    control: bool
    stopped: bool
    stop_reason: str | None
    exposures: int | None  # None: the results were not read


def variant_rows(found: ExperimentInfo, results: ExperimentResults | None) -> list[VariantRow]:
    exposures = {v.key: v.exposures for v in results.variants} if results else {}
    control = found.variants[0].key if found.variants else None
    return [
        VariantRow(
            key=v.key,
            version=v.version,
            weight=f"{v.weight * 100:g}%",
            control=v.key == control,
            stopped=v.stopped,
            stop_reason=v.stop_reason,
            exposures=exposures.get(v.key),
        )
        for v in found.variants
    ]


@dataclass(frozen=True)
class MetricCell:
    key: str
    control: bool
    units: int
    estimate: str
    interval: str
    lift: str  # relative lift against the control
    lift_interval: str
    p_value: str  # Holm-adjusted (the one the winner is judged by)
    raw_p_value: str
    significant: bool
    improvement: bool


@dataclass(frozen=True)
class MetricTable:
    metric: str
    title: str
    primary: bool
    rows: list[MetricCell]
    chart: dict[str, Any]  # the same estimates and intervals, for `data-chart` (dashboard.js)


def chart_unit(metric: str) -> str:
    """How the chart's value axis reads (dashboard.js `formatter`): shares are drawn in percent."""
    if metric in ("cost_per_request", "cost_per_success", "cost_per_unit"):
        return "usd"
    if metric == "latency_ms":
        return "ms"
    if metric in ("error_rate", "units_with_errors"):
        return "percent"
    return "count" if metric == "tokens_per_request" else "number"


def _drawn(metric: str, value: float | None) -> float | None:
    if value is None:
        return None
    return round(value * 100, 6) if chart_unit(metric) == "percent" else value


def interval_chart(metric: str, title: str, results: ExperimentResults) -> dict[str, Any]:
    """Each variant's estimate of `metric` as a point with its 95% interval as a whisker (kind
    `interval` in dashboard.js), in the variants' order; `tips` say each in words. A variant without
    the metric is left out, as from its table."""
    labels: list[str] = []
    estimates: list[float | None] = []
    lows: list[float | None] = []
    highs: list[float | None] = []
    tips: list[str] = []
    for variant in results.variants:
        value = next((m for m in variant.metrics if m.metric == metric), None)
        if value is None:
            continue
        labels.append(variant.key)
        estimates.append(_drawn(metric, value.estimate))
        lows.append(_drawn(metric, value.interval.low))
        highs.append(_drawn(metric, value.interval.high))
        tips.append(
            f"{variant.key}{' (control)' if variant.key == results.control else ''}: "
            f"{value_text(metric, value.estimate)}, 95% interval {interval_text(metric, value.interval)}"
        )
    return {
        "kind": "interval",
        "title": title,
        "unit": chart_unit(metric),
        "labels": labels,
        "estimates": estimates,
        "lows": lows,
        "highs": highs,
        "control": results.control,
        "tips": tips,
    }


def metric_tables(results: ExperimentResults) -> list[MetricTable]:
    """One table per metric (the primary first, then as the API lists them), a row per variant."""
    order: list[str] = []
    for variant in results.variants:
        order += [m.metric for m in variant.metrics if m.metric not in order]
    primary = results.experiment.primary_metric
    order.sort(key=lambda m: m != primary)
    tables = []
    for metric in order:
        rows = []
        for variant in results.variants:
            value = next((m for m in variant.metrics if m.metric == metric), None)
            if value is None:
                continue
            vs = next((c for c in variant.comparisons if c.metric == metric), None)
            rows.append(
                MetricCell(
                    key=variant.key,
                    control=variant.key == results.control,
                    units=value.units,
                    estimate=value_text(metric, value.estimate),
                    interval=interval_text(metric, value.interval),
                    lift=lift_text(vs.relative_lift) if vs else "—",
                    lift_interval=lift_interval_text(vs.lift_interval) if vs else "—",
                    p_value=p_text(vs.adjusted_p_value) if vs else "—",
                    raw_p_value=p_text(vs.p_value) if vs else "—",
                    significant=bool(vs and vs.significant),
                    improvement=bool(vs and vs.improvement),
                )
            )
        title = metric_words(metric)
        tables.append(
            MetricTable(metric, title, metric == primary, rows, interval_chart(metric, title, results))
        )
    return tables


@dataclass(frozen=True)
class SampleRatio:
    mismatch: bool
    p_value: str
    chi_square: str
    shares: list[tuple[str, str, str]]  # (variant, expected share, observed share)
    message: str


def sample_ratio(results: ExperimentResults) -> SampleRatio:
    total = sum(v.exposures for v in results.variants)
    expected = results.sample_ratio.expected
    planned = float(sum(expected))
    shares = [
        (
            v.key,
            f"{expected[i] / planned * 100:.1f}%" if i < len(expected) and planned else "—",
            f"{v.exposures / total * 100:.1f}%" if total else "—",
        )
        for i, v in enumerate(results.variants)
    ]
    check = results.sample_ratio
    message = (
        "Sample-ratio mismatch: the variants' exposures are not in the proportions of their weights; "
        "the assignment or the logging is broken, and the results cannot be trusted."
        if check.mismatch
        else "The exposures match the weights."
    )
    return SampleRatio(check.mismatch, p_text(check.p_value), f"{check.chi_square:.2f}", shares, message)


@dataclass(frozen=True)
class GuardrailRow:
    key: str
    metric: str
    breached: bool
    reason: str


def guardrail_rows(results: ExperimentResults) -> list[GuardrailRow]:
    return [
        GuardrailRow(v.key, metric_words(g.metric), g.breached, g.reason)
        for v in results.variants
        for g in v.guardrails
    ]


def insufficient(results: ExperimentResults) -> list[str]:
    return [metric_words(m) for m in results.insufficient_data]


# -- promoting the winner ----------------------------------------------------------------------


def promote_path(experiment_id: str) -> str:
    return f"/dashboard/experiments/{experiment_id}/promote"


class PromoteForm(BaseModel):
    """The winner's promotion form (htmx sends its fields as strings): the experiment from the path,
    the label to move (production unless changed)."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: ExperimentId
    label: LabelName = "production"

    def body(self) -> dict[str, Any]:
        """`POST /api/v1/experiments/{experiment_id}/promote`'s fields."""
        return {"experiment_id": self.experiment_id, "label": self.label}


def may_promote(results: ExperimentResults | None) -> bool:
    """Whether the page offers the promotion: the results read suggest a winner."""
    return results is not None and results.winner is not None


def promoted_words(promoted: WinnerPromoted) -> str:
    """A promotion in words: the winner, its version, and the label's move (`prompts.move_done`)."""
    return (
        f"Promoted {promoted.winner} (version {promoted.moved.to_version}) of "
        f"{promoted.moved.name}: {move_done(promoted.moved)}"
    )


def promote_problem(body: ErrorBody) -> str:
    """A refused promotion in words: no winner (with the results' reason), else the label gate's
    refusal as a label move says it (`prompts.move_problem`)."""
    no_winner = next((d for d in body.details if d.get("type") == "no_winner"), None)
    if no_winner is not None:
        reason = str(no_winner.get("reason") or "").strip()
        return "Nothing was promoted: the results suggest no winner" + (f" ({reason})." if reason else ".")
    return move_problem(body)
