"""Wiring of the monitoring agent. It alone opens the ClickHouse engine (chdb is in-process)."""

from __future__ import annotations

from collections.abc import Sequence

from agents.monitoring.alerts_wiring import wire_alerts
from agents.monitoring.budgets_wiring import wire_budgets
from agents.monitoring.prices_wiring import price_book, wire_prices
from services.anomalies.detector import AnomalyDetector
from services.anomalies.detector import purge_teams as anomaly_purge
from services.budgets.forecasting import SpendForecaster
from services.pricing.maintained import maintained_price_source
from services.pricing.memo import PricedOnce
from services.token_costs.experiment_usage import ExperimentUsageReader
from services.token_costs.handlers import TokenCosts
from services.token_costs.store import TokenCostStore
from services.token_costs.unpriced_alerts import UnpricedModelAlerts
from services.token_costs.writer import TokenEventWriter
from shared.db.inbox import Connection
from shared.entitlements import EntitledTeams
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.messages.registry import ANOMALIES_LIST, COSTS_QUERY, EXPERIMENT_USAGE, TOKEN_EVENTS_ACCEPTED
from shared.runtime import AgentRuntime

AGENT = AgentName.MONITORING
# The newest complete hour is checked; a few minutes between checks is soon enough to alert.
ANOMALY_CHECK_INTERVAL = 300.0


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    mesh = install_mesh(runtime, pool)
    clickhouse = await runtime.open_clickhouse()
    store = TokenCostStore(clickhouse)
    monitoring = runtime.settings.monitoring
    writer = TokenEventWriter(
        store, max_delay=monitoring.write_delay_seconds, max_rows=monitoring.write_max_rows
    )
    book = price_book(pool, maintained_price_source())
    alerts = wire_alerts(runtime, pool, mesh.purge, store)
    unpriced = UnpricedModelAlerts(alerts)
    runtime.on_shutdown(unpriced.close)
    # Budget admission prices a budgeted team's events; the consumer reuses those prices (priced once).
    memo = PricedOnce()
    costs = TokenCosts(book, store, writer, unpriced, memo)
    # Forecast alerts and anomaly checks serve only teams whose plan includes them (the SuperAgent says).
    entitled = EntitledTeams(runtime.bus)
    budgets = wire_budgets(
        runtime,
        pool,
        mesh.purge,
        book.source_for,
        alerts,
        SpendForecaster(store),
        store,
        unpriced,
        entitled,
        memo,
    )
    wire_prices(runtime, pool, mesh.purge, clickhouse, book, budgets.revise_spend)
    anomalies = AnomalyDetector(pool, clickhouse, alerts, entitled)
    runtime.service.add(ANOMALIES_LIST, anomalies.list)
    runtime.every("anomaly_check", ANOMALY_CHECK_INTERVAL, anomalies.run)
    mesh.purge.register(anomaly_purge)

    async def purge_token_costs(_conn: Connection, team_ids: Sequence[str]) -> int:
        return await store.purge_teams(team_ids)

    mesh.purge.register(purge_token_costs)
    runtime.service.add(COSTS_QUERY, costs.report)
    runtime.service.add(EXPERIMENT_USAGE, ExperimentUsageReader(clickhouse).usage)
    # Many batches in flight at once let the writer coalesce them into one large insert.
    runtime.consume(TOKEN_EVENTS_ACCEPTED, costs.on_accepted, max_concurrency=64)
    runtime.on_shutdown(writer.close)
