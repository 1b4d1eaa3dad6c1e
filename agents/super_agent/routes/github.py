"""A team's read of its account's GitHub link (`GITHUB_ROUTES`): the App's installations, the
repositories each grants, and the webhook deliveries about the account.

`github:read` (every team role); no plan feature: every plan's account comes through the GitHub App
(a Marketplace purchase is delivered to it), so seeing what GitHub sent about your own account is
not a capability sold apart (`github` is not in GATED_PATHS for the same reason). The operator's
routes (`/api/v1/operator/*`) read the same tables across every account.
"""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.route_table import Call, Route, local_route
from services.identity import github_links
from shared.messages.github_links import (
    LedgerPage,
    LedgerQuery,
    LinkedInstallationPage,
    LinkedInstallationQuery,
    RepositoryPage,
    RepositoryQuery,
)
from shared.messages.permissions import Permission
from shared.principals import team_of

GITHUB = ("github",)
INSTALLATIONS = "/api/v1/github/installations"
REPOSITORIES = INSTALLATIONS + "/{installation_id}/repositories"
DELIVERIES = "/api/v1/github/deliveries"


async def installations_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await github_links.list_installations(conn, team_of(call.ctx.principal), call.input)


async def repositories_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await github_links.list_repositories(conn, team_of(call.ctx.principal), call.input)


async def deliveries_list(call: Call) -> BaseModel:
    async with deps(call).pool.acquire() as conn:
        return await github_links.list_deliveries(conn, team_of(call.ctx.principal), call.input)


GITHUB_ROUTES: list[Route] = [
    local_route(
        "GET",
        INSTALLATIONS,
        "Your account's GitHub App installations, newest first, with their status and repository counts.",
        Permission.GITHUB_READ,
        installations_list,
        tags=GITHUB,
        request=LinkedInstallationQuery,
        response=LinkedInstallationPage,
        extra=(422,),
    ),
    local_route(
        "GET",
        REPOSITORIES,
        "The repositories one of your account's installations grants (404 for any other installation).",
        Permission.GITHUB_READ,
        repositories_list,
        tags=GITHUB,
        request=RepositoryQuery,
        response=RepositoryPage,
        extra=(404, 422),
    ),
    local_route(
        "GET",
        DELIVERIES,
        "The webhook deliveries GitHub sent about your account (its installations, its Marketplace "
        "purchases), newest first, with their outcomes.",
        Permission.GITHUB_READ,
        deliveries_list,
        tags=GITHUB,
        request=LedgerQuery,
        response=LedgerPage,
        extra=(422,),
    ),
]
