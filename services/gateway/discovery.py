"""Discovering the mesh through the NATS micro-service protocol (`$SRV.INFO`).

Every instance of every service answers the same request; there is no count of instances to wait
for, so we collect answers until every known agent has answered and then none more has arrived for
a short quiet period (or an overall deadline passes). An agent that is merely busy answers late:
it is reported missing only once the deadline has passed without it, not after the quiet period.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.mesh import AgentDescription, EndpointDescription, InstanceDescription, MeshDescription

SERVICE_NAMES = {agent.service_name: agent for agent in ALL_AGENTS}


async def gather_replies(
    nc: NATS,
    subject: str,
    *,
    quiet: float,
    deadline: float,
    complete: Callable[[list[dict[str, Any]]], bool] = bool,
) -> list[dict[str, Any]]:
    """Publish one request and collect every JSON reply: once the replies are `complete`, until
    `quiet` seconds pass without another; otherwise until `deadline`."""
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
                await asyncio.wait_for(
                    arrived.wait(), min(quiet, remaining) if complete(replies) else remaining
                )
            except TimeoutError:
                if complete(replies):
                    break
    finally:
        await sub.unsubscribe()
    return replies


async def describe_mesh(nc: NATS, *, quiet: float = 0.05, deadline: float = 2.0) -> MeshDescription:
    started = time.perf_counter()

    def every_agent_answered(replies: list[dict[str, Any]]) -> bool:
        return SERVICE_NAMES.keys() <= {str(reply.get("name")) for reply in replies}

    infos = await gather_replies(
        nc, "$SRV.INFO", quiet=quiet, deadline=deadline, complete=every_agent_answered
    )
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
