"""The Account page's route: the plan of the team's account, its limits and usage (`GET /api/v1/usage`).

The GitHub side (installations, repositories, the webhook delivery ledger and reprocessing) is read
only by the operator's routes (`/api/v1/operator/*`: platform permissions no team role holds), so
the page names them rather than reading the database around the API.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from services.dashboard import account, render
from services.dashboard.answers import Unavailable
from services.dashboard.pages import ACCOUNT
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.identity import PlanUsage


async def account_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    frame, usage = await asyncio.gather(
        page_chrome(api, ACCOUNT), attempt(api.get("/api/v1/usage", PlanUsage))
    )
    view = usage if isinstance(usage, Unavailable) else account.build(usage)
    return render.html("account.html", chrome=frame, view=view, Unavailable=Unavailable)


ACCOUNT_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        ACCOUNT.path,
        "Account page: the plan of your team's account, its limits and what is used of them, its features.",
        ACCOUNT.permission,
        account_page,
    ),
]
