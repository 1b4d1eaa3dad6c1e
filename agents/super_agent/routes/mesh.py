"""The mesh itself: agent discovery, pings and canaries through every agent."""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import deps
from services.gateway.discovery import describe_mesh
from services.gateway.mesh_api import canary_report, ping_agents, send_canary
from services.gateway.route_table import Call, Forward, Local, Route
from shared.messages.agents import ALL_AGENTS
from shared.messages.mesh import (
    CanaryAccepted,
    CanaryLookup,
    CanaryReport,
    CanaryRequest,
    MeshDescription,
    MeshPingRequest,
    MeshPingResponse,
)
from shared.messages.permissions import Permission
from shared.messages.registry import PING

MESH = ("mesh",)


async def mesh(call: Call) -> BaseModel:
    return await describe_mesh(deps(call).bus.nc)


async def mesh_ping(call: Call) -> BaseModel:
    return await ping_agents(deps(call).bus, call.input, call.ctx)


async def canary_send(call: Call) -> BaseModel:
    edge = deps(call)
    return await send_canary(
        edge.bus, call.input, call.ctx, stream=edge.runtime.settings.jetstream.events_stream
    )


async def canary_get(call: Call) -> BaseModel:
    return await canary_report(deps(call).bus, call.input.canary_id, call.ctx)


MESH_ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/v1/mesh",
        "Every agent's micro-service info, discovered through $SRV.INFO.",
        Permission.MESH_READ,
        Local(mesh),
        response=MeshDescription,
        tags=MESH,
    ),
    Route(
        "POST",
        "/api/v1/mesh/ping",
        "Ping agents through the mesh; round trip per agent.",
        Permission.MESH_READ,
        Local(mesh_ping),
        request=MeshPingRequest,
        response=MeshPingResponse,
        tags=MESH,
    ),
    Route(
        "POST",
        "/api/v1/mesh/canaries",
        "Publish a canary event every agent consumes durably.",
        Permission.MESH_WRITE,
        Local(canary_send),
        request=CanaryRequest,
        response=CanaryAccepted,
        status=202,
        tags=MESH,
        extra_status=(503, 504),
    ),
    Route(
        "GET",
        "/api/v1/mesh/canaries/{canary_id}",
        "Which agents processed a canary, and how often it was delivered.",
        Permission.MESH_READ,
        Local(canary_get),
        request=CanaryLookup,
        response=CanaryReport,
        tags=MESH,
    ),
    *(
        Route(
            "POST",
            f"/api/v1/mesh/{agent.value}/ping",
            f"Ping the {agent.value} agent (forwarded over NATS).",
            Permission.MESH_READ,
            Forward(PING[agent]),
            tags=MESH,
        )
        for agent in ALL_AGENTS
    ),
]
