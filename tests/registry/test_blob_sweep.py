"""The orphan-blob sweep: an old blob no row refers to is deleted, a young or referenced one (by the
registry or by the SupplyChainAgent) is kept, one being published is not taken from under it, and
an S3 listing is followed across pages. Real PostgreSQL; the filesystem and S3 (moto) backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aioboto3
import asyncpg
import pytest
from aiobotocore.config import AioConfig
from prometheus_client import REGISTRY

from services.registry import store
from services.registry.blob_sweep import LOCK_NAME, OrphanBlobSweep
from shared.blobstore import BlobRef, BlobStore, S3BlobStore, create_blob_store
from shared.db.locks import try_advisory_lock
from shared.db.migrations import migrate
from shared.db.postgres import create_pool
from shared.messages.artifacts import Ecosystem, FileInfo
from tests.fixtures.s3 import S3Endpoint

GRACE = 3600.0


def _later(seconds: float) -> Callable[[], datetime]:
    """A clock `seconds` ahead of now: blobs stored now look that old to the sweep."""
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


OLD = _later(2 * GRACE)
YOUNG = _later(GRACE / 2)


@pytest.fixture(params=["filesystem", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "filesystem":
        async with create_blob_store("filesystem", root=tmp_path / "blobs") as fs_store:
            yield fs_store
        return
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"sweep-{uuid.uuid4().hex}"
    async with _s3_client(endpoint) as client:
        await client.create_bucket(Bucket=bucket)
        async with S3BlobStore(
            bucket,
            region=endpoint.region,
            endpoint_url=endpoint.endpoint_url,
            access_key_id=endpoint.access_key_id,
            secret_access_key=endpoint.secret_access_key,
            prefix="mno",
        ) as s3_store:
            yield s3_store
        async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                await client.delete_object(Bucket=bucket, Key=item["Key"])
        await client.delete_bucket(Bucket=bucket)


def _s3_client(endpoint: S3Endpoint) -> Any:
    return aioboto3.Session().client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.endpoint_url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        config=AioConfig(s3={"addressing_style": "path"}),
    )


async def _put(blobs: BlobStore, content: bytes) -> BlobRef:
    async def chunks() -> AsyncIterator[bytes]:
        yield content

    return await blobs.put(chunks())


async def _publish_rows(conn: Any, blob: BlobRef) -> None:
    """The rows a publish writes for a file (package, version, file), as the publish path does."""
    team_id = str(uuid.uuid4())
    package_id = await store.ensure_package(conn, team_id, Ecosystem.PYPI, "demo", "demo")
    version = await store.insert_version(
        conn, team_id, package_id, "1.0", prerelease=False, metadata={}, published_by=None
    )
    await store.insert_file(
        conn,
        team_id,
        Ecosystem.PYPI,
        version.id,
        FileInfo(
            filename="demo-1.0.tar.gz",
            size=blob.size,
            sha256=blob.sha256,
            kind="sdist",
            uploaded_at=datetime.now(UTC),
        ),
    )


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_an_orphan_older_than_the_grace_is_deleted(
    migrated_pool: asyncpg.Pool, blobs: BlobStore
) -> None:
    """A blob no row refers to, older than the grace, is deleted and counted (blobs and bytes)."""
    orphan = await _put(blobs, b"left behind by a refused upload")
    deleted_before = _sample("mno_registry_orphan_blobs_deleted_total")
    freed_before = _sample("mno_registry_orphan_blob_bytes_freed_total")

    report = await OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=OLD).run()

    assert report is not None
    assert (report.deleted, report.bytes_freed) == (1, orphan.size)
    assert not await blobs.exists(orphan.sha256)
    assert _sample("mno_registry_orphan_blobs_deleted_total") == deleted_before + 1
    assert _sample("mno_registry_orphan_blob_bytes_freed_total") == freed_before + orphan.size
    assert _sample("mno_registry_orphan_blob_sweep_seconds") > 0


async def test_a_young_orphan_is_kept(migrated_pool: asyncpg.Pool, blobs: BlobStore) -> None:
    """An unreferenced blob younger than the grace (an upload whose rows may be coming) is kept."""
    young = await _put(blobs, b"bytes stored, rows not committed yet")

    report = await OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=YOUNG).run()

    assert report is not None
    assert (report.listed, report.deleted) == (1, 0)
    assert await blobs.exists(young.sha256)


async def test_referenced_blobs_are_kept(migrated_pool: asyncpg.Pool, blobs: BlobStore) -> None:
    """Old blobs a registry file row or only a SupplyChainAgent row (an SBOM document) uses are kept."""
    published = await _put(blobs, b"a published wheel")
    document = await _put(blobs, b'{"bomFormat": "CycloneDX"}')
    orphan = await _put(blobs, b"nobody's")
    async with migrated_pool.acquire() as conn:
        await _publish_rows(conn, published)
        await conn.execute(
            "INSERT INTO supply_chain.sboms (team_id, source, subject_name, input_format, graph, "
            "component_count, created, tool_version, cyclonedx_sha256, cyclonedx_size, spdx_sha256, "
            "spdx_size) VALUES ($1::uuid, 'upload', 'demo', 'cyclonedx', '{}'::jsonb, 0, now(), '1', "
            "$2, $3, $2, $3)",
            str(uuid.uuid4()),
            document.sha256,
            document.size,
        )

    report = await OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=OLD).run()

    assert report is not None
    assert report.deleted == 1
    assert await blobs.exists(published.sha256)
    assert await blobs.exists(document.sha256)
    assert not await blobs.exists(orphan.sha256)


async def test_a_blob_being_published_is_not_deleted(migrated_pool: asyncpg.Pool, blobs: BlobStore) -> None:
    """While a publish holds the blob's lock the sweep waits, then sees the committed row and keeps it."""
    blob = await _put(blobs, b"being published right now")
    sweep = OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=OLD)
    async with migrated_pool.acquire() as conn:
        async with conn.transaction():
            await store.lock_blob(conn, blob.sha256)
            running = asyncio.ensure_future(sweep.run())
            await asyncio.sleep(1.0)
            assert not running.done()
            assert await blobs.exists(blob.sha256)
            await _publish_rows(conn, blob)
        report = await asyncio.wait_for(running, 10)

    assert report is not None
    assert report.deleted == 0
    assert await blobs.exists(blob.sha256)


async def test_listing_follows_every_page(migrated_pool: asyncpg.Pool, blobs: BlobStore) -> None:
    """With two keys per page, five orphans take three S3 pages and are all listed and deleted."""
    stored = {(await _put(blobs, f"orphan {n}".encode())).sha256 for n in range(5)}

    listed = {b.sha256 async for b in blobs.list_blobs(page_size=2)}
    report = await OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=OLD, page_size=2).run()

    assert listed == stored
    assert report is not None
    assert (report.listed, report.deleted) == (5, 5)
    assert [b async for b in blobs.list_blobs()] == []


async def test_one_replica_sweeps_at_a_time(migrated_pool: asyncpg.Pool, blobs: BlobStore) -> None:
    """A sweep started while another holds the sweep's advisory lock does nothing."""
    orphan = await _put(blobs, b"an orphan")
    async with try_advisory_lock(migrated_pool, LOCK_NAME) as held:
        assert held
        report = await OrphanBlobSweep(migrated_pool, blobs, grace_seconds=GRACE, clock=OLD).run()

    assert report is None
    assert await blobs.exists(orphan.sha256)


async def test_nothing_is_deleted_without_the_supply_chains_references(
    fresh_database: str, blobs: BlobStore
) -> None:
    """With the supply_chain schema not migrated (its references unknown) the sweep deletes nothing."""
    orphan = await _put(blobs, b"maybe an SBOM document")
    pool = await create_pool(fresh_database, min_size=1, max_size=3, command_timeout=10)
    try:
        await migrate(pool, "artifact_manager")
        report = await OrphanBlobSweep(pool, blobs, grace_seconds=GRACE, clock=OLD).run()
    finally:
        await pool.close()

    assert report is None
    assert await blobs.exists(orphan.sha256)
