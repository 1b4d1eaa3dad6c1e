"""Evaluations of prompt versions (`PROMPT_EVALUATION_ROUTES`), served by the LearningAgent: a
prompt's test set, and evaluation runs of a candidate version against it (a run answers 202 at
once and goes on in the background; read it back by id). Test-set changes and started runs are
audited here once the agent has answered (the audit log is the SuperAgent's); a run's outcome is
in the run, and the promotion gate names it when it refuses a protected label."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from agents.super_agent.routes.prompts import FEATURE, PROMPT, TAGS
from services.gateway.route_table import Call, Forward, Local, Route
from shared.messages.permissions import Permission
from shared.messages.prompt_evaluations import EvaluationRunInfo, PutTestSet, StartEvaluation, TestSetInfo
from shared.messages.registry import (
    PROMPT_EVALUATION_GET,
    PROMPT_EVALUATION_LIST,
    PROMPT_EVALUATION_START,
    PROMPT_TEST_SET_GET,
    PROMPT_TEST_SET_PUT,
)
from shared.principals import team_of

__all__ = ["PROMPT_EVALUATION_ROUTES"]

TEST_SET = PROMPT + "/test-set"
EVALUATIONS = PROMPT + "/evaluations"


async def _audit(call: Call, action: str, resource_id: str, after: dict[str, Any]) -> None:
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn, team_of(call.ctx.principal), action, "prompt", resource_id, after=after
        )


async def put_test_set(call: Call) -> BaseModel:
    request: PutTestSet = call.input
    saved: TestSetInfo = await deps(call).bus.request(PROMPT_TEST_SET_PUT, request, call.ctx)
    await _audit(
        call,
        "prompts.test_set",
        f"{request.name}/test-set",
        {
            "revision": saved.revision,
            "cases": len(saved.test_set.cases),
            "min_pass_rate": saved.test_set.min_pass_rate,
        },
    )
    return saved


async def start_evaluation(call: Call) -> BaseModel:
    request: StartEvaluation = call.input
    run: EvaluationRunInfo = await deps(call).bus.request(PROMPT_EVALUATION_START, request, call.ctx)
    await _audit(
        call,
        "prompts.evaluation_start",
        f"{request.name}@v{request.version}",
        {"run_id": run.id, "model": run.model, "cases": run.cases_total},
    )
    return run


PROMPT_EVALUATION_ROUTES: list[Route] = [
    Route(
        "PUT",
        TEST_SET,
        "Attach (or replace) the prompt's test set: cases of variables and assertions (contains, "
        "not_contains, regex, json_schema, max_cost_usd, max_latency_ms) and the share of cases "
        "that must pass (`min_pass_rate`). Each replacement raises its revision.",
        Permission.PROMPTS_WRITE,
        Local(put_test_set),
        request=PutTestSet,
        response=TestSetInfo,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 503, 504),
    ),
    Route(
        "GET",
        TEST_SET,
        "The prompt's test set (404 while it has none).",
        Permission.PROMPTS_READ,
        Forward(PROMPT_TEST_SET_GET),
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 503, 504),
    ),
    Route(
        "POST",
        EVALUATIONS,
        "Evaluate a version against the prompt's test set: each case is rendered, sent to the "
        "configured model API (`model`, default the version's config.model), timed, priced with "
        "the team's prices and judged. Answers 202 with the run `running`; GET it by id for its "
        "outcome. A passing run of a version lets it through the `require_passing_evaluation` "
        "gate of protected labels. 409 without a test set, 503 without a configured model API.",
        Permission.PROMPTS_WRITE,
        Local(start_evaluation),
        request=StartEvaluation,
        response=EvaluationRunInfo,
        status=202,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 409, 503, 504),
    ),
    Route(
        "GET",
        EVALUATIONS,
        "The prompt's evaluation runs, newest first (of one `version` if given), without cases.",
        Permission.PROMPTS_READ,
        Forward(PROMPT_EVALUATION_LIST),
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 503, 504),
    ),
    Route(
        "GET",
        EVALUATIONS + "/{run_id}",
        "An evaluation run: its status, pass rate, outcome and every case (output, latency, cost, "
        "tokens, each assertion's result and reason).",
        Permission.PROMPTS_READ,
        Forward(PROMPT_EVALUATION_GET),
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 503, 504),
    ),
]
