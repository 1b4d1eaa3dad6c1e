"""Registers the mesh endpoints and the canary consumer on an agent runtime."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.mesh.canary import CanaryLedger
from shared.mesh.purge import TeamDataPurge
from shared.messages.mesh import CanaryEvent, CanaryStatus, CanaryStatusRequest, PingRequest, PingResponse
from shared.messages.registry import CANARY, CANARY_STATUS, PING, TEAM_DATA_PURGE_REQUESTED
from shared.runtime import AgentRuntime


@dataclass(frozen=True)
class MeshHandles:
    canaries: CanaryLedger
    purge: TeamDataPurge  # agents register each store of team data here


def install_mesh(runtime: AgentRuntime, pool: Any) -> MeshHandles:
    """What every agent serves: ping, canaries, and the purge of a team's data on request."""
    ledger = CanaryLedger(pool, runtime.agent, runtime.instance_id)
    purge = TeamDataPurge(pool, runtime.agent, runtime.bus)

    async def ping(request: PingRequest, _ctx: MessageContext) -> PingResponse:
        return PingResponse(
            agent=runtime.agent,
            instance_id=runtime.instance_id,
            version=runtime.version,
            pid=os.getpid(),
            received_at=datetime.now(UTC),
            echo=request.echo,
        )

    async def canary_status(request: CanaryStatusRequest, _ctx: MessageContext) -> CanaryStatus:
        return await ledger.status(request.canary_id)

    async def on_canary(event: CanaryEvent, _ctx: MessageContext, delivery: Delivery) -> bool:
        return await ledger.record(event, delivery)

    runtime.service.add(PING[runtime.agent], ping)
    runtime.service.add(CANARY_STATUS[runtime.agent], canary_status)
    runtime.consume(CANARY, on_canary)
    runtime.consume(TEAM_DATA_PURGE_REQUESTED, purge.handle)
    return MeshHandles(ledger, purge)
