"""Routes of alert channels and alert history (`ALERT_ROUTES`), served by the MonitoringAgent.

Writes go to the MonitoringAgent, then, once it has answered, their audit entry is appended here
(the audit log is the SuperAgent's). A generated webhook signing secret is in the creation answer
only; listings and the audit entry carry non-secret settings alone.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Forward, Route, local_route
from shared.messages.alerts import (
    AlertChannelInfo,
    AlertChannelRef,
    ChannelTestResult,
    CreateAlertChannel,
    CreatedAlertChannel,
    UpdateAlertChannel,
)
from shared.messages.permissions import Permission
from shared.messages.registry import (
    ALERT_CHANNEL_CREATE,
    ALERT_CHANNEL_DELETE,
    ALERT_CHANNEL_LIST,
    ALERT_CHANNEL_TEST,
    ALERT_CHANNEL_UPDATE,
    ALERT_HISTORY,
)
from shared.principals import team_of

__all__ = ["ALERT_ROUTES"]

ALERTS = ("alerts",)
RESOURCE = "alert_channel"
# Creating resolves the target's host (the egress guard); DNS may be slow.
CREATE_TIMEOUT_SECONDS = 20.0


def _state(channel: AlertChannelInfo) -> dict[str, Any]:
    return {
        "name": channel.name,
        "kind": channel.kind.value,
        "enabled": channel.enabled,
        "settings": channel.settings,
    }


async def _audit(call: Call, action: str, channel_id: str, *, before: Any = None, after: Any = None) -> None:
    edge = deps(call)
    team_id = team_of(call.ctx.principal)
    async with edge.pool.acquire() as conn, conn.transaction():
        await acting(call).record(conn, team_id, action, RESOURCE, channel_id, before=before, after=after)


def _test_timeout(call: Call) -> float:
    # One attempt: SMTP or HTTP with their own timeouts (HTTP's is 10 s), with room for the hop.
    return 2 * max(deps(call).runtime.settings.email.timeout_seconds, 10.0) + 5


async def channels_create(call: Call) -> BaseModel:
    created: CreatedAlertChannel = await deps(call).bus.request(
        ALERT_CHANNEL_CREATE, call.input, call.ctx, timeout=CREATE_TIMEOUT_SECONDS
    )
    await _audit(call, "alert_channels.create", created.channel.id, after=_state(created.channel))
    return created


async def channels_update(call: Call) -> BaseModel:
    request: UpdateAlertChannel = call.input
    updated: AlertChannelInfo = await deps(call).bus.request(ALERT_CHANNEL_UPDATE, request, call.ctx)
    await _audit(call, "alert_channels.update", updated.id, after={"enabled": updated.enabled})
    return updated


async def channels_delete(call: Call) -> BaseModel:
    deleted: AlertChannelInfo = await deps(call).bus.request(ALERT_CHANNEL_DELETE, call.input, call.ctx)
    await _audit(call, "alert_channels.delete", deleted.id, before=_state(deleted))
    return deleted


async def channels_test(call: Call) -> BaseModel:
    result: ChannelTestResult = await deps(call).bus.request(
        ALERT_CHANNEL_TEST, call.input, call.ctx, timeout=_test_timeout(call)
    )
    await _audit(
        call,
        "alert_channels.test",
        result.channel_id,
        after={"ok": result.ok, "response_code": result.response_code},
    )
    return result


_route = functools.partial(local_route, tags=ALERTS, extra=(404, 503, 504))


ALERT_ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/v1/alert-channels",
        "Your team's alert channels (their non-secret settings only).",
        Permission.ALERTS_READ,
        Forward(ALERT_CHANNEL_LIST),
        tags=ALERTS,
        extra_status=(503, 504),
    ),
    _route(
        "POST",
        "/api/v1/alert-channels",
        "Create an alert channel: e-mail recipients, a Slack incoming webhook or a signed webhook. "
        "The URL must pass the egress guard; a generated webhook signing secret is shown once.",
        Permission.ALERTS_WRITE,
        channels_create,
        request=CreateAlertChannel,
        response=CreatedAlertChannel,
        status=201,
        extra=(409, 503, 504),
    ),
    _route(
        "PATCH",
        "/api/v1/alert-channels/{channel_id}",
        "Enable or disable one of your team's alert channels.",
        Permission.ALERTS_WRITE,
        channels_update,
        request=UpdateAlertChannel,
        response=AlertChannelInfo,
    ),
    _route(
        "DELETE",
        "/api/v1/alert-channels/{channel_id}",
        "Delete one of your team's alert channels (its delivery history stays).",
        Permission.ALERTS_WRITE,
        channels_delete,
        request=AlertChannelRef,
        response=AlertChannelInfo,
    ),
    _route(
        "POST",
        "/api/v1/alert-channels/{channel_id}/test",
        "Send a test message to one of your team's alert channels (one attempt, not recorded as an alert).",
        Permission.ALERTS_WRITE,
        channels_test,
        request=AlertChannelRef,
        response=ChannelTestResult,
    ),
    Route(
        "GET",
        "/api/v1/alerts",
        "Your team's alerts, newest first, each with its delivery attempts; filters and cursor pages.",
        Permission.ALERTS_READ,
        Forward(ALERT_HISTORY),
        tags=ALERTS,
        extra_status=(503, 504),
    ),
]
