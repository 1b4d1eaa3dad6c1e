"""The Prompts pages' routes: the team's prompts (filtered by tag), a prompt's page (versions,
labels, a diff of two versions, test set, evaluation runs, experiments), a label move for those who
may, a version's approval for protected labels, and an experiment's page with its results (tables
and a chart per metric) and the promotion of its winner.

Every read and write is one of the prompt API's routes called in-process (`EdgeApi`), so the same
permissions, plan gate and team scoping apply as for any client: another team's prompt or experiment
is a 404 here as there. These routes sell with prompts (plan feature `prompts`, which the table asks
of everything under /dashboard/prompts and /dashboard/experiments) and are dashboard pages too, so
each also checks the `dashboard` feature before it answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from agents.super_agent.routes.dashboard_budgets import ECHARTS
from agents.super_agent.routes.dashboard_packages import Handler, _dashboard_too, _names
from services.dashboard import experiments, prompt_editor, prompts, render
from services.dashboard.answers import Unavailable, unavailable
from services.dashboard.pages import PROMPTS
from services.gateway.errors import HttpProblem
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.bus.errors import AgentError, BusError
from shared.messages.envelope import ErrorCode
from shared.messages.experiments import ExperimentInfo, ExperimentList, ExperimentResults, WinnerPromoted
from shared.messages.permissions import Permission
from shared.messages.prompt_evaluations import EvaluationList, TestSetInfo
from shared.messages.prompt_repository import PromptRepositoryInfo
from shared.messages.prompts import (
    LabelMoved,
    LabelPolicyInfo,
    PromptDiffInfo,
    PromptList,
    VersionApproved,
    VersionList,
)

LIST = "/api/v1/prompts"
PROMPT = LIST + "/{name}"
EXPERIMENTS = "/api/v1/experiments"
EXPERIMENT = EXPERIMENTS + "/{experiment_id}"
REPOSITORY = LIST + "/-/repository"
FEATURE = "prompts"


async def prompts_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: prompts.ListForm = call.input
    frame, found = await asyncio.gather(
        page_chrome(api, PROMPTS), attempt(api.get(LIST, PromptList, tag=form.tag))
    )
    return render.html(
        "prompts.html",
        chrome=frame,
        form=form,
        rows=found if isinstance(found, Unavailable) else prompts.prompt_rows(found),
        Permission=Permission,
    )


async def _test_set(api: EdgeApi, name: str) -> TestSetInfo | Unavailable | None:
    """The prompt's test set; None while it has none (the API's 404 for it)."""
    try:
        return await api.get(PROMPT + "/test-set", TestSetInfo, name=name)
    except (HttpProblem, AgentError, BusError) as error:
        return None if error.body.code == ErrorCode.NOT_FOUND else unavailable(error.body)


async def _repository(api: EdgeApi) -> PromptRepositoryInfo | None:
    """The team's connected prompt repository; None while there is none (or it cannot be read: the
    pull-request button is left out)."""
    answer = await attempt(api.get(REPOSITORY, PromptRepositoryInfo))
    return None if isinstance(answer, Unavailable) else answer


async def _prompt_context(
    api: EdgeApi, name: str, wanted_from: int | None, wanted_to: int | None
) -> dict[str, Any]:
    """What the prompt page shows; the prompt's 404 (another team's, or none) is raised."""
    (found, policy, suite, runs, trials, (people, keys)), repository = await asyncio.gather(
        asyncio.gather(
            api.get(PROMPT + "/versions", VersionList, name=name),
            attempt(api.get(LIST + "/-/policy", LabelPolicyInfo)),
            _test_set(api, name),
            attempt(api.get(PROMPT + "/evaluations", EvaluationList, name=name)),
            attempt(api.get(EXPERIMENTS, ExperimentList, prompt=name)),
            _names(api),
        ),
        _repository(api),
    )
    pair = prompts.diff_versions(found, wanted_from, wanted_to)
    diff = None
    if pair is not None:
        answer = await attempt(
            api.get(PROMPT + "/diff", PromptDiffInfo, name=name, from_version=pair[0], to_version=pair[1])
        )
        diff = answer if isinstance(answer, Unavailable) else prompts.diff_view(answer)
    return {
        "prompt": found,
        "versions": prompts.version_rows(found, people, keys),
        "labels": prompts.label_rows(found, None if isinstance(policy, Unavailable) else policy),
        "pair": pair,
        "diff": diff,
        "suite": suite
        if suite is None or isinstance(suite, Unavailable)
        else prompts.suite_summary(suite, people, keys),
        "runs": runs if isinstance(runs, Unavailable) else prompts.evaluation_rows(runs, people, keys),
        "trials": trials if isinstance(trials, Unavailable) else prompts.experiment_rows(trials),
        "href": prompts.prompt_href(found.name),
        "edit_href": prompt_editor.edit_href(found.name),
        "repository": repository,
        "pull_request_path": prompt_editor.PULL_REQUEST_PATH,
    }


async def prompt_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: prompts.PromptQuery = call.input
    frame, context = await asyncio.gather(
        page_chrome(api, PROMPTS), _prompt_context(api, query.name, query.from_version, query.to_version)
    )
    return render.html(
        "prompt.html",
        chrome=frame,
        problem=None,
        done=None,
        move_path=prompts.MOVE_PATH,
        approve_path=prompts.APPROVE_PATH,
        Permission=Permission,
        **context,
    )


async def move_label(call: Call) -> web.StreamResponse:
    """Move a label through `PUT /api/v1/prompts/{name}/labels/{label}` (compare-and-set against the
    version the page showed); answers the labels and versions panel, with the gate's refusal in words."""
    api = EdgeApi(call.request, call.ctx)
    form: prompts.MoveForm = call.input
    problem: str | None = None
    done: str | None = None
    status = 200
    try:
        moved = await api.call("PUT", PROMPT + "/labels/{label}", LabelMoved, form.body())
    except (HttpProblem, AgentError, BusError) as error:
        if error.body.code == ErrorCode.NOT_FOUND and not error.body.details:
            raise
        problem = prompts.move_problem(error.body)
        # A refusal of the role is no success to any client; the gate's reasons swap into the panel.
        status = _refused_role(error)
    else:
        done = prompts.move_done(moved)
    return await _labels_panel(api, form.name, status=status, problem=problem, done=done)


async def _labels_panel(
    api: EdgeApi,
    name: str,
    *,
    status: int,
    problem: str | None,
    done: str | None,
) -> web.StreamResponse:
    """The prompt's labels and versions panel, read after a write, with what the write did in words."""
    frame, found, policy, (people, keys) = await asyncio.gather(
        page_chrome(api, PROMPTS),
        api.get(PROMPT + "/versions", VersionList, name=name),
        attempt(api.get(LIST + "/-/policy", LabelPolicyInfo)),
        _names(api),
    )
    return render.html(
        "partials/prompt_labels.html",
        status=status,
        chrome=frame,
        prompt=found,
        versions=prompts.version_rows(found, people, keys),
        labels=prompts.label_rows(found, None if isinstance(policy, Unavailable) else policy),
        problem=problem,
        done=done,
        move_path=prompts.MOVE_PATH,
        approve_path=prompts.APPROVE_PATH,
        Permission=Permission,
    )


def _refused_role(error: HttpProblem | AgentError | BusError) -> int:
    """403 for a refusal of the role (no success to any client), 200 for a refusal with reasons
    (they swap into the panel in words)."""
    return 403 if error.body.code == ErrorCode.FORBIDDEN and not error.body.details else 200


async def approve_version(call: Call) -> web.StreamResponse:
    """Approve a version through `POST /api/v1/prompts/{name}/versions/{version}/approvals`; answers
    the labels and versions panel saying who approved it, or why not (the author cannot) in words."""
    api = EdgeApi(call.request, call.ctx)
    form: prompts.ApproveForm = call.input
    problem: str | None = None
    done: str | None = None
    status = 200
    try:
        approved = await api.post(PROMPT + "/versions/{version}/approvals", VersionApproved, form.body())
    except (HttpProblem, AgentError, BusError) as error:
        if error.body.code == ErrorCode.NOT_FOUND:
            raise  # another team's prompt, or no such version: the 404 page
        problem = prompts.approve_problem(error.body)
        status = _refused_role(error)
    else:
        people, keys = await _names(api)
        done = prompts.approve_done(approved, people, keys)
    return await _labels_panel(api, form.name, status=status, problem=problem, done=done)


async def experiment_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: experiments.ExperimentQuery = call.input
    ref = {"experiment_id": query.experiment_id}
    frame, found = await asyncio.gather(page_chrome(api, PROMPTS), api.get(EXPERIMENT, ExperimentInfo, **ref))
    results = await attempt(api.get(EXPERIMENT + "/results", ExperimentResults, **ref))
    read = None if isinstance(results, Unavailable) else results
    return render.html(
        "experiment.html",
        scripts=ECHARTS,
        chrome=frame,
        experiment=found,
        prompt_href=prompts.prompt_href(found.prompt),
        promote=experiments.may_promote(read),
        promote_path=experiments.promote_path(found.id),
        promote_label="production",
        promote_problem=None,
        promote_done=None,
        variants=experiments.variant_rows(read.experiment if read else found, read),
        results=results,
        tables=experiments.metric_tables(read) if read else [],
        ratio=experiments.sample_ratio(read) if read else None,
        guardrails=experiments.guardrail_rows(read) if read else [],
        insufficient=experiments.insufficient(read) if read else [],
        metric_words=experiments.metric_words,
        Permission=Permission,
    )


async def promote_winner(call: Call) -> web.StreamResponse:
    """Promote the winner through `POST /api/v1/experiments/{experiment_id}/promote` (the label's
    gate decides, as for any move); answers the promotion panel saying what moved, or why not (no
    winner, the gate's reasons) in words. A refusal of the role alone is a 403."""
    api = EdgeApi(call.request, call.ctx)
    form: experiments.PromoteForm = call.input
    problem: str | None = None
    done: str | None = None
    status = 200
    try:
        promoted = await api.post(EXPERIMENT + "/promote", WinnerPromoted, form.body())
    except (HttpProblem, AgentError, BusError) as error:
        if error.body.code == ErrorCode.NOT_FOUND:
            raise  # another team's experiment, or none (the winner's version exists): the 404 page
        problem = experiments.promote_problem(error.body)
        status = _refused_role(error)
    else:
        done = experiments.promoted_words(promoted)
    frame = await page_chrome(api, PROMPTS)
    return render.html(
        "partials/experiment_promote.html",
        status=status,
        chrome=frame,
        promote=True,
        promote_path=experiments.promote_path(form.experiment_id),
        promote_label=form.label,
        promote_problem=problem,
        promote_done=done,
        Permission=Permission,
    )


# -- the table ---------------------------------------------------------------------------------


def _route(
    method: Any, path: str, summary: str, permission: Permission, handler: Handler, **extra: Any
) -> Route:
    return page_route(method, path, summary, permission, _dashboard_too(handler), feature=FEATURE, **extra)


PROMPT_PAGE_ROUTES: list[Route] = [
    _route(
        "GET",
        PROMPTS.path,
        "Prompts page: your team's prompts with their latest version, content hash, labels and tags; "
        "filtered by a tag.",
        PROMPTS.permission,
        prompts_page,
        request=prompts.ListForm,
    ),
    _route(
        "GET",
        prompts.PATH + "/{name}",
        "Prompt page: versions (author, commit message, date, content hash), labels and their versions, "
        "a diff of two versions, the test set and evaluation runs, the prompt's experiments.",
        Permission.PROMPTS_READ,
        prompt_page,
        request=prompts.PromptQuery,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompts.MOVE_PATH,
        "Prompt fragment: move a label to a version (PUT /api/v1/prompts/{name}/labels/{label}, "
        "compare-and-set); the gate's refusal in words. Answers the labels and versions panel.",
        Permission.PROMPTS_PROMOTE,
        move_label,
        request=prompts.MoveForm,
        extra_status=(404,),
    ),
    _route(
        "GET",
        prompts.EXPERIMENTS_PATH + "/{experiment_id}",
        "Experiment page: variants and weights, status, and per variant and metric the estimate with "
        "its interval, the lift against the control, p-values, the sample-ratio check, guardrails and "
        "the winner.",
        Permission.PROMPTS_READ,
        experiment_page,
        request=experiments.ExperimentQuery,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompts.APPROVE_PATH,
        "Prompt fragment: approve a version for protected labels (POST "
        "/api/v1/prompts/{name}/versions/{version}/approvals), by a person other than its author; the "
        "refusal in words. Answers the labels and versions panel.",
        Permission.PROMPTS_PROMOTE_PROTECTED,
        approve_version,
        request=prompts.ApproveForm,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompts.EXPERIMENTS_PATH + "/{experiment_id}/promote",
        "Experiment fragment: move a label (production unless named) to the winner's version (POST "
        "/api/v1/experiments/{experiment_id}/promote, through the label's gate); what moved, or the "
        "refusal (no winner, the gate's reasons), in words.",
        Permission.PROMPTS_PROMOTE,
        promote_winner,
        request=experiments.PromoteForm,
        extra_status=(404,),
    ),
]
