"""The Budgets and Alerts pages' routes: budgets (create, edit, delete, each one's spend and forecast
chart), alert channels (create, test-send, turn on and off), the delivery history and anomalies.

Every read and write is one of the API's routes called in-process (`EdgeApi`): the forms here only
reshape htmx's strings into the API's bodies, whose models and permissions decide. A refused write
answers its panel with the API's reason (and the status), not a second rule set.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from agents.super_agent.routes.dashboard import BUDGETS, attempt, page_chrome, page_route
from services.dashboard import alerts, budgets, render
from services.dashboard.answers import Unavailable
from services.dashboard.overview import anomaly_rows
from services.dashboard.pages import ALERTS
from services.dashboard.pages import BUDGETS as BUDGETS_PAGE
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.alerts import (
    AlertChannelInfo,
    AlertChannelList,
    AlertHistoryPage,
    ChannelTestResult,
    CreatedAlertChannel,
)
from shared.messages.budgets import BudgetInfo, BudgetList, DeletedBudget
from shared.messages.permissions import Permission
from shared.messages.telemetry import AnomalyList, CostReport

BUDGET = BUDGETS + "/{budget_id}"
CHANNELS = "/api/v1/alert-channels"
CHANNEL = CHANNELS + "/{channel_id}"
COSTS_PATH = "/api/v1/costs"
ANOMALY_DAYS = 30
ECHARTS = ["vendor/echarts-6.1.0/echarts.common.min.js"]


def _status(answer: object) -> int:
    """A write the API refused answers its panel with 200 (htmx swaps only 2xx) saying why; a refusal
    of the role answers 403, so no client can mistake it for success."""
    return 403 if isinstance(answer, Unavailable) and answer.reason == "role" else 200


# -- budgets -----------------------------------------------------------------------------------


async def _budget_table(
    api: EdgeApi, problem: Unavailable | None = None, done: str | None = None
) -> web.Response:
    frame, found = await asyncio.gather(page_chrome(api, BUDGETS_PAGE), attempt(api.get(BUDGETS, BudgetList)))
    return render.html(
        "partials/budget_table.html",
        status=_status(problem),
        chrome=frame,
        budgets=found if isinstance(found, Unavailable) else found.budgets,
        rows=found if isinstance(found, Unavailable) else budgets.budget_rows(found),
        problem=problem,
        done=done,
        Permission=Permission,
    )


async def budgets_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    frame, found = await asyncio.gather(page_chrome(api, BUDGETS_PAGE), attempt(api.get(BUDGETS, BudgetList)))
    return render.html(
        "budgets.html",
        chrome=frame,
        budgets=found if isinstance(found, Unavailable) else found.budgets,
        rows=found if isinstance(found, Unavailable) else budgets.budget_rows(found),
        problem=None,
        done=None,
        form=budgets.BudgetForm(),
        Permission=Permission,
        scripts=ECHARTS,
    )


async def budget_chart(call: Call) -> web.StreamResponse:
    """One budget's spend this period with its forecast (loaded after the page: a model fit each)."""
    api = EdgeApi(call.request, call.ctx)
    ref: budgets.BudgetRef = call.input
    found = await attempt(api.get(BUDGET, BudgetInfo, budget_id=ref.budget_id, forecast=True))
    if isinstance(found, Unavailable):
        return render.html("partials/budget_chart.html", budget=None, problem=found)
    plan = budgets.chart_plan(found, datetime.now(UTC))
    report = await attempt(api.get(COSTS_PATH, CostReport, **plan.query()))
    if isinstance(report, Unavailable):
        return render.html("partials/budget_chart.html", budget=found, problem=report)
    chart = budgets.spend_chart(found, report)
    return render.html(
        "partials/budget_chart.html",
        budget=found,
        problem=None,
        chart=chart,
        table=budgets.chart_rows(chart),
        since=plan.since,
        until=plan.until,
    )


async def budget_create(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: budgets.BudgetForm = call.input
    made = await attempt(api.post(BUDGETS, BudgetInfo, form.create_body()))
    if isinstance(made, Unavailable):
        return await _budget_table(api, made)
    return await _budget_table(api, done=f"Budget “{made.name}” created.")


async def budget_update(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: budgets.BudgetForm = call.input
    changed = await attempt(api.call("PATCH", BUDGET, BudgetInfo, form.update_body()))
    if isinstance(changed, Unavailable):
        return await _budget_table(api, changed)
    return await _budget_table(api, done=f"Budget “{changed.name}” saved.")


async def budget_delete(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    ref: budgets.BudgetRef = call.input
    gone = await attempt(api.call("DELETE", BUDGET, DeletedBudget, {"budget_id": ref.budget_id}))
    if isinstance(gone, Unavailable):
        return await _budget_table(api, gone)
    return await _budget_table(api, done="Budget deleted.")


# -- alerts ------------------------------------------------------------------------------------


async def _channels(api: EdgeApi, **context: Any) -> web.Response:
    frame, found = await asyncio.gather(
        page_chrome(api, ALERTS), attempt(api.get(CHANNELS, AlertChannelList))
    )
    problem = context.get("problem")
    return render.html(
        "partials/channels.html",
        status=_status(problem),
        chrome=frame,
        channels=found if isinstance(found, Unavailable) else alerts.channel_rows(found),
        problem=problem,
        done=context.get("done"),
        secret=context.get("secret"),
        tested=context.get("tested"),
        Permission=Permission,
    )


async def alerts_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    now = datetime.now(UTC)
    frame, channels, history, anomalies = await asyncio.gather(
        page_chrome(api, ALERTS),
        attempt(api.get(CHANNELS, AlertChannelList)),
        attempt(api.get("/api/v1/alerts", AlertHistoryPage, limit=alerts.HISTORY_SHOWN)),
        attempt(
            api.get("/api/v1/anomalies", AnomalyList, since=now - timedelta(days=ANOMALY_DAYS), until=now)
        ),
    )
    return render.html(
        "alerts.html",
        chrome=frame,
        channels=channels if isinstance(channels, Unavailable) else alerts.channel_rows(channels),
        channel_choices=[] if isinstance(channels, Unavailable) else alerts.channel_rows(channels),
        history=history if isinstance(history, Unavailable) else alerts.deliveries(history),
        anomalies=anomalies if isinstance(anomalies, Unavailable) else anomaly_rows(anomalies),
        anomaly_days=ANOMALY_DAYS,
        problem=None,
        done=None,
        secret=None,
        tested=None,
        selected="",
        Permission=Permission,
    )


async def delivery_history(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: alerts.HistoryQuery = call.input
    history = await attempt(
        api.get(
            "/api/v1/alerts",
            AlertHistoryPage,
            limit=alerts.HISTORY_SHOWN,
            channel_id=query.channel_id or None,
        )
    )
    return render.html(
        "partials/deliveries.html",
        history=history if isinstance(history, Unavailable) else alerts.deliveries(history),
        selected=query.channel_id,
    )


async def channel_create(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: alerts.ChannelForm = call.input
    made = await attempt(api.post(CHANNELS, CreatedAlertChannel, form.body()))
    if isinstance(made, Unavailable):
        return await _channels(api, problem=made)
    return await _channels(api, done=f"Channel “{made.channel.name}” created.", secret=made.signing_secret)


async def channel_test(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    ref: alerts.ChannelRef = call.input
    result = await attempt(
        api.call("POST", CHANNEL + "/test", ChannelTestResult, {"channel_id": ref.channel_id})
    )
    if isinstance(result, Unavailable):
        return await _channels(api, problem=result)
    return await _channels(api, tested=result)


async def channel_toggle(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: alerts.ChannelToggle = call.input
    body = {"channel_id": form.channel_id, "enabled": form.enabled == "true"}
    changed = await attempt(api.call("PATCH", CHANNEL, AlertChannelInfo, body))
    if isinstance(changed, Unavailable):
        return await _channels(api, problem=changed)
    state = "on" if changed.enabled else "off"
    return await _channels(api, done=f"Channel “{changed.name}” turned {state}.")


BUDGET_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        BUDGETS_PAGE.path,
        "Budgets page: each budget's state, its spend and forecast chart, and (for those who may) the "
        "forms to create, edit and delete budgets.",
        BUDGETS_PAGE.permission,
        budgets_page,
    ),
    page_route(
        "GET",
        BUDGETS_PAGE.path + "/chart",
        "Budgets fragment: one budget's spend this period with its forecast and interval.",
        Permission.BUDGETS_READ,
        budget_chart,
        request=budgets.BudgetRef,
    ),
    page_route(
        "POST",
        BUDGETS_PAGE.path + "/create",
        "Budgets fragment: create a budget (POST /api/v1/budgets); answers the budgets table.",
        Permission.BUDGETS_WRITE,
        budget_create,
        request=budgets.BudgetForm,
    ),
    page_route(
        "POST",
        BUDGETS_PAGE.path + "/update",
        "Budgets fragment: change a budget (PATCH /api/v1/budgets/{budget_id}); answers the table.",
        Permission.BUDGETS_WRITE,
        budget_update,
        request=budgets.BudgetForm,
    ),
    page_route(
        "POST",
        BUDGETS_PAGE.path + "/delete",
        "Budgets fragment: delete a budget (DELETE /api/v1/budgets/{budget_id}); answers the table.",
        Permission.BUDGETS_WRITE,
        budget_delete,
        request=budgets.BudgetRef,
    ),
    page_route(
        "GET",
        ALERTS.path,
        "Alerts page: alert channels, the alerts with each delivery attempt, and anomalies.",
        ALERTS.permission,
        alerts_page,
    ),
    page_route(
        "GET",
        ALERTS.path + "/deliveries",
        "Alerts fragment: the delivery history, of one channel or all (GET /api/v1/alerts).",
        Permission.ALERTS_READ,
        delivery_history,
        request=alerts.HistoryQuery,
    ),
    page_route(
        "POST",
        ALERTS.path + "/channels/create",
        "Alerts fragment: create an alert channel (POST /api/v1/alert-channels); answers the channels.",
        Permission.ALERTS_WRITE,
        channel_create,
        request=alerts.ChannelForm,
    ),
    page_route(
        "POST",
        ALERTS.path + "/channels/test",
        "Alerts fragment: send a test message to a channel (POST /api/v1/alert-channels/{channel_id}/test).",
        Permission.ALERTS_WRITE,
        channel_test,
        request=alerts.ChannelRef,
    ),
    page_route(
        "POST",
        ALERTS.path + "/channels/enabled",
        "Alerts fragment: turn a channel on or off (PATCH /api/v1/alert-channels/{channel_id}).",
        Permission.ALERTS_WRITE,
        channel_toggle,
        request=alerts.ChannelToggle,
    ),
]
