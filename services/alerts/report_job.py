"""The spend-report job: every team with an enabled alert channel gets yesterday's report (and on
Mondays last week's) through its channels, once per period.

The agent runs it every few minutes: the first run after midnight UTC sends; later runs, restarts
and other replicas find the period's alert already raised (its dedup key) and do nothing. Teams
are read here, the figures from the team's own cost reports, the text from `reports`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from services.alerts.reports import ReportWindow, SpendBreakdown, breakdown, build_report, windows_due
from shared.messages.alerts import Alert
from shared.messages.telemetry import CostQuery, CostReport

__all__ = ["REPORT_INTERVAL_SECONDS", "AlertRaiser", "CostReader", "SpendReports"]

log = structlog.get_logger("mno.alerts.reports")

# Often enough that reports arrive soon after midnight; each run costs two indexed reads per team.
REPORT_INTERVAL_SECONDS = 300.0
# Groups asked per dimension: enough to compare the shown top rows with the period before.
_GROUPS = 200


class CostReader(Protocol):
    async def report(self, team_id: str, query: CostQuery) -> CostReport: ...


class AlertRaiser(Protocol):
    async def raise_alert(self, team_id: str, alert: Alert) -> bool: ...


class SpendReports:
    def __init__(self, pool: Any, costs: CostReader, alerts: AlertRaiser) -> None:
        self._pool = pool
        self._costs = costs
        self._alerts = alerts

    async def run(self, now: datetime | None = None) -> int:
        """Send the reports due at `now` (default: the current time) that were not sent yet;
        returns how many were raised by this call."""
        windows = windows_due(now or datetime.now(UTC))
        sent = 0
        for team_id in await self._teams_with_channels():
            for window in windows:
                try:
                    sent += await self._report(team_id, window)
                except Exception:
                    # One team's failure (a query refused, a store hiccup) must not cost the others
                    # their report; the next run tries this team again.
                    log.exception("spend report failed", team_id=team_id, period=window.period.value)
        return sent

    async def _report(self, team_id: str, window: ReportWindow) -> int:
        if await self._raised(team_id, window.dedup_key):
            return 0
        current = await self._breakdown(team_id, window.start, window.end)
        previous = await self._breakdown(team_id, window.previous_start, window.start)
        alert = build_report(window, current, previous)
        if alert is None or not await self._alerts.raise_alert(team_id, alert):
            return 0
        log.info("spend report raised", team_id=team_id, period=window.period.value, key=window.dedup_key)
        return 1

    async def _breakdown(self, team_id: str, since: datetime, until: datetime) -> SpendBreakdown:
        by_model = await self._costs.report(team_id, self._query(since, until, "model"))
        by_project = await self._costs.report(team_id, self._query(since, until, "project"))
        return breakdown(by_model, by_project)

    @staticmethod
    def _query(since: datetime, until: datetime, dimension: str) -> CostQuery:
        return CostQuery(since=since, until=until, group_by=[dimension], limit=_GROUPS)

    async def _teams_with_channels(self) -> list[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT team_id::text AS team_id FROM monitoring.alert_channels WHERE enabled "
            "ORDER BY team_id"
        )
        return [row["team_id"] for row in rows]

    async def _raised(self, team_id: str, dedup_key: str) -> bool:
        """Whether the period's report exists already: a cheap check that spares the cost queries
        (raise_alert's own dedup is what guarantees once)."""
        found = await self._pool.fetchval(
            "SELECT 1 FROM monitoring.alerts WHERE team_id = $1::uuid AND dedup_key = $2",
            team_id,
            dedup_key,
        )
        return found is not None
