"""A team's findings counted by the database: open ones by severity, every one not retired by triage
status, and how many vulnerable packages, versions, SBOMs and advisories the open ones touch.

The findings list answers at most 500 at a time; a page (or a client) that counted a page of it would
undercount a team with more. These counts are SQL `count`s over every row, read in one snapshot so
the figures agree with each other. "Open" is what the download policy blocks on: triage
`under_investigation` (where every finding starts; also a finding without a triage row) or
`affected`, and not retired.
"""

from __future__ import annotations

from typing import Any

from services.supply_chain import store
from services.supply_chain.download_policy import OPEN_STATUSES, SEVERITIES
from shared.bus.context import MessageContext
from shared.db.inbox import Connection
from shared.messages.permissions import Permission
from shared.messages.supply_chain import FindingSummary, FindingSummaryQuery, TriageStatus
from shared.principals import team_with

__all__ = ["RATINGS", "Summaries", "finding_summary"]

UNRATED = "unrated"
# Worst first, as pages show them; `unrated` is an advisory that gives no severity.
RATINGS: tuple[str, ...] = (*reversed(SEVERITIES), UNRATED)
STATUSES: tuple[str, ...] = tuple(s.value for s in TriageStatus)

# The findings list's own join (`store.FINDING_JOIN`: the triage that applies to each finding), so the
# counts and the list never disagree about a finding's triage.
_LIVE = (
    f" FROM {store.FINDING_JOIN} WHERE f.team_id = $1::uuid AND f.retired_at IS NULL "
    "AND ($2::uuid IS NULL OR f.sbom_id = $2::uuid) "
)
_STATUS = "coalesce(t.status, 'under_investigation')"


async def finding_summary(conn: Connection, team_id: str, sbom_id: str | None = None) -> FindingSummary:
    """The counts of the team's findings (of one SBOM when `sbom_id` is given; another team's SBOM
    counts nothing). Run it in a snapshot (`Summaries.summary` does) for figures that agree."""
    cells = await conn.fetch(
        f"SELECT coalesce(f.severity_rating, '{UNRATED}') AS rating, {_STATUS} AS status, count(*) AS n"
        f"{_LIVE}GROUP BY 1, 2",
        team_id,
        sbom_id,
    )
    touched: Any = await conn.fetchrow(
        "SELECT count(DISTINCT (f.ecosystem, f.package)) AS packages, "
        "count(DISTINCT (f.ecosystem, f.package, f.version)) AS versions, "
        "count(DISTINCT f.sbom_id) AS sboms, count(DISTINCT f.advisory_id) AS advisories"
        f"{_LIVE}AND {_STATUS} = ANY($3::text[])",
        team_id,
        sbom_id,
        list(OPEN_STATUSES),
    )
    by_severity = dict.fromkeys(RATINGS, 0)
    by_triage = dict.fromkeys(STATUSES, 0)
    for cell in cells:
        by_triage[cell["status"]] = by_triage.get(cell["status"], 0) + cell["n"]
        if cell["status"] in OPEN_STATUSES:
            by_severity[cell["rating"]] = by_severity.get(cell["rating"], 0) + cell["n"]
    return FindingSummary(
        open=sum(by_severity.values()),
        by_severity=by_severity,
        by_triage=by_triage,
        packages=touched["packages"],
        versions=touched["versions"],
        sboms=touched["sboms"],
        advisories=touched["advisories"],
    )


class Summaries:
    """The `findings_summary` endpoint (the SupplyChainAgent wires it)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def summary(self, request: FindingSummaryQuery, ctx: MessageContext) -> FindingSummary:
        team_id = team_with(ctx.principal, Permission.SUPPLY_CHAIN_READ)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return await finding_summary(conn, team_id, request.sbom_id)
