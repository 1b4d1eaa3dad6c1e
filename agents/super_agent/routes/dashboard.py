"""The web dashboard (`DASHBOARD_ROUTES`): server-rendered pages, their htmx fragments, sign-in, assets.

Every page and fragment is a route of the table like any other: its permission is the page's
(services/dashboard/pages.py), its plan feature `dashboard`, and its errors come as a page (401
sends the browser to sign in). Handlers read and write only through the API's own routes, called
in-process as the page's principal (`EdgeApi`): the same permission checks, plan gates, input
models and agents as any client's call. How to add a page: docs/DASHBOARD.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from agents.super_agent.edge_deps import deps
from agents.super_agent.routes.auth import LOGIN_PATH, _set_cookie, redirect
from services.dashboard import assets, overview, render
from services.dashboard.answers import Unavailable, unavailable
from services.dashboard.pages import FEATURE, OVERVIEW, Chrome, Page, chrome
from services.gateway.auth import TEAM_COOKIE
from services.gateway.edge import authenticate
from services.gateway.errors import HttpProblem
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import PUBLIC, Call, Local, Route
from services.identity import local_sign_in, sessions
from services.identity.login import safe_return_path
from shared.bus.errors import AgentError, BusError
from shared.messages.alerts import AlertHistoryPage
from shared.messages.budgets import BudgetInfo, BudgetList
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.fields import Text
from shared.messages.identity import SessionInfo
from shared.messages.permissions import Permission
from shared.messages.telemetry import AnomalyList, CostReport, DroppedSpansReport

DASHBOARD = ("dashboard",)
SIGN_IN_PATH = "/sign-in"
HTML = "text/html"
SESSION = "/api/v1/session"
COSTS = "/api/v1/costs"
BUDGETS = "/api/v1/budgets"
DROPPED_SPANS = "/api/v1/ingest/dropped-spans"

T = TypeVar("T")


# -- errors as pages ---------------------------------------------------------------------------


def error_page(request: web.Request, error: ErrorBody, status: int, correlation_id: str) -> web.Response:
    """401: to the sign-in page (htmx follows `HX-Redirect`); anything else: a page saying what."""
    fragment = request.headers.get("HX-Request") == "true"
    if status == 401:
        target = f"{SIGN_IN_PATH}?{urlencode({'return_to': request.path_qs})}"
        if fragment:
            return web.Response(status=401, headers={"HX-Redirect": target, **render.SECURITY_HEADERS})
        return redirect(target)
    template = "partials/error.html" if fragment else "error.html"
    return render.html(
        template, status=status, status_code=status, error=error, correlation_id=correlation_id
    )


# -- helpers -----------------------------------------------------------------------------------


async def attempt(answer: Awaitable[T]) -> T | Unavailable:
    """The API's answer, or why a panel cannot have it (the page still renders)."""
    try:
        return await answer
    except (HttpProblem, AgentError, BusError) as error:
        return unavailable(error.body)


async def page_chrome(api: EdgeApi, page: Page) -> Chrome:
    return chrome(await api.get(SESSION, SessionInfo), page)


def edge_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


# -- pages -------------------------------------------------------------------------------------


async def home(call: Call) -> web.StreamResponse:
    return redirect(OVERVIEW.path)


async def overview_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    win = overview.window(datetime.now(UTC))
    # gather's typing stops at six answers: the seventh runs beside them as its own task.
    dropped = asyncio.create_task(
        attempt(api.get(DROPPED_SPANS, DroppedSpansReport, since=win.drops_since, until=win.now))
    )
    try:
        frame, month, recent, budgets, anomalies, alerts = await asyncio.gather(
            page_chrome(api, OVERVIEW),
            attempt(api.get(COSTS, CostReport, since=win.month_start, until=win.until, bucket="day")),
            attempt(
                api.get(COSTS, CostReport, since=win.recent_since, until=win.recent_until, bucket="minute")
            ),
            attempt(api.get(BUDGETS, BudgetList)),
            attempt(api.get("/api/v1/anomalies", AnomalyList, since=win.anomalies_since, until=win.now)),
            attempt(api.get("/api/v1/alerts", AlertHistoryPage, limit=overview.ALERTS_SHOWN)),
        )
    except BaseException:
        dropped.cancel()  # the page failed (e.g. sign-in expired): no orphan call
        raise
    view = overview.build(
        win,
        month=month,
        recent=recent,
        budgets=budgets,
        anomalies=anomalies,
        alerts=alerts,
        drops=await dropped,
    )
    return render.html(
        "overview.html",
        chrome=frame,
        view=view,
        origin=edge_origin(call.request),
        Unavailable=Unavailable,
        Permission=Permission,
        scripts=["vendor/echarts-6.1.0/echarts.common.min.js"],
    )


async def overview_forecast(call: Call) -> web.StreamResponse:
    """The month's forecast of each monthly budget (a model fit each: loaded after the page)."""
    api = EdgeApi(call.request, call.ctx)
    budgets = await attempt(api.get(BUDGETS, BudgetList))
    if isinstance(budgets, Unavailable):
        return render.html("partials/forecast.html", rows=budgets, monthly=0)
    monthly = overview.month_budgets(budgets)
    found = await asyncio.gather(
        *(api.get(f"{BUDGETS}/{{budget_id}}", BudgetInfo, budget_id=b.id, forecast=True) for b in monthly)
    )
    return render.html(
        "partials/forecast.html", rows=overview.forecast_rows(list(found)), monthly=len(monthly)
    )


class QuickBudget(BaseModel):
    """The overview's "new monthly budget" form (htmx sends form fields as JSON strings)."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100)
    amount_usd: Decimal = Field(gt=0, le=Decimal("1e12"))


async def overview_budget(call: Call) -> web.StreamResponse:
    """Create a team-wide monthly budget through `POST /api/v1/budgets`; answer the budgets panel."""
    api = EdgeApi(call.request, call.ctx)
    form: QuickBudget = call.input
    created = await attempt(
        api.post(BUDGETS, BudgetInfo, {"name": form.name, "amount_usd": form.amount_usd, "period": "month"})
    )
    frame, budgets = await asyncio.gather(page_chrome(api, OVERVIEW), attempt(api.get(BUDGETS, BudgetList)))
    rows = budgets if isinstance(budgets, Unavailable) else overview.budget_rows(budgets)
    problem = created if isinstance(created, Unavailable) else None
    return render.html(
        "partials/budgets.html",
        chrome=frame,
        budgets=rows,
        problem=problem,
        Unavailable=Unavailable,
        Permission=Permission,
    )


class TeamSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: Text = Field(min_length=1, max_length=100, description="Id or slug of one of your teams.")


async def switch_team(call: Call) -> web.StreamResponse:
    """Remember the team the browser acts in (the `mno_team` cookie); the page reloads in it."""
    edge = deps(call)
    wanted: TeamSwitch = call.input
    session = await EdgeApi(call.request, call.ctx).get(SESSION, SessionInfo)
    chosen = next((t for t in session.teams if wanted.team in (t.team_id, t.slug)), None)
    if chosen is None:
        raise HttpProblem(ErrorCode.NOT_FOUND, f"no team {wanted.team} among yours")
    response = web.Response(status=204, headers={"HX-Refresh": "true", "Cache-Control": "no-store"})
    _set_cookie(response, edge, TEAM_COOKIE, chosen.team_id, edge.cookies.session_max_age, "/")
    return response


# -- sign-in -----------------------------------------------------------------------------------


class SignInQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    return_to: Text = Field(default=OVERVIEW.path, max_length=2000)


async def sign_in_page(call: Call) -> web.StreamResponse:
    query: SignInQuery = call.input
    back = safe_return_path(query.return_to)
    if await authenticate(call.request) is not None:
        return redirect(back)
    return render.html(
        "sign_in.html",
        github=deps(call).login is not None,
        github_url=f"{LOGIN_PATH}?{urlencode({'return_to': back})}",
    )


class LocalSignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text = Field(min_length=10, max_length=200)


async def local_sign_in_route(call: Call) -> web.StreamResponse:
    """The one-time link `mno run` prints: a session of the local administrator, then the dashboard."""
    edge = deps(call)
    previous = call.request.cookies.get(edge.cookies.session_name)
    async with edge.pool.acquire() as conn, conn.transaction():
        user_id = await local_sign_in.use_link(conn, call.input.token)
        if user_id is None:
            raise HttpProblem(
                ErrorCode.UNAUTHENTICATED,
                "this sign-in link is used up or expired: restart `mno run` for a new one",
            )
        if previous:
            await sessions.revoke(conn, previous)  # a new session at sign-in, never the old one
        token = await sessions.create(
            conn,
            user_id,
            ttl=timedelta(seconds=edge.cookies.session_max_age),
            ip=call.request.remote,
            user_agent=call.request.headers.get("User-Agent"),
        )
    response = redirect(OVERVIEW.path)
    _set_cookie(response, edge, edge.cookies.session_name, token, edge.cookies.session_max_age, "/")
    return response


def local_sign_in_error(
    request: web.Request, error: ErrorBody, status: int, correlation_id: str
) -> web.Response:
    """A dead link is shown as a page (not sent to sign in again, which would loop)."""
    return render.html(
        "error.html", status=status, status_code=status, error=error, correlation_id=correlation_id
    )


async def asset(call: Call) -> web.StreamResponse:
    return assets.response(call.request.match_info["path"], call.request.query.get("v"))


# -- the table ---------------------------------------------------------------------------------


def page_route(
    method: Any, path: str, summary: str, permission: Permission, handler: Any, **extra: Any
) -> Route:
    """A dashboard page or fragment: HTML, the `dashboard` plan feature (or a capability's own, for
    pages under its gated path: `feature=`), errors as pages."""
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        tags=DASHBOARD,
        media_type=HTML,
        feature=extra.pop("feature", FEATURE),
        error_page=error_page,
        extra_status=(302, 401, 403, *extra.pop("extra_status", ())),
        **extra,
    )


DASHBOARD_ROUTES: list[Route] = [
    Route(
        "GET",
        "/",
        "The dashboard (redirects to the overview).",
        PUBLIC,
        Local(home),
        tags=DASHBOARD,
        media_type=HTML,
        status=302,
    ),
    page_route(
        "GET",
        OVERVIEW.path,
        "Overview page: spend today and this month against budgets, the month's forecast, anomalies, "
        "recent alerts, ingest health.",
        OVERVIEW.permission,
        overview_page,
    ),
    page_route(
        "GET",
        "/dashboard/overview/forecast",
        "Overview fragment: the month's forecast of each monthly budget.",
        Permission.BUDGETS_READ,
        overview_forecast,
    ),
    page_route(
        "POST",
        "/dashboard/overview/budget",
        "Overview fragment: create a team-wide monthly budget (POST /api/v1/budgets); answers the budgets "
        "panel.",
        Permission.BUDGETS_WRITE,
        overview_budget,
        request=QuickBudget,
    ),
    page_route(
        "POST",
        "/dashboard/team",
        "Choose the team the dashboard acts in (a cookie; the page reloads).",
        Permission.TEAMS_READ,
        switch_team,
        request=TeamSwitch,
        status=204,
        extra_status=(404,),
    ),
    Route(
        "GET",
        SIGN_IN_PATH,
        "The sign-in page.",
        PUBLIC,
        Local(sign_in_page),
        request=SignInQuery,
        tags=DASHBOARD,
        media_type=HTML,
        extra_status=(302,),
    ),
    Route(
        "GET",
        local_sign_in.PATH,
        "The local administrator's one-time sign-in link (printed by `mno run`): sets the session "
        "cookie and redirects to the dashboard.",
        PUBLIC,
        Local(local_sign_in_route),
        request=LocalSignIn,
        status=302,
        tags=("auth",),
        media_type=HTML,
        error_page=local_sign_in_error,
        extra_status=(401, 422),
    ),
    Route(
        "GET",
        assets.PREFIX + "/{path:.+}",
        "A static file of the dashboard (ours, or a vendored library with its licence).",
        PUBLIC,
        Local(asset),
        tags=DASHBOARD,
        media_type="application/octet-stream",
        extra_status=(404,),
    ),
]
