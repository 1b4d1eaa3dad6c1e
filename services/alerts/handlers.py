"""Bus handlers of alert channels and alert history, served by the MonitoringAgent.

The edge checked the route's permission already; each handler checks it again (a message on the
bus is not proof that the edge let it through) and acts only in the principal's team: a channel id
of another team is not found, exactly like a missing one.
"""

from __future__ import annotations

from services.alerts.dispatcher import AlertDispatcher, ChannelRejected
from services.alerts.store import ChannelNameTaken, ChannelSecretsUnavailable, InvalidCursor
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.crypto import SecretBoxError
from shared.messages.alerts import (
    AlertChannelInfo,
    AlertChannelList,
    AlertChannelRef,
    AlertHistoryPage,
    AlertHistoryQuery,
    ChannelTestResult,
    CreateAlertChannel,
    CreatedAlertChannel,
    ListAlertChannels,
    UpdateAlertChannel,
)
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.principals import team_with

__all__ = ["AlertHandlers"]


def _not_found(channel_id: str) -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"no alert channel {channel_id} in this team")


class AlertHandlers:
    def __init__(self, dispatcher: AlertDispatcher) -> None:
        self._alerts = dispatcher

    async def create(self, request: CreateAlertChannel, ctx: MessageContext) -> CreatedAlertChannel:
        team_id = team_with(ctx.principal, Permission.ALERTS_WRITE)
        try:
            return await self._alerts.create_channel(team_id, request)
        except (ChannelRejected, ChannelSecretsUnavailable) as error:
            raise AgentError(ErrorCode.VALIDATION_FAILED, str(error)) from None
        except ChannelNameTaken as error:
            raise AgentError(ErrorCode.CONFLICT, str(error)) from None

    async def list(self, _request: ListAlertChannels, ctx: MessageContext) -> AlertChannelList:
        team_id = team_with(ctx.principal, Permission.ALERTS_READ)
        return AlertChannelList(channels=await self._alerts.list_channels(team_id))

    async def update(self, request: UpdateAlertChannel, ctx: MessageContext) -> AlertChannelInfo:
        team_id = team_with(ctx.principal, Permission.ALERTS_WRITE)
        updated = await self._alerts.set_channel_enabled(team_id, request.channel_id, request.enabled)
        if updated is None:
            raise _not_found(request.channel_id)
        return updated

    async def delete(self, request: AlertChannelRef, ctx: MessageContext) -> AlertChannelInfo:
        """Answers with the channel as it was, so the edge can audit what went."""
        team_id = team_with(ctx.principal, Permission.ALERTS_WRITE)
        existing = await self._alerts.store.channel_info(team_id, request.channel_id)
        if existing is None or not await self._alerts.delete_channel(team_id, request.channel_id):
            raise _not_found(request.channel_id)
        return existing

    async def test(self, request: AlertChannelRef, ctx: MessageContext) -> ChannelTestResult:
        team_id = team_with(ctx.principal, Permission.ALERTS_WRITE)
        try:
            result = await self._alerts.test_channel(team_id, request.channel_id)
        except (SecretBoxError, ChannelSecretsUnavailable) as error:
            # The channel exists but its key left auth.encryption_keys: say so instead of a 500.
            if await self._alerts.store.channel_info(team_id, request.channel_id) is None:
                raise _not_found(request.channel_id) from None
            return ChannelTestResult(
                channel_id=request.channel_id,
                ok=False,
                error=f"the channel's secrets cannot be opened: {error}",
            )
        if result is None:
            raise _not_found(request.channel_id)
        return result

    async def history(self, request: AlertHistoryQuery, ctx: MessageContext) -> AlertHistoryPage:
        team_id = team_with(ctx.principal, Permission.ALERTS_READ)
        try:
            return await self._alerts.history(team_id, request.filters(), request.limit, request.cursor)
        except InvalidCursor as error:
            raise AgentError(ErrorCode.VALIDATION_FAILED, str(error)) from None
