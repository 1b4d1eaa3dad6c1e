"""The team's prompt repository (`PROMPT_REPOSITORY_ROUTES`): a GitHub repository of its account's App
installation whose folder of `*.yaml` prompt files every push to the branch syncs into the team's
prompts (`services/prompt_sync`). The SuperAgent holds it: it is a link between a team and a
repository of an installation, both the SuperAgent's data, and only the SuperAgent talks to GitHub;
the prompts themselves stay the LearningAgent's, saved through its endpoint."""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, HttpMethod, Local, LocalHandler, Route
from services.prompt_sync import api
from services.prompt_sync.pull_request import open_pull_request
from shared.messages.permissions import Permission
from shared.messages.prompt_repository import (
    ConnectRepository,
    OpenPullRequest,
    PromptRepositoryInfo,
    PullRequestOpened,
    RepositoryDisconnected,
)
from shared.principals import team_of

__all__ = ["PROMPT_REPOSITORY_ROUTES"]

# `-` can start no prompt name, so this never shadows a prompt called `repository`.
REPOSITORY = "/api/v1/prompts/-/repository"
PULL_REQUEST = "/api/v1/prompts/{name}/pull-request"


async def connect(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await api.connect(conn, team_of(call.ctx.principal), acting(call), call.input)


async def read(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await api.read(conn, team_of(call.ctx.principal))


async def pull_request(call: Call) -> BaseModel:
    edge = deps(call)
    return await open_pull_request(
        edge.pool,
        edge.login.github if edge.login is not None else None,
        edge.bus,
        team_of(call.ctx.principal),
        acting(call),
        call.ctx,
        call.input,
    )


async def disconnect(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await api.disconnect(conn, team_of(call.ctx.principal), acting(call))


def _route(
    method: HttpMethod,
    path: str,
    summary: str,
    permission: Permission,
    handler: LocalHandler,
    request: type[BaseModel] | None,
    response: type[BaseModel],
    extra: tuple[int, ...],
) -> Route:
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        request=request,
        response=response,
        tags=("prompts",),
        feature="prompts",
        extra_status=extra,
    )


PROMPT_REPOSITORY_ROUTES: list[Route] = [
    _route(
        "PUT",
        REPOSITORY,
        "Connect the team's prompt repository: `owner/name` (a repository an active GitHub App "
        "installation of your account grants; any other is 404), the `branch` whose pushes sync, and "
        "the `folder` of `*.yaml` files (default `prompts`). Each push to the branch saves every "
        "changed file as a new version (none when the content hash is unchanged). Audited.",
        Permission.PROMPTS_WRITE,
        connect,
        ConnectRepository,
        PromptRepositoryInfo,
        (404,),
    ),
    _route(
        "GET",
        REPOSITORY,
        "The team's prompt repository and its last sync: the commit, when, what was saved and every "
        "file refused, with why.",
        Permission.PROMPTS_READ,
        read,
        None,
        PromptRepositoryInfo,
        (404,),
    ),
    _route(
        "DELETE",
        REPOSITORY,
        "Disconnect the team's prompt repository (its prompts stay). Audited.",
        Permission.PROMPTS_WRITE,
        disconnect,
        None,
        RepositoryDisconnected,
        (404,),
    ),
    _route(
        "POST",
        PULL_REQUEST,
        "Propose a version of the prompt (`label`, default `latest`, or `version`) to the team's prompt "
        "repository: a new branch with `<folder>/<name>.yaml` written as `mno prompts pull` writes it, "
        "and a pull request into the connected branch. 409 when the branch already holds that version "
        "or GitHub refuses (the App needs contents and pull requests: write). Audited.",
        Permission.PROMPTS_WRITE,
        pull_request,
        OpenPullRequest,
        PullRequestOpened,
        (404, 409, 503, 504),
    ),
]
