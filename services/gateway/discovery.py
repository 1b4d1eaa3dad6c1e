"""Discovering the mesh through the NATS micro-service protocol (`$SRV.INFO`).

Every instance of every service answers the same request; there is no count to wait for, so we
collect answers until none has arrived for a short quiet period (or an overall deadline passes).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.mesh import AgentDescription, EndpointDescription, InstanceDescription, MeshDescription

SERVICE_NAMES = {agent.service_name: agent for agent in ALL_AGENTS}


async def gather_replies(nc: NATS, subject: str, *, quiet: float, deadline: float) -> list[dict[str, Any]]:
    """Publish one request and collect every JSON reply until `quiet` seconds pass without one."""
    replies: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def on_reply(msg: Msg) -> None:
        try:
            replies.append(json.loads(msg.data))
        except json.JSONDecodeError:
            return
        arrived.set()

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_reply)
    try:
        await nc.publish(subject, b"", reply=inbox)
        end = time.monotonic() + deadline
        while (remaining := end - time.monotonic()) > 0:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), min(quiet if replies else remaining, remaining))
            except TimeoutError:
                if replies:
                    break
    finally:
        await sub.unsubscribe()
    return replies


async def describe_mesh(nc: NATS, *, quiet: float = 0.05, deadline: float = 1.0) -> MeshDescription:
    started = time.perf_counter()
    infos = await gather_replies(nc, "$SRV.INFO", quiet=quiet, deadline=deadline)
    instances: dict[AgentName, list[InstanceDescription]] = {agent: [] for agent in ALL_AGENTS}
    for info in infos:
        agent = SERVICE_NAMES.get(str(info.get("name")))
        if agent is None:
            continue  # another team's micro service on the same NATS account
        metadata = {str(k): str(v) for k, v in (info.get("metadata") or {}).items()}
        instances[agent].append(
            InstanceDescription(
                instance_id=metadata.get("instance_id", str(info.get("id"))),
                service_id=str(info.get("id")),
                version=str(info.get("version")),
                metadata=metadata,
                endpoints=[
                    EndpointDescription(
                        name=str(e.get("name")),
                        subject=str(e.get("subject")),
                        queue_group=e.get("queue_group"),
                    )
                    for e in info.get("endpoints") or []
                ],
            )
        )
    return MeshDescription(
        agents=[
            AgentDescription(
                agent=agent,
                service_name=agent.service_name,
                instances=sorted(found, key=lambda i: i.instance_id),
            )
            for agent, found in instances.items()
        ],
        missing=[agent for agent, found in instances.items() if not found],
        discovered_in_ms=round((time.perf_counter() - started) * 1000, 3),
    )
