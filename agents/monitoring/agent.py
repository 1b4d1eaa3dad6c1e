"""Wiring of the monitoring agent. It alone opens the ClickHouse engine (chdb is in-process)."""

from __future__ import annotations

from collections.abc import Sequence

from services.mesh import install_mesh
from services.pricing.genai import GenaiPricesSource
from services.token_costs.handlers import TokenCosts
from services.token_costs.store import TokenCostStore
from services.token_costs.writer import TokenEventWriter
from shared.db.inbox import Connection
from shared.messages.agents import AgentName
from shared.messages.registry import COSTS_QUERY, TOKEN_EVENTS_ACCEPTED
from shared.runtime import AgentRuntime

AGENT = AgentName.MONITORING


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    clickhouse = await runtime.open_clickhouse()
    store = TokenCostStore(clickhouse)
    writer = TokenEventWriter(store)
    costs = TokenCosts(GenaiPricesSource(), store, writer)

    async def purge_token_costs(_conn: Connection, team_ids: Sequence[str]) -> int:
        return await store.purge_teams(team_ids)

    mesh.purge.register(purge_token_costs)
    runtime.service.add(COSTS_QUERY, costs.report)
    # Many batches in flight at once let the writer coalesce them into one large insert.
    runtime.consume(TOKEN_EVENTS_ACCEPTED, costs.on_accepted, max_concurrency=64)
    runtime.on_shutdown(writer.close)
