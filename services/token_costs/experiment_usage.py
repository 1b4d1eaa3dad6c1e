"""Per-variant aggregates of an experiment's token events, for the LearningAgent's results.

The LearningAgent owns experiments, this agent the token events (ClickHouse is opened here alone),
so it answers a typed request with sums, never rows: per unit (the `unit` tag the SDK sets, else
for user experiments the event's `user`, else the event itself) its requests, successes, errors,
cost, latency and tokens; then per variant (the `variant` tag) the sums of those per-unit totals,
their squares and cross products, which is all the delta method needs (services/prompts/
experiment_metrics.py), and how many units had an error. Events are read with FINAL (a re-priced
event counts once, at its newest price); the team's rows are contiguous in the table's order, so
the scan stays within the team.
"""

from __future__ import annotations

from typing import Any

from shared.bus.context import MessageContext
from shared.db.clickhouse import ClickHouse
from shared.messages.experiments import ExperimentUsage, ExperimentUsageQuery, VariantUsage
from shared.messages.permissions import Permission
from shared.principals import team_with

_PER_UNIT = """
SELECT
    tags['variant'] AS variant,
    {unit} AS unit,
    toFloat64(count()) AS u_events,
    toFloat64(countIf(status != 'error')) AS u_successes,
    toFloat64(countIf(status = 'error')) AS u_errors,
    toFloat64(sum(cost_usd)) AS u_cost,
    sum(ifNull(latency_ms, 0)) AS u_latency,
    toFloat64(count(latency_ms)) AS u_latency_n,
    toFloat64(sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)) AS u_tokens
FROM token_events FINAL
WHERE team_id = {{team:String}} AND tags['experiment'] = {{experiment:String}} AND tags['variant'] != ''
GROUP BY variant, unit
"""

_UNIT = {
    "user": "if(tags['unit'] != '', tags['unit'], if(user != '', user, event_id))",
    "session": "if(tags['unit'] != '', tags['unit'], event_id)",
}

_SUMS = ("events", "successes", "errors", "cost", "latency", "latency_n", "tokens")
_CROSS = (
    ("cost", "events"),
    ("errors", "events"),
    ("latency", "latency_n"),
    ("tokens", "events"),
    ("cost", "successes"),
)


def usage_sql(unit: str) -> str:
    inner = _PER_UNIT.format(unit=_UNIT[unit])
    # Inner columns are `u_`-prefixed: ClickHouse resolves an alias before a column, so an outer
    # `sum(cost) AS cost` would nest the aggregate in itself.
    columns = [f"sum(u_{c}) AS {c}, sum(u_{c} * u_{c}) AS {c}_sq" for c in _SUMS]
    columns += [f"sum(u_{a} * u_{b}) AS {a}_{b}" for a, b in _CROSS]
    return (
        f"SELECT variant, count() AS units, toFloat64(countIf(u_errors > 0)) AS error_units, "
        f"{', '.join(columns)} "
        f"FROM ({inner}) GROUP BY variant ORDER BY variant"
    )


class ExperimentUsageReader:
    def __init__(self, clickhouse: ClickHouse) -> None:
        self._ch = clickhouse

    async def usage(self, query: ExperimentUsageQuery, ctx: MessageContext) -> ExperimentUsage:
        # Experiments are read with the prompts permission: the answer holds sums of the caller's
        # own team's events only, tagged with an experiment id the caller knows.
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        rows: list[dict[str, Any]] = await self._ch.query(
            usage_sql(query.unit), {"team": team_id, "experiment": query.experiment_id}
        )
        return ExperimentUsage(
            experiment_id=query.experiment_id,
            variants=[
                VariantUsage.model_validate({k: (int(v) if k == "units" else v) for k, v in row.items()})
                for row in rows
            ],
        )
