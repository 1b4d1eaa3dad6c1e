"""The Account page's route: the plan of the team's account, its limits and usage (`GET /api/v1/usage`),
and its GitHub link: installations with their repositories and the webhook deliveries about the
account (`GET /api/v1/github/...`).

The page needs `github:read` (every team role): a viewer sees the GitHub link, and the plan panel
only when `usage:read` lets the API answer it. Older deliveries are a link (`?before=`), so a URL
keeps the ledger page it shows.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from agents.super_agent.routes.github import DELIVERIES, INSTALLATIONS, REPOSITORIES
from services.dashboard import account, render
from services.dashboard.answers import Unavailable
from services.dashboard.pages import ACCOUNT
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.github_links import LedgerPage, LinkedInstallationPage, RepositoryPage
from shared.messages.identity import PlanUsage


class AccountQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    before: int | None = Field(default=None, ge=1, le=2**63 - 1, description="Older deliveries than this id.")


async def _repositories(api: EdgeApi, installation_id: int) -> RepositoryPage | Unavailable:
    return await attempt(
        api.get(
            REPOSITORIES, RepositoryPage, installation_id=installation_id, limit=account.REPOSITORIES_SHOWN
        )
    )


async def account_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: AccountQuery = call.input
    frame, usage, installed, ledger = await asyncio.gather(
        page_chrome(api, ACCOUNT),
        attempt(api.get("/api/v1/usage", PlanUsage)),
        attempt(api.get(INSTALLATIONS, LinkedInstallationPage, limit=100)),
        attempt(api.get(DELIVERIES, LedgerPage, limit=account.DELIVERIES_SHOWN, before=query.before)),
    )
    installations: list[account.InstallationRow] | Unavailable = (
        installed if isinstance(installed, Unavailable) else []
    )
    if not isinstance(installed, Unavailable):
        wanted = [i.github_id for i in installed.installations if account.wants_repositories(i)]
        found = await asyncio.gather(*(_repositories(api, i) for i in wanted))
        installations = account.installation_rows(
            installed.installations, dict(zip(wanted, found, strict=True))
        )
    deliveries = ledger if isinstance(ledger, Unavailable) else account.delivery_rows(ledger)
    older = None
    if not isinstance(ledger, Unavailable) and ledger.next_before is not None:
        older = f"{ACCOUNT.path}?{urlencode({'before': ledger.next_before})}#deliveries-title"
    return render.html(
        "account.html",
        chrome=frame,
        view=usage if isinstance(usage, Unavailable) else account.build(usage),
        installations=installations,
        deliveries=deliveries,
        deliveries_older=older,
        deliveries_newest=ACCOUNT.path if query.before is not None else None,
        Unavailable=Unavailable,
    )


ACCOUNT_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        ACCOUNT.path,
        "Account page: your account's plan, limits and usage (with usage:read), its GitHub App "
        "installations and their repositories, and the webhook deliveries about it.",
        ACCOUNT.permission,
        account_page,
        request=AccountQuery,
    ),
]
