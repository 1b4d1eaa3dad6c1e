"""Triage of one product (`supply_chain.product_triage`): a decision about an advisory in a component
version that holds for one product only and wins over the team-wide one there, as VEX statements name
their product (OpenVEX `products`, CycloneDX `affects`) and Dependency-Track keeps an analysis per
project.

A product is what an SBOM describes (`sboms.product`): a version of the team's registry, its own or
one its index took from an upstream, by ecosystem, name and version (the decision outlives a new SBOM
of the version, made when its dependencies change), or any other SBOM (an upload, a lockfile) by id.
Which decision applies to a finding is read in SQL (`store.EFFECTIVE_TRIAGE`); the state machine is
the team-wide one's (`triage`). A withdrawn decision (the team's applies to the product again) moves,
history and all, to `product_triage_withdrawn`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.supply_chain.download_policy import normalise_ref
from services.supply_chain.store import history_json
from services.supply_chain.triage import FindingKey, TriageRecord
from shared.db.inbox import Connection
from shared.messages.artifacts import Ecosystem
from shared.messages.supply_chain import ProductScope, TriageProduct


@dataclass(frozen=True)
class Product:
    key: str
    """`sboms.product` of the SBOMs it covers."""
    sbom_id: str | None = None
    ecosystem: str | None = None
    name: str | None = None
    version: str | None = None

    def info(self) -> TriageProduct:
        return TriageProduct(
            sbom_id=self.sbom_id,
            ecosystem=Ecosystem(self.ecosystem) if self.ecosystem else None,
            name=self.name,
            version=self.version,
        )


def product_of_row(row: Any) -> Product | None:
    """The product of a row of `store.EFFECTIVE_TRIAGE` (None: the team-wide decision applies)."""
    if not row["product"]:
        return None
    return Product(
        row["product"],
        row["product_sbom_id"],
        row["product_ecosystem"],
        row["product_name"],
        row["product_version"],
    )


async def resolve(conn: Connection, team_id: str, scope: ProductScope) -> Product | None:
    """The team's product the scope names, or None. An SBOM of a registry version names that version:
    its decision then holds for the version's later SBOMs too."""
    if scope.sbom_id is not None:
        row = await conn.fetchrow(
            "SELECT id::text AS id, source, subject_ecosystem, subject_name, subject_version, product "
            "FROM supply_chain.sboms WHERE team_id = $1::uuid AND id = $2::uuid",
            team_id,
            scope.sbom_id,
        )
    else:
        # ProductScope's validator: without an sbom_id, all three are given.
        assert scope.ecosystem is not None
        assert scope.name is not None
        assert scope.version is not None
        name, version = normalise_ref(scope.ecosystem.value, scope.name, scope.version)
        row = await conn.fetchrow(
            "SELECT id::text AS id, source, subject_ecosystem, subject_name, subject_version, product "
            "FROM supply_chain.sboms WHERE team_id = $1::uuid AND source IN ('artifact', 'upstream') "
            "AND subject_ecosystem = $2 AND subject_name = $3 AND subject_version = $4 LIMIT 1",
            team_id,
            scope.ecosystem.value,
            name,
            version,
        )
    if row is None:
        return None
    if row["product"].startswith("sbom:"):
        return Product(row["product"], sbom_id=row["id"])
    return Product(
        row["product"],
        ecosystem=row["subject_ecosystem"],
        name=row["subject_name"],
        version=row["subject_version"],
    )


async def holds(conn: Connection, team_id: str, product: Product, key: FindingKey) -> bool:
    """Whether one of the product's SBOMs has a finding of the advisory in the component version."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM supply_chain.findings f JOIN supply_chain.sboms s ON s.id = f.sbom_id "
        "WHERE f.team_id = $1::uuid AND s.team_id = $1::uuid AND s.product = $2 AND f.advisory_id = $3 "
        "AND f.purl = $4)",
        team_id,
        product.key,
        key.advisory_id,
        key.purl,
    )
    return found


async def held(conn: Connection, team_id: str, product: Product, key: FindingKey) -> Any:
    """The product's own decision row, locked for the change (None: it follows the team's)."""
    return await conn.fetchrow(
        "SELECT * FROM supply_chain.product_triage WHERE team_id = $1::uuid AND advisory_id = $2 "
        "AND purl = $3 AND product = $4 FOR UPDATE",
        team_id,
        key.advisory_id,
        key.purl,
        product.key,
    )


async def save(conn: Connection, team_id: str, product: Product, record: TriageRecord) -> None:
    d = record.decision
    await conn.execute(
        "INSERT INTO supply_chain.product_triage (team_id, advisory_id, purl, product, product_sbom_id, "
        "product_ecosystem, product_name, product_version, status, justification, impact_statement, "
        "action_statement, note, updated_by, updated_at, history) VALUES ($1::uuid, $2, $3, $4, $5::uuid, "
        "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) "
        "ON CONFLICT (team_id, advisory_id, purl, product) DO UPDATE SET status = EXCLUDED.status, "
        "justification = EXCLUDED.justification, impact_statement = EXCLUDED.impact_statement, "
        "action_statement = EXCLUDED.action_statement, note = EXCLUDED.note, "
        "updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at, history = EXCLUDED.history",
        team_id,
        record.key.advisory_id,
        record.key.purl,
        product.key,
        product.sbom_id,
        product.ecosystem,
        product.name,
        product.version,
        d.status.value,
        d.justification,
        d.impact_statement,
        d.action_statement,
        d.note,
        record.updated_by,
        record.updated_at,
        history_json(record.history),
    )


async def withdraw(
    conn: Connection, team_id: str, product: Product, key: FindingKey, actor: str, at: datetime
) -> Any:
    """Take the product's own decision away (the team's applies to it again), kept whole in
    `product_triage_withdrawn`; the row as it stood, or None when the product had none."""
    return await conn.fetchrow(
        "WITH gone AS (DELETE FROM supply_chain.product_triage WHERE team_id = $1::uuid "
        "AND advisory_id = $2 AND purl = $3 AND product = $4 RETURNING *), "
        "kept AS (INSERT INTO supply_chain.product_triage_withdrawn (team_id, advisory_id, purl, product, "
        "product_sbom_id, product_ecosystem, product_name, product_version, status, justification, "
        "impact_statement, action_statement, note, updated_by, updated_at, history, withdrawn_by, "
        "withdrawn_at) SELECT team_id, advisory_id, purl, product, product_sbom_id, product_ecosystem, "
        "product_name, product_version, status, justification, impact_statement, action_statement, note, "
        "updated_by, updated_at, history, $5, $6 FROM gone) "
        "SELECT * FROM gone",
        team_id,
        key.advisory_id,
        key.purl,
        product.key,
        actor,
        at,
    )
