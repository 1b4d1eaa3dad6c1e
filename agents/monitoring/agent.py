"""Wiring of the monitoring agent. It alone opens the ClickHouse engine (chdb is in-process)."""

from __future__ import annotations

from services.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.runtime import AgentRuntime

AGENT = AgentName.MONITORING


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    install_mesh(runtime, pool)
    await runtime.open_clickhouse()
