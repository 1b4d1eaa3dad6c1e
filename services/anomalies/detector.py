"""The periodic anomaly check: each team's newest complete hour, per model and metric.

Reads the hourly rollup (six weeks per team: the detector's warm-up is five); records what it finds
once per (team, metric, model, hour) and raises a `spend_anomaly` alert with the same key, so any
number of runs or replicas report each anomaly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.budgets.service import AlertSink
from services.forecasting import HOUR, Anomaly, AnomalyConfig, check_latest, floor_to_bucket, regularize
from shared.bus.context import MessageContext
from shared.db.clickhouse import ClickHouse
from shared.entitlements import ANOMALY_DETECTION, EntitledTeams
from shared.messages.alerts import Alert, AlertKind, AlertSeverity
from shared.messages.permissions import Permission
from shared.messages.telemetry import AnomalyInfo, AnomalyList, AnomalyQuery
from shared.principals import team_with

log = structlog.get_logger("mno.anomalies")
HISTORY = timedelta(days=42)


@dataclass(frozen=True)
class Metric:
    name: str
    column: str
    min_deviation: float  # below this absolute change nothing is worth an alert
    unit: str


METRICS = (
    Metric("cost_usd", "sum(cost_usd)", 0.5, "$"),
    Metric(
        "tokens",
        "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens + cache_write_1h_tokens"
        " + reasoning_tokens)",
        20_000,
        "tokens",
    ),
)


def _amount(metric: Metric, value: float) -> str:
    return f"${value:,.2f}" if metric.unit == "$" else f"{value:,.0f} tokens"


def anomaly_alert(metric: Metric, model: str, anomaly: Anomaly) -> Alert:
    """The alert of one anomaly, keyed so that it is raised once whoever finds it."""
    change = "above" if anomaly.direction.value == "spike" else "below"
    what = "spend" if metric.name == "cost_usd" else "token use"
    return Alert(
        kind=AlertKind.SPEND_ANOMALY,
        severity=AlertSeverity.WARNING,
        title=f"Unusual {what} on {model} at {anomaly.at:%Y-%m-%d %H:00} UTC",
        text=(
            f"{model} used {_amount(metric, anomaly.observed)} in the hour from {anomaly.at:%H:00} UTC, "
            f"{change} the usual {_amount(metric, anomaly.expected)} for that hour "
            f"(robust z {anomaly.score:.1f})."
        ),
        details={
            "metric": metric.name,
            "model": model,
            "hour": anomaly.at.isoformat(),
            "observed": anomaly.observed,
            "expected": anomaly.expected,
            "score": anomaly.score,
            "direction": anomaly.direction.value,
        },
        dedup_key=f"anomaly:{metric.name}:{model}:{anomaly.at.isoformat()}",
    )


class AnomalyDetector:
    def __init__(
        self,
        pool: Any,
        clickhouse: ClickHouse,
        alerts: AlertSink | None,
        entitled: EntitledTeams | None = None,
    ) -> None:
        self._pool = pool
        self._ch = clickhouse
        self._alerts = alerts
        self._entitled = entitled  # None: every team (no plans to ask)

    async def run(self, now: datetime | None = None) -> int:
        """Check the last complete hour of every team that spent in it; returns anomalies found."""
        hour = floor_to_bucket(now or datetime.now(UTC), HOUR) - HOUR
        teams = await self._ch.query(
            "SELECT DISTINCT team_id FROM token_costs_hourly WHERE hour = {hour:DateTime('UTC')}",
            {"hour": hour},
        )
        if self._entitled is not None:
            # Only teams whose plan includes anomaly detection are checked (and alerted).
            allowed = await self._entitled.among({row["team_id"] for row in teams}, ANOMALY_DETECTION)
            teams = [row for row in teams if row["team_id"] in allowed]
        found = 0
        for row in teams:
            try:
                found += await self.check_team(row["team_id"], hour)
            except Exception:
                log.exception("anomaly check failed", team_id=row["team_id"])
        return found

    async def check_team(self, team_id: str, hour: datetime) -> int:
        since = hour - HISTORY
        found = 0
        for metric in METRICS:
            rows = await self._ch.query(
                f"SELECT model, hour, {metric.column} AS value FROM token_costs_hourly"
                " WHERE team_id = {team:String} AND hour >= {since:DateTime('UTC')}"
                " AND hour <= {hour:DateTime('UTC')} GROUP BY model, hour",
                {"team": team_id, "since": since, "hour": hour},
            )
            by_model: dict[str, list[tuple[datetime, float]]] = {}
            for row in rows:
                by_model.setdefault(row["model"], []).append((row["hour"], float(row["value"])))
            config = AnomalyConfig(min_deviation=metric.min_deviation)
            for model, points in by_model.items():
                series = regularize(points, bucket=HOUR, start=since, end=hour + HOUR)
                verdict = check_latest(series, config)
                if verdict.anomaly is not None and await self._record(
                    team_id, metric, model, verdict.anomaly
                ):
                    found += 1
        return found

    async def _record(self, team_id: str, metric: Metric, model: str, anomaly: Anomaly) -> bool:
        async with self._pool.acquire() as conn:
            inserted = await conn.fetchval(
                """
                INSERT INTO monitoring.anomalies
                    (team_id, metric, model, hour, observed, expected, score, direction)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT DO NOTHING RETURNING true
                """,
                team_id,
                metric.name,
                model,
                anomaly.at,
                anomaly.observed,
                anomaly.expected,
                anomaly.score,
                anomaly.direction.value,
            )
        if not inserted:
            return False
        if self._alerts is not None:
            await self._alerts.raise_alert(team_id, anomaly_alert(metric, model, anomaly))
        return True

    async def list(self, query: AnomalyQuery, ctx: MessageContext) -> AnomalyList:
        team_id = team_with(ctx.principal, Permission.COSTS_READ)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT metric, model, hour, observed, expected, score, direction FROM monitoring.anomalies"
                " WHERE team_id = $1::uuid AND hour >= $2 AND hour < $3"
                " ORDER BY hour DESC, metric, model LIMIT $4",
                team_id,
                query.since,
                query.until,
                query.limit,
            )
        return AnomalyList(anomalies=[AnomalyInfo(**dict(row)) for row in rows])


async def purge_teams(conn: Any, team_ids: Any) -> int:
    result: str = await conn.execute(
        "DELETE FROM monitoring.anomalies WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(result.split()[-1])
