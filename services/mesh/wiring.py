"""Registers the mesh endpoints and the canary consumer on an agent runtime."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from services.mesh.canary import CanaryLedger
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.messages.mesh import CanaryEvent, CanaryStatus, CanaryStatusRequest, PingRequest, PingResponse
from shared.messages.registry import CANARY, CANARY_STATUS, PING
from shared.runtime import AgentRuntime


def install_mesh(runtime: AgentRuntime, pool: Any) -> CanaryLedger:
    ledger = CanaryLedger(pool, runtime.agent, runtime.instance_id)

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
    return ledger
