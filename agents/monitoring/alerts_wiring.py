"""Alerts on the MonitoringAgent: the dispatcher, its delivery and report jobs, the channel and
history endpoints, the consumer of the SupplyChainAgent's findings events, and the team-data purge of
the alerts store."""

from __future__ import annotations

from typing import Any

from services.alerts.dispatcher import AlertDispatcher
from services.alerts.findings import FindingsAlerts
from services.alerts.handlers import AlertHandlers
from services.alerts.report_job import REPORT_INTERVAL_SECONDS, SpendReports
from services.alerts.store import purge_teams
from services.token_costs.store import TokenCostStore
from shared.crypto import SecretBox
from shared.mesh import TeamDataPurge
from shared.messages.registry import (
    ALERT_CHANNEL_CREATE,
    ALERT_CHANNEL_DELETE,
    ALERT_CHANNEL_LIST,
    ALERT_CHANNEL_TEST,
    ALERT_CHANNEL_UPDATE,
    ALERT_HISTORY,
    FINDINGS_CHANGED,
)
from shared.runtime import AgentRuntime

__all__ = ["DELIVERY_INTERVAL_SECONDS", "wire_alerts"]

# Retries owed (and attempts cut short by a crash) are taken up within this.
DELIVERY_INTERVAL_SECONDS = 5.0
FINDINGS_CONCURRENCY = 4


def wire_alerts(
    runtime: AgentRuntime, pool: Any, purge: TeamDataPurge, costs: TokenCostStore
) -> AlertDispatcher:
    """Wire alerts in and return the dispatcher, whose `raise_alert(team_id, alert)` other monitoring
    code (budgets, anomalies) calls."""
    keyring = runtime.settings.auth.keyring()
    # Without keys only e-mail channels can be created: Slack and webhook secrets are stored sealed.
    box = SecretBox.from_base64(keyring[0], primary=keyring[1]) if keyring is not None else None
    dispatcher = AlertDispatcher.from_settings(pool, runtime.settings, box)
    handlers = AlertHandlers(dispatcher)
    runtime.service.add(ALERT_CHANNEL_CREATE, handlers.create)
    runtime.service.add(ALERT_CHANNEL_LIST, handlers.list)
    runtime.service.add(ALERT_CHANNEL_UPDATE, handlers.update)
    runtime.service.add(ALERT_CHANNEL_DELETE, handlers.delete)
    runtime.service.add(ALERT_CHANNEL_TEST, handlers.test)
    runtime.service.add(ALERT_HISTORY, handlers.history)
    purge.register(purge_teams)
    # Each event waits for its deliveries' first attempts: a few at a time leave connections to requests.
    runtime.consume(
        FINDINGS_CHANGED, FindingsAlerts(dispatcher).on_findings_changed, max_concurrency=FINDINGS_CONCURRENCY
    )
    runtime.every("alert_delivery", DELIVERY_INTERVAL_SECONDS, dispatcher.deliver_due)
    runtime.every("spend_reports", REPORT_INTERVAL_SECONDS, SpendReports(pool, costs, dispatcher).run)
    return dispatcher
