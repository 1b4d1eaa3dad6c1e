"""The edge's mesh operations that span several agents: ping fan-out and canary reports."""

from __future__ import annotations

import asyncio
import time

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import BusError
from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.envelope import new_message_id
from shared.messages.mesh import (
    CanaryAccepted,
    CanaryEvent,
    CanaryReport,
    CanaryRequest,
    CanaryStatus,
    CanaryStatusRequest,
    MeshPingRequest,
    MeshPingResponse,
    PingRequest,
    PingResult,
)
from shared.messages.registry import CANARY, CANARY_STATUS, PING


async def ping_agents(bus: Bus, request: MeshPingRequest, ctx: MessageContext) -> MeshPingResponse:
    agents = request.agents or list(ALL_AGENTS)

    async def ping(agent: AgentName) -> PingResult:
        started = time.perf_counter()
        try:
            reply = await bus.request(PING[agent], PingRequest(echo=request.echo), ctx)
        except BusError as error:
            return PingResult(
                agent=agent,
                ok=False,
                round_trip_ms=round((time.perf_counter() - started) * 1000, 3),
                error=f"{error.body.code.value}: {error.body.message}",
            )
        return PingResult(
            agent=agent,
            ok=reply.echo == request.echo,
            round_trip_ms=round((time.perf_counter() - started) * 1000, 3),
            instance_id=reply.instance_id,
        )

    return MeshPingResponse(results=list(await asyncio.gather(*(ping(a) for a in agents))))


async def send_canary(
    bus: Bus, request: CanaryRequest, ctx: MessageContext, *, stream: str
) -> CanaryAccepted:
    canary_id = request.canary_id or f"canary-{new_message_id()}"
    # The message id derives from the canary id, so re-sending the same canary is deduplicated by
    # JetStream (and by every consumer's inbox beyond the duplicate window).
    message_id = f"canary:{canary_id}"
    ack = await bus.publish(
        CANARY,
        CanaryEvent(canary_id=canary_id, work_ms=request.work_ms, note=request.note),
        ctx,
        message_id=message_id,
    )
    return CanaryAccepted(
        canary_id=canary_id,
        message_id=message_id,
        stream=ack.stream or stream,
        stream_sequence=ack.seq or 0,
        duplicate=bool(ack.duplicate),
    )


async def canary_report(bus: Bus, canary_id: str, ctx: MessageContext) -> CanaryReport:
    async def status(agent: AgentName) -> CanaryStatus | AgentName:
        try:
            return await bus.request(CANARY_STATUS[agent], CanaryStatusRequest(canary_id=canary_id), ctx)
        except BusError:
            return agent

    answers = await asyncio.gather(*(status(a) for a in ALL_AGENTS))
    return CanaryReport(
        canary_id=canary_id,
        statuses=[a for a in answers if isinstance(a, CanaryStatus)],
        unreachable=[a for a in answers if not isinstance(a, CanaryStatus)],
    )
