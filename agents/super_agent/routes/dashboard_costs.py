"""The Costs explorer's routes: the page, and its CSV export, both from `GET /api/v1/costs`.

The view's whole state is the query string (`costs.ExplorerQuery`), so a URL is a shareable view
and the CSV of a view is the same URL with `.csv`. The page asks two questions of the API at once
(grouped with series, and the ungrouped series) and says how long its data took on the server
(also as a `Server-Timing` header, which the benchmark and browsers' dev tools read).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from time import perf_counter

from aiohttp import web

from agents.super_agent.routes.dashboard import COSTS, attempt, page_chrome, page_route
from services.dashboard import costs, render
from services.dashboard.answers import Unavailable
from services.dashboard.pages import COSTS as COSTS_PAGE
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.permissions import Permission
from shared.messages.telemetry import CostReport

CSV_PATH = COSTS_PAGE.path + ".csv"


async def costs_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: costs.ExplorerQuery = call.input
    plan = costs.plan(query, datetime.now(UTC))
    started = perf_counter()
    frame, grouped, series = await asyncio.gather(
        page_chrome(api, COSTS_PAGE),
        attempt(api.get(COSTS, CostReport, **plan.grouped(query))),
        attempt(api.get(COSTS, CostReport, **plan.series(query))),
    )
    data_ms = (perf_counter() - started) * 1000
    view: costs.Explorer | Unavailable
    if isinstance(grouped, Unavailable):
        view = grouped
    elif isinstance(series, Unavailable):
        view = series
    else:
        view = costs.build(query, plan, grouped, series, COSTS_PAGE.path)
    return render.html(
        "costs.html",
        headers={"Server-Timing": f'data;desc="GET /api/v1/costs";dur={data_ms:.1f}'},
        chrome=frame,
        view=view,
        query=query,
        plan=plan,
        data_ms=data_ms,
        ranges=costs.RANGES,
        dimensions=costs.DIMENSIONS,
        metrics=costs.METRICS,
        filter_names=costs.FILTERS,
        path=COSTS_PAGE.path,
        Permission=Permission,
        scripts=["vendor/echarts-6.1.0/echarts.common.min.js"],
    )


async def costs_csv(call: Call) -> web.StreamResponse:
    """The view's groups and buckets as CSV (a download named after the range)."""
    api = EdgeApi(call.request, call.ctx)
    query: costs.ExplorerQuery = call.input
    plan = costs.plan(query, datetime.now(UTC))
    report = await api.get(COSTS, CostReport, **plan.grouped(query))
    name = f"costs-{plan.group_by.replace(':', '-')}-{plan.since:%Y%m%d}-{plan.until:%Y%m%d}.csv"
    return web.Response(
        text=costs.csv_text(query, plan, report),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


COSTS_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        COSTS_PAGE.path,
        "Costs explorer: cost, tokens, calls and latency over a range, grouped by model, provider, "
        "project, user, API key, prompt, status or a tag, filtered; the view is its query string.",
        COSTS_PAGE.permission,
        costs_page,
        request=costs.ExplorerQuery,
    ),
    dataclasses.replace(
        page_route(
            "GET",
            CSV_PATH,
            "Costs explorer's view as CSV: a row per group and bucket, then totals (GET /api/v1/costs).",
            COSTS_PAGE.permission,
            costs_csv,
            request=costs.ExplorerQuery,
        ),
        media_type="text/csv",
    ),
]
