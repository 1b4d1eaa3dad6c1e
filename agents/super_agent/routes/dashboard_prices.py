"""The Prices page's routes: price overrides (add, delete) and re-pricing runs with their totals.

Overrides and runs go through the API's own routes (`/api/v1/price-overrides`, `POST
/api/v1/costs/reprice`). The API keeps no list of past runs: they are read from the audit log's
`prices.reprice` entries (`GET /api/v1/audit`), so the history is shown to those who may read the
audit log (owners and admins) and a run just made is shown to whoever made it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from services.audit.models import AuditPage
from services.dashboard import prices, render
from services.dashboard.answers import Unavailable
from services.dashboard.pages import PRICES
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.permissions import Permission
from shared.messages.prices import PriceOverrideInfo, PriceOverrideList, RepriceResult

OVERRIDES = "/api/v1/price-overrides"
AUDIT = "/api/v1/audit"


def _status(answer: object) -> int:
    return 403 if isinstance(answer, Unavailable) and answer.reason == "role" else 200


async def _runs(api: EdgeApi) -> list[prices.RunRow] | Unavailable:
    page = await attempt(api.get(AUDIT, AuditPage, action=prices.REPRICE_ACTION, limit=prices.RUNS_SHOWN))
    if isinstance(page, Unavailable):
        return page
    return prices.run_rows([entry.model_dump(mode="json") for entry in page.entries])


async def _overrides(api: EdgeApi) -> list[prices.OverrideRow] | Unavailable:
    found = await attempt(api.get(OVERRIDES, PriceOverrideList, include_deleted=True))
    return found if isinstance(found, Unavailable) else prices.override_rows(found)


async def prices_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    frame, overrides, runs = await asyncio.gather(page_chrome(api, PRICES), _overrides(api), _runs(api))
    return render.html(
        "prices.html",
        chrome=frame,
        overrides=overrides,
        runs=runs,
        problem=None,
        done=None,
        run=None,
        run_problem=None,
        today=datetime.now(UTC).date(),
        Permission=Permission,
    )


async def _override_panel(api: EdgeApi, **context: Any) -> web.Response:
    frame, overrides = await asyncio.gather(page_chrome(api, PRICES), _overrides(api))
    problem = context.get("problem")
    return render.html(
        "partials/overrides.html",
        status=_status(problem),
        chrome=frame,
        overrides=overrides,
        problem=problem,
        done=context.get("done"),
        today=datetime.now(UTC).date(),
        Permission=Permission,
    )


async def override_create(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: prices.OverrideForm = call.input
    made = await attempt(api.post(OVERRIDES, PriceOverrideInfo, form.body(datetime.now(UTC).date())))
    if isinstance(made, Unavailable):
        return await _override_panel(api, problem=made)
    return await _override_panel(
        api,
        done=f"Override for {made.provider} {made.model_pattern} added: "
        "re-price to apply it to stored calls.",
    )


async def override_delete(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    ref: prices.OverrideRef = call.input
    gone = await attempt(
        api.call("DELETE", OVERRIDES + "/{override_id}", PriceOverrideInfo, {"override_id": ref.override_id})
    )
    if isinstance(gone, Unavailable):
        return await _override_panel(api, problem=gone)
    return await _override_panel(api, done=f"Override for {gone.provider} {gone.model_pattern} deleted.")


async def reprice(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: prices.RepriceForm = call.input
    result = await attempt(api.post("/api/v1/costs/reprice", RepriceResult, form.body()))
    frame = await page_chrome(api, PRICES)
    runs = await _runs(api)
    return render.html(
        "partials/runs.html",
        status=_status(result),
        chrome=frame,
        runs=runs,
        run=None if isinstance(result, Unavailable) else prices.run_of(result),
        run_problem=result if isinstance(result, Unavailable) else None,
        today=datetime.now(UTC).date(),
        Permission=Permission,
    )


PRICE_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        PRICES.path,
        "Prices page: the team's price overrides and its re-pricing runs with before/after totals.",
        PRICES.permission,
        prices_page,
    ),
    page_route(
        "POST",
        PRICES.path + "/overrides/create",
        "Prices fragment: add a price override (POST /api/v1/price-overrides); answers the overrides.",
        Permission.PRICES_WRITE,
        override_create,
        request=prices.OverrideForm,
    ),
    page_route(
        "POST",
        PRICES.path + "/overrides/delete",
        "Prices fragment: delete a price override (DELETE /api/v1/price-overrides/{override_id}).",
        Permission.PRICES_WRITE,
        override_delete,
        request=prices.OverrideRef,
    ),
    page_route(
        "POST",
        PRICES.path + "/reprice",
        "Prices fragment: re-price stored calls of a range (POST /api/v1/costs/reprice); answers the runs.",
        Permission.PRICES_WRITE,
        reprice,
        request=prices.RepriceForm,
    ),
]
