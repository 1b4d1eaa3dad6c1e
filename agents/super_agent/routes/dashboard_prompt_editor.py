"""The prompt editor's routes: the editor page of a prompt's next version (prefilled from the latest),
its Preview fragment (the draft rendered with sample values by the LearningAgent through
`POST /api/v1/prompts/{name}/render` with `document`: the API's renderer, none here), its Save
fragment (`POST /api/v1/prompts`), and the prompt page's "Open pull request" fragment
(`POST /api/v1/prompts/{name}/pull-request`).

Each first reads the prompt through the API, so another team's (or no) prompt is a 404 here as
there; the editor and its fragments need `prompts:write`, as a save does.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agents.super_agent.routes.dashboard import page_chrome
from agents.super_agent.routes.dashboard_prompts import PROMPT, _route
from services.dashboard import prompt_editor, prompts, render
from services.dashboard.pages import PROMPTS
from services.gateway.errors import HttpProblem
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.bus.errors import AgentError, BusError
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.prompt_repository import PullRequestOpened
from shared.messages.prompts import PromptVersionInfo, RenderedPromptInfo, SavedPrompt, VersionList

SAVE = "/api/v1/prompts"
Problem = prompt_editor.Problem


async def edit_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: prompt_editor.EditQuery = call.input
    frame, latest = await asyncio.gather(
        page_chrome(api, PROMPTS), api.get(PROMPT, PromptVersionInfo, name=query.name)
    )
    return render.html(
        "prompt_edit.html",
        chrome=frame,
        form=prompt_editor.editor(latest),
        href=prompts.prompt_href(latest.name),
        preview_path=prompt_editor.PREVIEW_PATH,
        save_path=prompt_editor.SAVE_PATH,
        roles=prompt_editor.ROLES,
        types=prompt_editor.TYPES,
        blank_variable=prompt_editor.BLANK_VARIABLE,
    )


def _refused(error: HttpProblem | AgentError | BusError, drafted: prompt_editor.Draft) -> list[Problem]:
    """The API's refusal of the draft, field by field; a missing prompt stays a 404 (raised)."""
    if error.body.code == ErrorCode.NOT_FOUND and not error.body.details:
        raise error
    return prompt_editor.problems(error.body.details, error.body.message, drafted)


def _fragment(form: prompt_editor.EditorForm, found: list[Problem], **context: Any) -> web.StreamResponse:
    return render.html(
        "partials/prompt_preview.html",
        slots=prompt_editor.by_slot(found, prompt_editor.slot_ids(form)),
        count=len(found),
        **{"rendered": None, "saved": None, **context},
    )


async def preview(call: Call) -> web.StreamResponse:
    """The draft rendered with the sample values, or every problem under its field."""
    api = EdgeApi(call.request, call.ctx)
    form: prompt_editor.EditorForm = call.input
    await api.get(PROMPT + "/versions", VersionList, name=form.name)  # another team's: 404
    drafted = prompt_editor.draft(form)
    if isinstance(drafted, list):
        return _fragment(form, drafted)
    fields = {"name": form.name, "variables": drafted.samples, "document": drafted.body}
    try:
        rendered = await api.post(PROMPT + "/render", RenderedPromptInfo, fields)
    except (HttpProblem, AgentError, BusError) as error:
        return _fragment(form, _refused(error, drafted))
    return _fragment(form, [], rendered=rendered)


async def save(call: Call) -> web.StreamResponse:
    """A new version through `POST /api/v1/prompts` (unchanged content makes none, and says so)."""
    api = EdgeApi(call.request, call.ctx)
    form: prompt_editor.EditorForm = call.input
    await api.get(PROMPT + "/versions", VersionList, name=form.name)  # a new version, not a new prompt
    drafted = prompt_editor.draft(form)
    if isinstance(drafted, list):
        return _fragment(form, drafted)
    try:
        saved = await api.post(SAVE, SavedPrompt, drafted.body)
    except (HttpProblem, AgentError, BusError) as error:
        return _fragment(form, _refused(error, drafted))
    return _fragment(form, [], saved=saved, saved_href=prompts.prompt_href(saved.prompt.name))


async def pull_request(call: Call) -> web.StreamResponse:
    """Propose the latest version to the team's prompt repository: the pull request's URL, or the
    API's refusal in words (no repository connected, the branch already holds it, GitHub refused)."""
    api = EdgeApi(call.request, call.ctx)
    form: prompt_editor.PullRequestForm = call.input
    await api.get(PROMPT + "/versions", VersionList, name=form.name)  # another team's: 404
    opened: PullRequestOpened | None = None
    problem: str | None = None
    try:
        opened = await api.post(PROMPT + "/pull-request", PullRequestOpened, {"name": form.name})
    except (HttpProblem, AgentError, BusError) as error:
        problem = f"No pull request was opened: {error.body.message}."
    return render.html("partials/prompt_pull_request.html", opened=opened, problem=problem)


EDITOR_ROUTES: list[Route] = [
    _route(
        "GET",
        prompts.PATH + "/{name}/edit",
        "Prompt editor page: a new version of the prompt (text template or chat messages, variables "
        "with their types and sample values, includes, config, tags, commit message), prefilled from "
        "the latest version.",
        Permission.PROMPTS_WRITE,
        edit_page,
        request=prompt_editor.EditQuery,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompt_editor.PREVIEW_PATH,
        "Prompt editor fragment: render the unsaved draft with the sample values through "
        "POST /api/v1/prompts/{name}/render (`document`); rendering problems (missing or mistyped "
        "variable, include cycle, template syntax) in words under their fields.",
        Permission.PROMPTS_WRITE,
        preview,
        request=prompt_editor.EditorForm,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompt_editor.SAVE_PATH,
        "Prompt editor fragment: save the draft as a new version (POST /api/v1/prompts); unchanged "
        "content makes none and says so; the API's problems under their fields.",
        Permission.PROMPTS_WRITE,
        save,
        request=prompt_editor.EditorForm,
        extra_status=(404,),
    ),
    _route(
        "POST",
        prompt_editor.PULL_REQUEST_PATH,
        "Prompt fragment: open a pull request proposing the latest version to the team's prompt "
        "repository (POST /api/v1/prompts/{name}/pull-request); its URL, or the refusal in words.",
        Permission.PROMPTS_WRITE,
        pull_request,
        request=prompt_editor.PullRequestForm,
        extra_status=(404,),
    ),
]
