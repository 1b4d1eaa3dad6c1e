"""The LearningAgent's experiment endpoints: define, start, stop, log exposures and scores, read
results. Assignment (`assignment`) and statistics (`experiment_metrics`, `statistics`) are the pure
cores'; this module loads what they need and applies what they decide.

Token-event metrics are the MonitoringAgent's data (ClickHouse is opened by it alone), so results
ask it for per-variant sums over the experiment's units (`EXPERIMENT_USAGE`) as the caller: rows
never leave it, only aggregates, and it checks the caller's team and permission itself.

Guardrails are applied when results are read, and by `check_guardrails`, which the agent runs on
a schedule for every running experiment with guardrails: a breached variant is stopped then (its
exposures refused from that moment, so the SDK serves the control), whether or not anyone looks."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from services.prompts import experiment_store as xstore
from services.prompts import store
from services.prompts.assignment import Experiment, Variant, assign
from services.prompts.experiment_metrics import (
    SCORE_PREFIX,
    UNIT_METRICS,
    USAGE_METRICS,
    Moments,
    VariantInput,
    evaluate,
    unit_summaries,
    usage_moments,
)
from services.prompts.service import actor
from services.prompts.statistics import Guardrail, Interval, Summary
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError, RemoteError, RequestTimeout, ServiceUnavailable
from shared.db.locks import try_advisory_lock
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.experiments import (
    ComparisonInfo,
    CreateExperimentRequest,
    ExperimentInfo,
    ExperimentList,
    ExperimentRef,
    ExperimentResults,
    ExperimentUsage,
    ExperimentUsageQuery,
    ExposureBatchLogged,
    ExposureLogged,
    ExposureOutcome,
    ExposureRefusal,
    GuardrailInfo,
    GuardrailSpec,
    IntervalInfo,
    ListExperiments,
    MetricValue,
    PostExposure,
    PostExposureBatch,
    PostScore,
    SampleRatioInfo,
    ScoreRecorded,
    VariantInfo,
    VariantResult,
)
from shared.messages.permissions import Permission
from shared.messages.registry import EXPERIMENT_USAGE
from shared.principals import team_with

log = structlog.get_logger(__name__)


def _error(code: ErrorCode, message: str, loc: str, kind: str, **extra: Any) -> AgentError:
    return AgentError(code, message, [{"loc": loc, "type": kind, **extra}])


def _not_found(experiment_id: str) -> AgentError:
    return _error(
        ErrorCode.NOT_FOUND, f"experiment {experiment_id} does not exist", "experiment_id", "not_found"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _interval(found: Interval | None) -> IntervalInfo:
    if found is None:
        return IntervalInfo(low=None, high=None)
    return IntervalInfo(low=_finite(found.low), high=_finite(found.high))


def info(row: xstore.ExperimentRow) -> ExperimentInfo:
    return ExperimentInfo(
        id=row.id,
        prompt=row.prompt,
        name=row.name,
        status=row.status,
        seed=row.seed,
        unit=row.unit_kind,
        coverage=row.coverage,
        primary_metric=row.primary_metric,
        guardrails=[GuardrailSpec.model_validate(g) for g in row.guardrails],
        variants=[
            VariantInfo(
                key=v.key,
                version=v.version,
                weight=v.weight,
                stopped=v.stopped_at is not None,
                stop_reason=v.stop_reason,
            )
            for v in row.variants
        ],
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


@dataclass(frozen=True)
class Refusal:
    """Why one exposure is not logged: the single route's error, the batch route's item reason."""

    kind: ExposureRefusal
    message: str
    expected: str | None = None
    stop_reason: str | None = None

    def error(self) -> AgentError:
        if self.kind == "variant_stopped":
            return _error(ErrorCode.CONFLICT, self.message, "variant", self.kind, reason=self.stop_reason)
        if self.kind == "variant_mismatch":
            return _error(
                ErrorCode.VALIDATION_FAILED, self.message, "variant", self.kind, expected=self.expected
            )
        return _error(ErrorCode.VALIDATION_FAILED, self.message, "unit_id", self.kind)


def exposure_refusal(row: xstore.ExperimentRow, unit_id: str, variant: str) -> Refusal | None:
    """None when the unit's exposure to `variant` may be logged: the variant is the one the
    assignment gives the unit (a broken client, another hash or stale weights, is caught here, not
    in skewed results) and no guardrail stopped it."""
    expected = assign(assignment_of(row), unit_id).variant
    if expected is None:
        return Refusal("not_in_experiment", "the unit is outside the experiment's coverage: log no exposure")
    if expected != variant:
        message = f"the unit is assigned {expected}, not {variant}"
        return Refusal("variant_mismatch", message, expected=expected)
    stopped = {v.key: v.stop_reason for v in row.variants if v.stopped_at is not None}
    if variant in stopped:
        message = f"variant {variant} was stopped: serve the control"
        return Refusal("variant_stopped", message, stop_reason=stopped[variant])
    return None


def assignment_of(row: xstore.ExperimentRow) -> Experiment:
    return Experiment(row.seed, tuple(Variant(v.key, v.weight) for v in row.variants), row.coverage)


class Experiments:
    def __init__(self, pool: Any, bus: Bus) -> None:
        self._pool = pool
        self._bus = bus

    async def create(self, request: CreateExperimentRequest, ctx: MessageContext) -> ExperimentInfo:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_WRITE)
        assert principal is not None
        spec = request.experiment
        seed = spec.seed or uuid.uuid4().hex
        try:
            assignment_check = Experiment(
                seed, tuple(Variant(v.key, float(v.weight)) for v in spec.variants), float(spec.coverage)
            )
        except ValueError as error:
            raise _error(ErrorCode.VALIDATION_FAILED, str(error), "variants", "invalid_variants") from None
        del assignment_check
        async with self._pool.acquire() as conn, conn.transaction():
            prompt = await store.prompt(conn, team_id, spec.prompt)
            if prompt is None:
                raise _error(
                    ErrorCode.NOT_FOUND, f"prompt {spec.prompt} does not exist", "prompt", "not_found"
                )
            known = set((await store.authors(conn, team_id, prompt.id)).keys())
            missing = [i for i, v in enumerate(spec.variants) if v.version not in known]
            if missing:
                raise AgentError(
                    ErrorCode.VALIDATION_FAILED,
                    f"{spec.prompt} has no version "
                    + ", ".join(str(spec.variants[i].version) for i in missing),
                    [{"loc": f"variants.{i}.version", "type": "version_not_found"} for i in missing],
                )
            if request.quota is not None:
                quota = request.quota
                await xstore.lock_account(conn, quota.account_id)
                used = await xstore.count_active(conn, quota.team_ids)
                if used + 1 > quota.max_experiments:
                    raise _error(
                        ErrorCode.PAYMENT_REQUIRED,
                        f"the {quota.plan} plan's experiments ({quota.max_experiments}) would be "
                        f"exceeded: {used} not stopped",
                        "experiments",
                        "plan_limit",
                        limit="experiments",
                        current=used,
                        requested=1,
                        maximum=quota.max_experiments,
                        plan=quota.plan,
                    )
            experiment_id = await xstore.create(
                conn,
                team_id,
                prompt.id,
                spec.name,
                seed,
                spec.unit,
                float(spec.coverage),
                spec.primary_metric,
                [g.model_dump(mode="json") for g in spec.guardrails],
                actor(principal),
                [(v.key, v.version, float(v.weight)) for v in spec.variants],
            )
            row = await xstore.get(conn, team_id, experiment_id)
        assert row is not None
        return info(row)

    async def list(self, request: ListExperiments, ctx: MessageContext) -> ExperimentList:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            rows = await xstore.listing(conn, team_id, request.prompt)
        return ExperimentList(items=[info(r) for r in rows])

    async def get(self, request: ExperimentRef, ctx: MessageContext) -> ExperimentInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            row = await xstore.get(conn, team_id, request.experiment_id)
        if row is None:
            raise _not_found(request.experiment_id)
        return info(row)

    async def _transition(self, request: ExperimentRef, ctx: MessageContext, to: str) -> ExperimentInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_WRITE)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await xstore.get(conn, team_id, request.experiment_id, lock=True)
            if row is None:
                raise _not_found(request.experiment_id)
            if row.status == to:
                return info(row)  # repeated start/stop: answered as is
            if to == "running" and row.status != "draft":
                raise _error(
                    ErrorCode.CONFLICT,
                    "a stopped experiment is not restarted",
                    "status",
                    "experiment_stopped",
                )
            await xstore.set_status(conn, row.id, to)
            changed = await xstore.get(conn, team_id, row.id)
        assert changed is not None
        return info(changed)

    async def start(self, request: ExperimentRef, ctx: MessageContext) -> ExperimentInfo:
        return await self._transition(request, ctx, "running")

    async def stop(self, request: ExperimentRef, ctx: MessageContext) -> ExperimentInfo:
        return await self._transition(request, ctx, "stopped")

    async def _running(self, conn: Any, team_id: str, experiment_id: str) -> xstore.ExperimentRow:
        row = await xstore.get(conn, team_id, experiment_id)
        if row is None:
            raise _not_found(experiment_id)
        if row.status != "running":
            raise _error(ErrorCode.CONFLICT, f"the experiment is {row.status}", "status", "not_running")
        return row

    async def expose(self, request: PostExposure, ctx: MessageContext) -> ExposureLogged:
        team_id = team_with(ctx.principal, Permission.PROMPTS_WRITE)
        async with self._pool.acquire() as conn:
            row = await self._running(conn, team_id, request.experiment_id)
            refusal = exposure_refusal(row, request.unit_id, request.variant)
            if refusal is not None:
                raise refusal.error()
            created, variant, at = await xstore.expose(conn, row.id, request.unit_id, request.variant)
        return ExposureLogged(created=created, variant=variant, exposed_at=at)

    async def expose_batch(self, request: PostExposureBatch, ctx: MessageContext) -> ExposureBatchLogged:
        """Each item checked as `expose` checks one; the valid ones stored in one transaction."""
        team_id = team_with(ctx.principal, Permission.PROMPTS_WRITE)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._running(conn, team_id, request.experiment_id)
            refusals = [exposure_refusal(row, item.unit_id, item.variant) for item in request.exposures]
            valid: dict[str, str] = {}  # unit -> variant, the first valid item of each unit
            for item, refusal in zip(request.exposures, refusals, strict=True):
                if refusal is None:
                    valid.setdefault(item.unit_id, item.variant)
            stored = await xstore.expose_many(conn, row.id, valid)
        items = []
        first_seen: set[str] = set()
        for item, refusal in zip(request.exposures, refusals, strict=True):
            if refusal is not None:
                items.append(
                    ExposureOutcome(
                        unit_id=item.unit_id,
                        variant=item.variant,
                        status="refused",
                        reason=refusal.kind,
                        message=refusal.message,
                        expected=refusal.expected,
                        stop_reason=refusal.stop_reason,
                    )
                )
                continue
            created, at = stored[item.unit_id]
            fresh = created and item.unit_id not in first_seen
            first_seen.add(item.unit_id)
            items.append(
                ExposureOutcome(
                    unit_id=item.unit_id,
                    variant=item.variant,
                    status="created" if fresh else "already",
                    exposed_at=at,
                )
            )
        counts = {s: sum(i.status == s for i in items) for s in ("created", "already", "refused")}
        return ExposureBatchLogged(**counts, items=items)

    async def score(self, request: PostScore, ctx: MessageContext) -> ScoreRecorded:
        team_id = team_with(ctx.principal, Permission.PROMPTS_WRITE)
        async with self._pool.acquire() as conn:
            row = await xstore.get(conn, team_id, request.experiment_id)
            if row is None:
                raise _not_found(request.experiment_id)
            variant = await xstore.exposure_of(conn, row.id, request.unit_id)
            if variant is None:
                raise _error(
                    ErrorCode.VALIDATION_FAILED,
                    "the unit has no exposure in this experiment",
                    "unit_id",
                    "unit_not_exposed",
                )
            replaced = await xstore.record_score(
                conn, row.id, request.request_id, request.name, request.unit_id, variant, float(request.value)
            )
        return ScoreRecorded(
            request_id=request.request_id, name=request.name, variant=variant, replaced=replaced
        )

    async def _usage(self, row: xstore.ExperimentRow, ctx: MessageContext) -> ExperimentUsage:
        query = ExperimentUsageQuery(experiment_id=row.id, unit=row.unit_kind)
        try:
            return await self._bus.request(EXPERIMENT_USAGE, query, ctx)
        except RemoteError as error:
            raise AgentError(error.body.code, error.body.message, error.body.details) from None
        except ServiceUnavailable:
            raise AgentError(ErrorCode.UNAVAILABLE, "the MonitoringAgent is not answering") from None
        except RequestTimeout:
            raise AgentError(ErrorCode.TIMEOUT, "the MonitoringAgent did not answer in time") from None

    async def check_guardrails(self) -> int:
        """Read the results of every running experiment with guardrails (which stops a breached
        variant), as the platform acting in the experiment's team with `prompts:read` only; one
        replica at a time. Returns how many variants this check stopped."""
        stopped = 0
        async with try_advisory_lock(self._pool, "mno.learning.experiment_guardrails") as held:
            if not held:
                return 0
            async with self._pool.acquire() as conn:
                running = await xstore.running_with_guardrails(conn)
            for team_id, experiment_id in running:
                acting = Principal(
                    team_id=team_id,
                    user_id="system",
                    roles=("system",),
                    permissions=(Permission.PROMPTS_READ.value,),
                )
                try:
                    found = await self.results(
                        ExperimentRef(experiment_id=experiment_id), MessageContext(principal=acting)
                    )
                except AgentError as error:
                    # One experiment's usage unavailable (the MonitoringAgent away): the others go on,
                    # and the next check tries this one again.
                    log.warning(
                        "guardrail check failed",
                        experiment_id=experiment_id,
                        code=error.body.code.value,
                        error=error.body.message,
                    )
                    continue
                if found.stopped_now:
                    log.info(
                        "guardrail stopped variants", experiment_id=experiment_id, variants=found.stopped_now
                    )
                stopped += len(found.stopped_now)
        return stopped

    async def results(self, request: ExperimentRef, ctx: MessageContext) -> ExperimentResults:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            row = await xstore.get(conn, team_id, request.experiment_id)
            if row is None:
                raise _not_found(request.experiment_id)
            exposures = await xstore.exposure_counts(conn, row.id)
            scores = await xstore.score_moments(conn, row.id)
        usage = {u.variant: u.model_dump() for u in (await self._usage(row, ctx)).variants}
        score_names = sorted({SCORE_PREFIX + s["name"] for s in scores})
        metrics = [*USAGE_METRICS, *UNIT_METRICS, *score_names]
        if row.primary_metric not in metrics:
            metrics.append(row.primary_metric)
        inputs = []
        for v in row.variants:
            moments: dict[str, Moments] = {}
            per_unit: dict[str, Summary | None] = {}
            if v.key in usage:
                moments.update({m: usage_moments(usage[v.key], m) for m in USAGE_METRICS})
                per_unit = unit_summaries(usage[v.key])
            for s in scores:
                if s["variant"] == v.key:
                    moments[SCORE_PREFIX + s["name"]] = Moments(
                        int(s["n"]), s["x"], s["y"], s["xx"], s["yy"], s["xy"]
                    )
            inputs.append(VariantInput(v.key, v.weight, exposures.get(v.key, 0), moments, per_unit))
        guardrails = [
            Guardrail(
                g["metric"],
                None if g.get("max_relative_increase") is None else float(g["max_relative_increase"]),
                None if g.get("max_value") is None else float(g["max_value"]),
            )
            for g in row.guardrails
        ]
        outcome = evaluate(inputs, row.primary_metric, guardrails, metrics)
        analysis = outcome.analysis
        stopped_now: list[str] = []
        if row.status == "running" and analysis.stop:
            reasons = {
                s.variant: s.reason
                for s in reversed(analysis.guardrails)
                if s.breached and s.variant in analysis.stop
            }
            async with self._pool.acquire() as conn:
                stopped_now = await xstore.stop_variants(conn, row.id, reasons)
                row = await xstore.get(conn, team_id, row.id) or row
        return _results(row, exposures, outcome, stopped_now)


def _results(
    row: xstore.ExperimentRow, exposures: dict[str, int], outcome: Any, stopped_now: list[str]
) -> ExperimentResults:
    analysis = outcome.analysis
    variants = []
    for v in row.variants:
        summaries = outcome.summaries[v.key]
        variants.append(
            VariantResult(
                key=v.key,
                version=v.version,
                weight=v.weight,
                exposures=exposures.get(v.key, 0),
                stopped=v.stopped_at is not None,
                stop_reason=v.stop_reason,
                metrics=[
                    MetricValue(
                        metric=m,
                        units=s.n,
                        estimate=s.estimate,
                        interval=_interval(analysis.intervals.get(v.key, {}).get(m)),
                    )
                    for m, s in summaries.items()
                ],
                comparisons=[
                    ComparisonInfo(
                        metric=r.metric,
                        difference=r.comparison.difference,
                        relative_lift=_finite(r.comparison.relative_lift),
                        lift_interval=_interval(r.comparison.lift_interval),
                        sequential_lift_interval=None
                        if r.sequential is None
                        else _interval(r.sequential.interval),
                        p_value=r.comparison.p_value,
                        sequential_p_value=None if r.sequential is None else r.sequential.p_value,
                        adjusted_p_value=r.adjusted_p_value,
                        significant=r.significant,
                        improvement=r.improvement,
                    )
                    for r in analysis.results
                    if r.variant == v.key
                ],
                guardrails=[
                    GuardrailInfo(metric=g.metric, breached=g.breached, reason=g.reason)
                    for g in analysis.guardrails
                    if g.variant == v.key
                ],
            )
        )
    srm = analysis.sample_ratio
    return ExperimentResults(
        experiment=info(row),
        control=analysis.control,
        variants=variants,
        sample_ratio=SampleRatioInfo(
            chi_square=srm.chi_square, p_value=srm.p_value, mismatch=srm.mismatch, expected=list(srm.expected)
        ),
        insufficient_data=list(outcome.insufficient),
        stopped_now=stopped_now,
        winner=analysis.winner,
        winner_reason=analysis.winner_reason,
    )
