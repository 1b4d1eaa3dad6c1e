"""The orphan-blob sweep: deletes blobs no row refers to once they are older than a grace period.

Blobs are left behind by an upload refused after its bytes were stored (or never announced), a
deleted version or package, a purged team, an evicted upstream cache row, or the SupplyChainAgent's
uploads and one-off documents (VEX exports), which nothing keeps. The sweep lists the blob store,
asks which of each batch of old blobs some row (this agent's, or the SupplyChainAgent's
`supply_chain.blob_references`) still uses, and deletes the others one by one under `lock_blob`, the
lock every publish takes before it checks that its blob exists and writes its row: a publish
committed first keeps the blob, one that comes after finds it gone and is refused ("upload it
again"). The grace period keeps that refusal for uploads in flight rare: their bytes are fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.registry import store
from shared.blobstore import BlobStore, StoredBlob
from shared.db.locks import try_advisory_lock
from shared.metrics import (
    REGISTRY_ORPHAN_BLOB_BYTES_FREED_TOTAL,
    REGISTRY_ORPHAN_BLOB_SWEEP_SECONDS,
    REGISTRY_ORPHAN_BLOBS_DELETED_TOTAL,
)

log = structlog.get_logger("mno.registry")

LOCK_NAME = "mno.registry.orphan-blob-sweep"
# Blobs whose references are asked in one query.
BATCH_SIZE = 500


@dataclass(slots=True)
class SweepReport:
    """What one sweep saw and did."""

    listed: int = 0
    old_enough: int = 0
    deleted: int = 0
    bytes_freed: int = 0


def old_enough(blob: StoredBlob, now: datetime, grace: timedelta) -> bool:
    """Whether a blob was last written at least `grace` before `now` (a younger one may be an
    upload whose rows are not committed yet)."""
    return blob.last_modified <= now - grace


class OrphanBlobSweep:
    """Run by one replica at a time (a session advisory lock); `run` is the periodic job."""

    def __init__(
        self,
        pool: Any,
        blobs: BlobStore,
        *,
        grace_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = 1000,
    ) -> None:
        self._pool = pool
        self._blobs = blobs
        self._grace = timedelta(seconds=grace_seconds)
        self._clock = clock
        self._page_size = page_size

    async def run(self) -> SweepReport | None:
        """One sweep; None when another replica is sweeping or the SupplyChainAgent's references
        cannot be read (its schema not migrated: nothing is deleted without knowing them)."""
        async with try_advisory_lock(self._pool, LOCK_NAME) as held:
            if not held:
                return None
            async with self._pool.acquire() as conn:
                if not await store.supply_chain_references_known(conn):
                    log.warning("orphan-blob sweep skipped: the supply chain's blob references are unknown")
                    return None
            started = time.monotonic()
            report = SweepReport()
            now = self._clock()
            batch: list[StoredBlob] = []
            async for blob in self._blobs.list_blobs(page_size=self._page_size):
                report.listed += 1
                if not old_enough(blob, now, self._grace):
                    continue
                report.old_enough += 1
                batch.append(blob)
                if len(batch) >= BATCH_SIZE:
                    await self._collect(batch, report)
                    batch = []
            if batch:
                await self._collect(batch, report)
            REGISTRY_ORPHAN_BLOB_SWEEP_SECONDS.set(time.monotonic() - started)
            log.info(
                "orphan-blob sweep done",
                listed=report.listed,
                deleted=report.deleted,
                bytes_freed=report.bytes_freed,
            )
            return report

    async def _collect(self, batch: list[StoredBlob], report: SweepReport) -> None:
        async with self._pool.acquire() as conn:
            referenced = await store.referenced_blobs(conn, [b.sha256 for b in batch])
        for blob in batch:
            if blob.sha256 in referenced:
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                # Asked again under the publish path's lock: a row may have arrived since the batch query.
                await store.lock_blob(conn, blob.sha256)
                if await store.blob_referenced(conn, blob.sha256):
                    continue
                if not await self._blobs.delete(blob.sha256):
                    continue
            report.deleted += 1
            report.bytes_freed += blob.size
            REGISTRY_ORPHAN_BLOBS_DELETED_TOTAL.inc()
            REGISTRY_ORPHAN_BLOB_BYTES_FREED_TOTAL.inc(blob.size)
