"""Wiring of the supply_chain agent: its subjects and consumers."""

from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.runtime import AgentRuntime

AGENT = AgentName.SUPPLY_CHAIN


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    install_mesh(runtime, pool)
