"""Prompt experiments on the wire: definitions, exposures, scores and results (served by the
LearningAgent), and the per-variant usage aggregate the MonitoringAgent reads from token events.

Token events join an experiment through their tags: `experiment` (the experiment's id), `variant`
(the variant key the SDK assigned) and, for session experiments, `unit` (the session id; user
experiments fall back to the event's `user`). Prompt name and version stay in their own columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

from shared.messages.fields import Text
from shared.messages.prompts import LabelMoved, LabelName, PromptName, VersionNumber

ExperimentId = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
# As services/prompts/assignment.py checks them (shared.messages imports nothing of ours).
VariantKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
UnitId = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
# Built-in metrics (token events) or `score:<name>` (posted scores).
MetricName = Annotated[
    str,
    StringConstraints(
        pattern=r"^(cost_per_request|latency_ms|error_rate|tokens_per_request|"
        r"cost_per_success|cost_per_unit|units_with_errors|score:[a-z0-9][a-z0-9._-]{0,62})$"
    ),
]
GuardrailMetric = Literal[
    "cost_per_request", "latency_ms", "error_rate", "tokens_per_request", "cost_per_unit", "units_with_errors"
]
ScoreName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
RequestId = Annotated[Text, StringConstraints(min_length=1, max_length=128)]
Number = StrictFloat | StrictInt


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantSpec(_Model):
    key: VariantKey
    version: VersionNumber
    weight: Annotated[Number, Field(gt=0, le=1)]


class GuardrailSpec(_Model):
    """Stop a variant once its metric is confidently more than `max_relative_increase` worse than
    the control's, or confidently above `max_value`."""

    metric: GuardrailMetric
    max_relative_increase: Annotated[Number, Field(ge=0, le=100)] | None = 0.0
    max_value: Annotated[Number, Field(ge=0)] | None = None


class CreateExperiment(_Model):
    """Variants are versions of one prompt; the first is the control. Weights sum to 1."""

    prompt: PromptName
    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    variants: list[VariantSpec] = Field(min_length=2, max_length=10)
    coverage: Annotated[Number, Field(gt=0, le=1)] = 1.0
    # Default: a random one; GrowthBook's convention is the experiment key.
    seed: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = None
    unit: Literal["user", "session"] = "user"
    primary_metric: MetricName = "cost_per_request"
    guardrails: list[GuardrailSpec] = Field(default_factory=list, max_length=4)


class ExperimentQuota(_Model):
    """The plan's `experiments` limit (not stopped ones, over the account's teams), set by the edge."""

    account_id: Text
    team_ids: list[Text]
    max_experiments: int
    plan: Text


class CreateExperimentRequest(_Model):
    experiment: CreateExperiment
    quota: ExperimentQuota | None = None


class ExperimentRef(_Model):
    experiment_id: ExperimentId


class ListExperiments(_Model):
    prompt: PromptName | None = None


class VariantInfo(_Model):
    key: VariantKey
    version: VersionNumber
    weight: float
    stopped: bool
    stop_reason: Text | None


class ExperimentInfo(_Model):
    id: ExperimentId
    prompt: PromptName
    name: Text
    status: Literal["draft", "running", "stopped"]
    seed: Text
    unit: Literal["user", "session"]
    coverage: float
    primary_metric: MetricName
    guardrails: list[GuardrailSpec]
    variants: list[VariantInfo]
    created_by: Text
    created_at: datetime
    started_at: datetime | None
    stopped_at: datetime | None


class ExperimentList(_Model):
    items: list[ExperimentInfo]


class PostExposure(_Model):
    """The SDK assigned `variant` to the unit locally; the agent checks it computes the same."""

    experiment_id: ExperimentId
    unit_id: UnitId
    variant: VariantKey


class ExposureLogged(_Model):
    created: bool  # false: the unit's exposure was logged before (once per unit)
    variant: VariantKey
    exposed_at: datetime


MAX_EXPOSURE_BATCH = 1_000


class ExposureItem(_Model):
    unit_id: UnitId
    variant: VariantKey


class PostExposureBatch(_Model):
    """Up to `MAX_EXPOSURE_BATCH` exposures of one experiment, each checked as `PostExposure` is and
    answered per item, stored in one transaction (the refused ones are not stored)."""

    experiment_id: ExperimentId
    exposures: list[ExposureItem] = Field(min_length=1, max_length=MAX_EXPOSURE_BATCH)


ExposureRefusal = Literal["variant_mismatch", "variant_stopped", "not_in_experiment"]


class ExposureOutcome(_Model):
    """One item's answer, in the order posted: `created`, `already` (logged before, or earlier in
    the batch) or `refused` with the reason the single route would answer (422/409 `type`)."""

    unit_id: UnitId
    variant: VariantKey
    status: Literal["created", "already", "refused"]
    reason: ExposureRefusal | None = None
    message: Text | None = None
    expected: VariantKey | None = None  # variant_mismatch: the unit's variant
    stop_reason: Text | None = None  # variant_stopped: why the guardrail stopped it
    exposed_at: datetime | None = None


class ExposureBatchLogged(_Model):
    created: int
    already: int
    refused: int
    items: list[ExposureOutcome]


class PostScore(_Model):
    """A quality score or user feedback for one request (the token event's id) of an exposed unit;
    posting the same (request, name) again replaces the value."""

    experiment_id: ExperimentId
    request_id: RequestId
    unit_id: UnitId
    name: ScoreName
    value: Annotated[Number, Field(ge=-1e12, le=1e12)]


class ScoreRecorded(_Model):
    request_id: RequestId
    name: ScoreName
    variant: VariantKey
    replaced: bool


class IntervalInfo(_Model):
    low: float | None
    high: float | None


class MetricValue(_Model):
    metric: MetricName
    units: int
    estimate: float
    interval: IntervalInfo


class ComparisonInfo(_Model):
    metric: MetricName
    difference: float
    relative_lift: float | None
    lift_interval: IntervalInfo
    sequential_lift_interval: IntervalInfo | None
    p_value: float
    sequential_p_value: float | None
    adjusted_p_value: float
    significant: bool
    improvement: bool


class GuardrailInfo(_Model):
    metric: GuardrailMetric
    breached: bool
    reason: Text


class VariantResult(_Model):
    key: VariantKey
    version: VersionNumber
    weight: float
    exposures: int
    stopped: bool
    stop_reason: Text | None
    metrics: list[MetricValue]
    comparisons: list[ComparisonInfo]  # against the control; empty for the control
    guardrails: list[GuardrailInfo]


class SampleRatioInfo(_Model):
    chi_square: float
    p_value: float
    mismatch: bool
    expected: list[float]


class ExperimentResults(_Model):
    experiment: ExperimentInfo
    control: VariantKey
    variants: list[VariantResult]
    sample_ratio: SampleRatioInfo
    # Metrics left out: some variant had too few units (two per variant) or a zero denominator.
    insufficient_data: list[MetricName]
    stopped_now: list[VariantKey]  # variants this read stopped for a breached guardrail
    winner: VariantKey | None
    winner_reason: Text


class ExperimentUsageQuery(_Model):
    """Per variant and unit aggregates of the team's token events tagged with the experiment."""

    experiment_id: ExperimentId
    unit: Literal["user", "session"] = "user"


class VariantUsage(_Model):
    """Sums over the variant's units of per-unit totals, their squares and the cross products the
    delta method needs (x_y: Σ x·y over units)."""

    variant: VariantKey
    units: int
    events: float
    events_sq: float
    successes: float
    successes_sq: float
    errors: float
    errors_sq: float
    cost: float
    cost_sq: float
    latency: float
    latency_sq: float
    latency_n: float
    latency_n_sq: float
    tokens: float
    tokens_sq: float
    cost_events: float
    errors_events: float
    latency_latency_n: float
    tokens_events: float
    cost_successes: float
    # Units with at least one error (a MonitoringAgent from before the metric answers without it).
    error_units: float = 0.0


class ExperimentUsage(_Model):
    experiment_id: ExperimentId
    variants: list[VariantUsage]


class PromoteWinner(_Model):
    """Move `label` to the version of the winner the results suggest, through the label's gate
    (protected labels: `prompts:promote_protected`, the second approver, a passing evaluation)."""

    experiment_id: ExperimentId
    label: LabelName = "production"


class WinnerPromoted(_Model):
    experiment_id: ExperimentId
    winner: VariantKey
    moved: LabelMoved
