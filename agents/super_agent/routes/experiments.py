"""Prompt experiments (`EXPERIMENT_ROUTES`), served by the LearningAgent: create (the plan's
`experiments` limit, read here because plans are the SuperAgent's, enforced by the agent in the
create's transaction), list, get, start, stop, exposures, scores, results and the promotion of a
suggested winner (a label move through the prompt's gate). Creates, starts, stops and moves are
audited here once the agent has answered (the audit log is the SuperAgent's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from agents.super_agent.routes.prompts import move_and_audit
from services.gateway.route_table import Call, Forward, Local, Route
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode
from shared.messages.experiments import (
    CreateExperiment,
    CreateExperimentRequest,
    ExperimentInfo,
    ExperimentQuota,
    ExperimentRef,
    ExperimentResults,
    PromoteWinner,
    WinnerPromoted,
)
from shared.messages.permissions import Permission
from shared.messages.prompts import MoveLabel
from shared.messages.registry import (
    EXPERIMENT_CREATE,
    EXPERIMENT_EXPOSURE,
    EXPERIMENT_EXPOSURE_BATCH,
    EXPERIMENT_GET,
    EXPERIMENT_LIST,
    EXPERIMENT_RESULTS,
    EXPERIMENT_SCORE,
    EXPERIMENT_START,
    EXPERIMENT_STOP,
)
from shared.principals import team_of

__all__ = ["EXPERIMENT_ROUTES"]

TAGS = ("experiments",)
FEATURE = "prompts"
EXPERIMENTS = "/api/v1/experiments"
EXPERIMENT = EXPERIMENTS + "/{experiment_id}"


async def _audit(call: Call, action: str, found: ExperimentInfo) -> None:
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn,
            team_of(call.ctx.principal),
            action,
            "experiment",
            found.id,
            after={
                "prompt": found.prompt,
                "status": found.status,
                "variants": [v.key for v in found.variants],
            },
        )


async def _quota(call: Call, team_id: str) -> ExperimentQuota:
    edge = deps(call)
    async with edge.pool.acquire() as conn:
        account_id = await conn.fetchval(
            "SELECT account_id::text FROM super_agent.teams WHERE id = $1::uuid", team_id
        )
        teams = await conn.fetch(
            "SELECT id::text FROM super_agent.teams WHERE account_id = $1::uuid ORDER BY id", account_id
        )
        plan, entitlements = await edge.plans.plan_of_account(conn, account_id)
    return ExperimentQuota(
        account_id=str(account_id),
        team_ids=[r["id"] for r in teams],
        max_experiments=entitlements.experiments,
        plan=plan,
    )


async def create_experiment(call: Call) -> BaseModel:
    body: CreateExperiment = call.input
    quota = await _quota(call, team_of(call.ctx.principal))
    found: ExperimentInfo = await deps(call).bus.request(
        EXPERIMENT_CREATE, CreateExperimentRequest(experiment=body, quota=quota), call.ctx
    )
    await _audit(call, "experiments.create", found)
    return found


def _transition(endpoint: Any, action: str) -> Any:
    async def handle(call: Call) -> BaseModel:
        found: ExperimentInfo = await deps(call).bus.request(endpoint, call.input, call.ctx)
        await _audit(call, action, found)
        return found

    return handle


async def promote_winner(call: Call) -> BaseModel:
    """The results read now decide: no winner is 409 `no_winner` with the reason; a winner's version
    goes to the label through the same gate and audit as a label move, noting the experiment."""
    request: PromoteWinner = call.input
    edge = deps(call)
    results: ExperimentResults = await edge.bus.request(
        EXPERIMENT_RESULTS, ExperimentRef(experiment_id=request.experiment_id), call.ctx
    )
    if results.winner is None:
        raise AgentError(
            ErrorCode.CONFLICT,
            f"no winner to promote: {results.winner_reason}",
            [{"type": "no_winner", "reason": results.winner_reason}],
        )
    version = next(v.version for v in results.variants if v.key == results.winner)
    moved = await move_and_audit(
        call,
        MoveLabel(name=results.experiment.prompt, label=request.label, version=version),
        via={"experiment": request.experiment_id, "winner": results.winner},
    )
    return WinnerPromoted(experiment_id=request.experiment_id, winner=results.winner, moved=moved)


def _local(
    method: Any,
    path: str,
    summary: str,
    permission: Permission,
    handler: Any,
    request: Any,
    extra: tuple[int, ...],
) -> Route:
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        request=request,
        response=ExperimentInfo,
        tags=TAGS,
        feature=FEATURE,
        extra_status=extra,
    )


def _forward(
    method: Any, path: str, summary: str, endpoint: Any, permission: Permission, extra: tuple[int, ...]
) -> Route:
    return Route(
        method, path, summary, permission, Forward(endpoint), tags=TAGS, feature=FEATURE, extra_status=extra
    )


EXPERIMENT_ROUTES: list[Route] = [
    _local(
        "POST",
        EXPERIMENTS,
        "Create an experiment (a draft) over 2 to 10 versions of one prompt: the first variant is the "
        "control; weights sum to 1; coverage, seed and unit (user or session) fix every unit's "
        "assignment (GrowthBook's hash v2, so the SDK assigns locally). Counts against the plan's "
        "`experiments` limit while not stopped (402).",
        Permission.PROMPTS_WRITE,
        create_experiment,
        CreateExperiment,
        (402, 404, 503, 504),
    ),
    _forward(
        "GET",
        EXPERIMENTS,
        "Your team's experiments, newest first (of one prompt with `prompt`).",
        EXPERIMENT_LIST,
        Permission.PROMPTS_READ,
        (503, 504),
    ),
    _forward(
        "GET",
        EXPERIMENT,
        "One experiment with its variants, weights and which a guardrail stopped.",
        EXPERIMENT_GET,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
    _local(
        "POST",
        EXPERIMENT + "/start",
        "Start a draft experiment (exposures are taken from now on); starting a running one is a no-op.",
        Permission.PROMPTS_WRITE,
        _transition(EXPERIMENT_START, "experiments.start"),
        ExperimentRef,
        (404, 409, 503, 504),
    ),
    _local(
        "POST",
        EXPERIMENT + "/stop",
        "Stop an experiment (exposures refused from now on; results stay readable).",
        Permission.PROMPTS_WRITE,
        _transition(EXPERIMENT_STOP, "experiments.stop"),
        ExperimentRef,
        (404, 503, 504),
    ),
    _forward(
        "POST",
        EXPERIMENT + "/exposures",
        "Log a unit's exposure once (later posts answer `created: false`). The variant must be the "
        "one the assignment gives the unit (422 `variant_mismatch` names it): a broken client shows "
        "at once. A variant a guardrail stopped is 409 `variant_stopped` (serve the control).",
        EXPERIMENT_EXPOSURE,
        Permission.PROMPTS_WRITE,
        (404, 409, 503, 504),
    ),
    _forward(
        "POST",
        EXPERIMENT + "/exposures/batch",
        "Log up to 1,000 units' exposures in one call (the SDK's background logging): each item is "
        "checked as by `/exposures` and answered in order, `created`, `already` or `refused` with "
        "the reason (`variant_mismatch` with the expected variant, `variant_stopped`, "
        "`not_in_experiment`); the valid ones are stored in one transaction. An unknown experiment "
        "is 404, one not running 409 `not_running`, as for `/exposures`.",
        EXPERIMENT_EXPOSURE_BATCH,
        Permission.PROMPTS_WRITE,
        (404, 409, 503, 504),
    ),
    _forward(
        "POST",
        EXPERIMENT + "/scores",
        "A quality score or user feedback for one request (the token event's id) of an exposed unit; "
        "it counts for the unit's variant as the metric `score:<name>`.",
        EXPERIMENT_SCORE,
        Permission.PROMPTS_WRITE,
        (404, 503, 504),
    ),
    _forward(
        "GET",
        EXPERIMENT + "/results",
        "Per-variant metrics from token events tagged `experiment`/`variant`: per request (cost, "
        "latency, error rate, tokens, cost per success, a success being a call not reported with "
        "status `error`: ratios of per-unit totals, delta method), "
        "per unit (cost per unit: Welch's t-test; share of units that met an error: two-proportion "
        "test), and posted scores: intervals, lifts vs the control, Holm-corrected anytime-valid "
        "p-values, the sample-ratio check, guardrails (a breach stops the variant now) and a "
        "winner only when significant.",
        EXPERIMENT_RESULTS,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
    Route(
        "POST",
        EXPERIMENT + "/promote",
        "Move a label (`production` by default) to the suggested winner's version, through the "
        "label's gate as any move (a protected label needs `prompts:promote_protected`, and the "
        "team's second approver and passing evaluation when its policy asks). No winner (not "
        "significant yet, a sample-ratio mismatch) is 409 `no_winner` with the reason.",
        Permission.PROMPTS_PROMOTE,
        Local(promote_winner),
        request=PromoteWinner,
        response=WinnerPromoted,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(403, 404, 409, 503, 504),
    ),
]
