"""SBOMs, their components, findings, triage and attestations in PostgreSQL (schema `supply_chain`).

Every query names the team: a row of another team is never found, so an id of theirs is a 404.
Findings are reconciled per (SBOM, advisory, purl): a match that is new is inserted, one whose
advisory changed is updated, one that no longer matches is retired (kept, with why) and one that
matches again is un-retired. Triage lives beside them by (team, advisory, purl), so it outlives
re-scans, retirements and new SBOMs of the same component version; a product's own triage
(`product_triage`) wins over the team's for the findings of that product (`EFFECTIVE_TRIAGE`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.supply_chain.scanning import FoundVulnerability, ScannedComponent
from services.supply_chain.triage import Decision, FindingKey, Status, Transition, TriageRecord, open_record
from shared.db.inbox import Connection

RATINGS = ["none", "low", "medium", "high", "critical"]

# The triage that applies to finding `f`, as `t`: its product's (`product_triage`, for the product its
# SBOM describes) when there is one, else the team's (`triage`). `t.product` is '' for the team's.
EFFECTIVE_TRIAGE = """LEFT JOIN LATERAL (
    SELECT * FROM (
        SELECT 0 AS rank, p.status, p.justification, p.impact_statement, p.action_statement, p.note,
            p.updated_by, p.updated_at, p.history, p.product, p.product_sbom_id::text AS product_sbom_id,
            p.product_ecosystem, p.product_name, p.product_version
        FROM supply_chain.product_triage p JOIN supply_chain.sboms ps ON ps.id = f.sbom_id
        WHERE p.team_id = f.team_id AND p.advisory_id = f.advisory_id AND p.purl = f.purl
            AND p.product = ps.product
        UNION ALL
        SELECT 1, x.status, x.justification, x.impact_statement, x.action_statement, x.note,
            x.updated_by, x.updated_at, x.history, '', NULL, NULL, NULL, NULL
        FROM supply_chain.triage x
        WHERE x.team_id = f.team_id AND x.advisory_id = f.advisory_id AND x.purl = f.purl
    ) applicable ORDER BY rank LIMIT 1
) t ON true"""

FINDING_COLUMNS = (
    "f.id::text AS id, f.sbom_id::text AS sbom_id, f.advisory_id, f.aliases, f.summary, f.ecosystem, "
    "f.display_name, f.version, f.purl, f.severity_rating, f.severity_score, f.severity_method, "
    "f.severity_vector, f.fixed_versions, f.path, f.first_seen, f.retired_at, f.retired_reason, "
    "t.status AS triage, t.product AS triage_product"
)
FINDING_JOIN = f"supply_chain.findings f {EFFECTIVE_TRIAGE}"


@dataclass
class Changes:
    new: int = 0
    updated: int = 0
    retired: int = 0
    advisories: set[str] = field(default_factory=set)
    ratings: list[str] = field(default_factory=list)
    unrated: int = 0
    """New or changed findings whose advisory gives no severity."""

    def __bool__(self) -> bool:
        return bool(self.new or self.updated or self.retired)

    def highest(self) -> str | None:
        ranked = [r for r in self.ratings if r in RATINGS]
        return max(ranked, key=RATINGS.index) if ranked else None


async def insert_components(
    conn: Connection, team_id: str, sbom_id: str, components: Sequence[ScannedComponent]
) -> None:
    await conn.executemany(
        "INSERT INTO supply_chain.sbom_components (sbom_id, team_id, ecosystem, name, display_name, version, "
        "purl, path) VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        [
            (sbom_id, team_id, c.ecosystem, c.name, c.display_name, c.version, c.purl, list(c.path))
            for c in components
        ],
    )


async def reconcile_findings(
    conn: Connection,
    team_id: str,
    sbom_id: str,
    found: Iterable[FoundVulnerability],
    *,
    packages: set[tuple[str, str]] | None = None,
    withdrawn: set[str] = frozenset(),  # type: ignore[assignment]
    at: datetime,
) -> Changes:
    """Make the SBOM's findings (only those of `packages`, when given) what this scan found."""
    changes = Changes()
    rows = await conn.fetch(
        "SELECT advisory_id, purl, ecosystem, package, summary, aliases, severity_rating, severity_score, "
        "severity_vector, fixed_versions, retired_at FROM supply_chain.findings "
        "WHERE team_id = $1::uuid AND sbom_id = $2::uuid",
        team_id,
        sbom_id,
    )
    held = {
        (r["advisory_id"], r["purl"]): r
        for r in rows
        if packages is None or (r["ecosystem"], r["package"]) in packages
    }
    current = {(f.advisory_id, f.component.purl): f for f in found}
    # Collected, then written by one executemany per statement (pipelined): a 1,000-component SBOM
    # has well over a thousand findings, and a round trip each was half of a stored scan's time.
    inserted: list[tuple[Any, ...]] = []
    updated: list[tuple[Any, ...]] = []
    opened: list[tuple[Any, ...]] = []
    retired: list[tuple[Any, ...]] = []
    for key, f in current.items():
        row = held.get(key)
        values = (
            f.summary,
            list(f.aliases),
            f.rating,
            f.score,
            f.method,
            f.vector,
            list(f.fixed_versions),
        )
        if row is None:
            inserted.append(
                (
                    team_id,
                    sbom_id,
                    f.advisory_id,
                    f.component.ecosystem,
                    f.component.name,
                    f.component.display_name,
                    f.component.version,
                    f.component.purl,
                    *values,
                    list(f.component.path),
                    at,
                )
            )
            changes.new += 1
        elif row["retired_at"] is not None or (
            row["summary"],
            list(row["aliases"]),
            row["severity_rating"],
            row["severity_score"],
            row["severity_vector"],
            list(row["fixed_versions"]),
        ) != (f.summary, list(f.aliases), f.rating, f.score, f.vector, list(f.fixed_versions)):
            updated.append((sbom_id, key[0], key[1], *values, at))
            changes.updated += 1
        else:
            continue
        changes.advisories.add(f.advisory_id)
        if f.rating:
            changes.ratings.append(f.rating)
        else:
            changes.unrated += 1
        opened.append((team_id, key[0], key[1], *_record_values(open_record(FindingKey(*key), at))))
    for key, row in held.items():
        if key in current or row["retired_at"] is not None:
            continue
        reason = "withdrawn" if key[0] in withdrawn else "no_longer_affected"
        retired.append((sbom_id, key[0], key[1], at, reason))
        changes.retired += 1
        changes.advisories.add(key[0])
    if inserted:
        await conn.executemany(
            "INSERT INTO supply_chain.findings (team_id, sbom_id, advisory_id, ecosystem, package, "
            "display_name, version, purl, summary, aliases, severity_rating, severity_score, "
            "severity_method, severity_vector, fixed_versions, path, first_seen, updated_at) VALUES "
            "($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)",
            inserted,
        )
    if updated:
        await conn.executemany(
            "UPDATE supply_chain.findings SET summary = $4, aliases = $5, severity_rating = $6, "
            "severity_score = $7, severity_method = $8, severity_vector = $9, fixed_versions = $10, "
            "retired_at = NULL, retired_reason = NULL, updated_at = $11 "
            "WHERE sbom_id = $1::uuid AND advisory_id = $2 AND purl = $3",
            updated,
        )
    if opened:
        await conn.executemany(
            "INSERT INTO supply_chain.triage (team_id, advisory_id, purl, status, updated_by, updated_at, "
            "history) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            opened,
        )
    if retired:
        await conn.executemany(
            "UPDATE supply_chain.findings SET retired_at = $4, retired_reason = $5, updated_at = $4 "
            "WHERE sbom_id = $1::uuid AND advisory_id = $2 AND purl = $3",
            retired,
        )
    return changes


def _record_values(record: TriageRecord) -> tuple[str, str, datetime, list[dict[str, Any]]]:
    return record.status.value, record.updated_by, record.updated_at, history_json(record.history)


def history_json(history: Iterable[Transition]) -> list[dict[str, Any]]:
    return [
        {
            "previous": t.previous.value if t.previous else None,
            "status": t.decision.status.value,
            "justification": t.decision.justification,
            "impact_statement": t.decision.impact_statement,
            "action_statement": t.decision.action_statement,
            "note": t.decision.note,
            "actor": t.actor,
            "at": t.at.isoformat(),
        }
        for t in history
    ]


def record_from_row(row: Any) -> TriageRecord:
    def decision(item: Any) -> Decision:
        return Decision(
            Status(item["status"]),
            item.get("justification"),
            item.get("impact_statement"),
            item.get("action_statement"),
            item.get("note"),
        )

    history = tuple(
        Transition(
            Status(t["previous"]) if t["previous"] else None,
            decision(t),
            t["actor"],
            datetime.fromisoformat(t["at"]),
        )
        for t in row["history"]
    )
    return TriageRecord(
        FindingKey(row["advisory_id"], row["purl"]),
        decision(dict(row)),
        row["updated_by"],
        row["updated_at"],
        history,
    )


async def save_triage(conn: Connection, team_id: str, record: TriageRecord) -> None:
    d = record.decision
    await conn.execute(
        "INSERT INTO supply_chain.triage (team_id, advisory_id, purl, status, justification, "
        "impact_statement, "
        "action_statement, note, updated_by, updated_at, history) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, "
        "$8, "
        "$9, $10, $11) ON CONFLICT (team_id, advisory_id, purl) DO UPDATE SET status = EXCLUDED.status, "
        "justification = EXCLUDED.justification, impact_statement = EXCLUDED.impact_statement, "
        "action_statement = EXCLUDED.action_statement, note = EXCLUDED.note, updated_by = "
        "EXCLUDED.updated_by, "
        "updated_at = EXCLUDED.updated_at, history = EXCLUDED.history",
        team_id,
        record.key.advisory_id,
        record.key.purl,
        d.status.value,
        d.justification,
        d.impact_statement,
        d.action_statement,
        d.note,
        record.updated_by,
        record.updated_at,
        history_json(record.history),
    )


async def open_counts(conn: Connection, team_id: str, sbom_ids: list[str]) -> dict[str, dict[str, int]]:
    rows = await conn.fetch(
        "SELECT sbom_id::text AS sbom_id, coalesce(severity_rating, 'unrated') AS rating, count(*) AS n "
        "FROM supply_chain.findings WHERE team_id = $1::uuid AND sbom_id = ANY($2::uuid[]) "
        "AND retired_at IS NULL GROUP BY 1, 2",
        team_id,
        sbom_ids,
    )
    counts: dict[str, Counter[str]] = {}
    for r in rows:
        counts.setdefault(r["sbom_id"], Counter())[r["rating"]] = r["n"]
    return {k: dict(v) for k, v in counts.items()}


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """Everything of the teams (SBOMs cascade to components, findings and attestations)."""
    total = 0
    for table in (
        "attestations",
        "findings",
        "sbom_components",
        "triage",
        "product_triage",
        "product_triage_withdrawn",
        "sboms",
        "download_policies",
        "download_overrides",
        "announced_blocks",
        "announced_overrides",
    ):
        status = await conn.execute(
            f"DELETE FROM supply_chain.{table} WHERE team_id = ANY($1::uuid[])",
            list(team_ids),
        )
        total += int(status.split()[-1])
    return total
