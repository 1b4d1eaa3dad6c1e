"""Licence ids for the versions and packages published before they were normalised at publish time
(migration 0010: `license_ids` NULL), a periodic job run by one replica at a time.

A Python version's ids come from its core metadata, read back from the blob store (its classifiers
are not among the columns; the wheel's, else the sdist's), an npm version's from its stored
package.json; a version whose metadata cannot be read gets the ids of its licence text. Then each
package not normalised takes its shown version's ids, as `Registry._refresh` sets them. Rows a
publish normalised meanwhile are left as they are (every update is `WHERE license_ids IS NULL`).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from services.registry import store
from services.registry.ecosystems import RULES
from services.registry.ecosystems.interface import RegistryError
from services.registry.licenses import text_license_ids
from services.registry.npm.manifest import license_ids_of as npm_license_ids_of
from services.registry.python import metadata as pymeta
from shared.blobstore import BlobStore, BlobStoreError
from shared.db.locks import try_advisory_lock
from shared.messages.artifacts import Ecosystem

log = structlog.get_logger("mno.registry")

LOCK_NAME = "mno.registry.license-backfill"
BATCH_SIZE = 200
S = store.S


class LicenseBackfill:
    def __init__(self, pool: Any, blobs: BlobStore) -> None:
        self._pool = pool
        self._blobs = blobs

    async def run(self) -> tuple[int, int] | None:
        """Normalise what is left; (versions, packages) normalised, or None when another replica
        holds the job. Cheap once done: two look-ups of the pending rows' partial indexes."""
        async with try_advisory_lock(self._pool, LOCK_NAME) as held:
            if not held:
                return None
            versions = packages = 0
            while batch := await self._versions():
                versions += batch
            while batch := await self._packages():
                packages += batch
            if versions or packages:
                log.info("licence ids backfilled", versions=versions, packages=packages)
            return versions, packages

    async def _versions(self) -> int:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"""
                SELECT v.id, p.ecosystem, v.metadata->>'license' AS license, n.manifest,
                       (SELECT f.core_metadata_sha256 FROM {S}.files f
                        WHERE f.version_id = v.id AND f.core_metadata_sha256 IS NOT NULL
                        ORDER BY (f.kind = 'wheel') DESC, f.id LIMIT 1) AS core_metadata
                FROM {S}.versions v JOIN {S}.packages p ON p.id = v.package_id
                LEFT JOIN {S}.npm_versions n ON n.version_id = v.id
                WHERE v.license_ids IS NULL ORDER BY v.id LIMIT $1
                """,
                BATCH_SIZE,
            )
        if not rows:
            return 0
        found = [(row["id"], await self._version_ids(row)) for row in rows]
        async with self._pool.acquire() as conn:
            await conn.executemany(
                f"UPDATE {S}.versions SET license_ids = $2::text[] WHERE id = $1 AND license_ids IS NULL",
                found,
            )
        return len(rows)

    async def _version_ids(self, row: Any) -> list[str]:
        if row["ecosystem"] == Ecosystem.NPM.value and row["manifest"] is not None:
            manifest = row["manifest"]
            return npm_license_ids_of(json.loads(manifest) if isinstance(manifest, str) else manifest)
        if row["ecosystem"] == Ecosystem.PYPI.value and row["core_metadata"] is not None:
            try:
                raw = b"".join([chunk async for chunk in self._blobs.open(row["core_metadata"])])
                return pymeta.license_ids_of(pymeta.parse_metadata(raw))
            except (BlobStoreError, RegistryError) as error:
                log.warning("licence backfill reads the licence text", version_id=row["id"], error=str(error))
        return sorted(text_license_ids(row["license"]))

    async def _packages(self) -> int:
        async with self._pool.acquire() as conn:
            packages = await conn.fetch(
                f"SELECT id, team_id::text AS team_id, ecosystem FROM {S}.packages "
                "WHERE license_ids IS NULL ORDER BY id LIMIT $1",
                BATCH_SIZE,
            )
            done = 0
            for package in packages:
                ecosystem = Ecosystem(package["ecosystem"])
                versions = await store.list_versions(conn, package["team_id"], package["id"])
                shown = shown_version(ecosystem, versions)
                if shown is not None and shown.license_ids is None:
                    # Its version was published meanwhile without ids (an older replica): next run.
                    continue
                await conn.execute(
                    f"UPDATE {S}.packages SET license_ids = $2::text[] WHERE id = $1 AND license_ids IS NULL",
                    package["id"],
                    shown.license_ids if shown is not None else [],
                )
                done += 1
        # A batch of packages all waiting on their versions is no progress: stop, the next run retries.
        return done


def shown_version(ecosystem: Ecosystem, versions: list[store.VersionRow]) -> store.VersionRow | None:
    """The version whose metadata a package shows (and is searched by): its latest, yanked versions
    left out as installers leave them, else the highest of all (see `Registry._refresh`)."""
    rules = RULES.get(ecosystem)
    if rules is None or not versions:
        return None
    latest = rules.latest([v.version for v in versions if not v.yanked])
    newest = latest or rules.latest([v.version for v in versions])
    return next((v for v in versions if v.version == newest), None)
