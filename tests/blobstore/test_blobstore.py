"""The blob store contract, run against every backend: a local directory and a real S3 API (moto)."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig

from shared.blobstore import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    DigestMismatch,
    FilesystemBlobStore,
    InvalidDigest,
    S3BlobStore,
    SizeMismatch,
    create_blob_store,
)
from tests.fixtures.s3 import S3Endpoint

MiB = 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@dataclass(frozen=True)
class Backend:
    """A store under test plus a way to see everything its storage holds, staged data included."""

    store: BlobStore
    stored_entries: Callable[[], Awaitable[list[str]]]


@dataclass(frozen=True)
class GeneratedBlob:
    """Deterministic pseudo-random content, produced chunk by chunk so it is never held whole."""

    size: int
    seed: int = 0
    chunk_size: int = MiB

    def chunks(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        for offset in range(0, self.size, self.chunk_size):
            yield rng.randbytes(min(self.chunk_size, self.size - offset))

    async def stream(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            await asyncio.sleep(0)  # Let other tasks run between chunks, as a network source would.
            yield chunk

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


class CountingStream:
    """An async chunk source that records how many chunks the store pulled from it."""

    def __init__(self, chunks: Iterator[bytes], *, fail_after: int | None = None) -> None:
        self._chunks = chunks
        self._fail_after = fail_after
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            if self._fail_after is not None and self.pulled == self._fail_after:
                raise SourceFailed
            self.pulled += 1
            await asyncio.sleep(0)
            yield chunk


class SourceFailed(Exception):
    """Raised by a test chunk source to simulate the producer failing mid-upload."""


async def stream_of(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_all(store: BlobStore, digest: str) -> bytes:
    return b"".join([chunk async for chunk in store.open(digest)])


async def sha256_of_stored(store: BlobStore, digest: str) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    async for chunk in store.open(digest):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


@pytest.fixture(params=["filesystem", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "filesystem":
        async with create_blob_store("filesystem", root=tmp_path / "blobs") as store:
            yield Backend(
                store=store, stored_entries=lambda: asyncio.to_thread(_files_under, tmp_path / "blobs")
            )
    else:
        endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
        async with _s3_client(endpoint) as client:
            bucket = f"blobs-{uuid.uuid4().hex}"
            await client.create_bucket(Bucket=bucket)
            # A low copy threshold makes the 20 MiB blobs take the multipart server-side copy
            # that real S3 needs above 5 GiB, while small blobs still use a single CopyObject.
            store = S3BlobStore(
                bucket,
                region=endpoint.region,
                endpoint_url=endpoint.endpoint_url,
                access_key_id=endpoint.access_key_id,
                secret_access_key=endpoint.secret_access_key,
                prefix="mno/blobs",
                multipart_copy_threshold=8 * MiB,
                copy_part_size=5 * MiB,
            )
            async with store:
                yield Backend(store=store, stored_entries=lambda: _bucket_entries(client, bucket))
            await _empty_and_delete_bucket(client, bucket)


def _files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def _s3_client(endpoint: S3Endpoint) -> Any:
    return aioboto3.Session().client(
        "s3",
        region_name=endpoint.region,
        endpoint_url=endpoint.endpoint_url,
        aws_access_key_id=endpoint.access_key_id,
        aws_secret_access_key=endpoint.secret_access_key,
        config=AioConfig(s3={"addressing_style": "path"}),
    )


async def _bucket_entries(client: Any, bucket: str) -> list[str]:
    """Every object key in the bucket, plus every multipart upload still in progress."""
    entries: list[str] = []
    async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        entries.extend(item["Key"] for item in page.get("Contents", []))
    uploads = await client.list_multipart_uploads(Bucket=bucket)
    entries.extend(f"multipart upload of {upload['Key']}" for upload in uploads.get("Uploads", []))
    return sorted(entries)


async def _empty_and_delete_bucket(client: Any, bucket: str) -> None:
    uploads = await client.list_multipart_uploads(Bucket=bucket)
    for upload in uploads.get("Uploads", []):
        await client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    async for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            await client.delete_object(Bucket=bucket, Key=item["Key"])
    await client.delete_bucket(Bucket=bucket)


async def test_small_blob_round_trips(backend: Backend) -> None:
    """A small blob is stored under its SHA-256 and reads back byte for byte."""
    content = b"hello, content-addressed world"
    expected = BlobRef(sha256=hashlib.sha256(content).hexdigest(), size=len(content))

    ref = await backend.store.put(stream_of(content[:5], content[5:]))

    assert ref == expected
    assert await read_all(backend.store, ref.sha256) == content
    assert await backend.store.stat(ref.sha256) == expected
    assert await backend.store.exists(ref.sha256)


async def test_empty_blob_round_trips(backend: Backend) -> None:
    """An empty stream stores the empty blob, which has the well-known empty SHA-256."""
    ref = await backend.store.put(stream_of())

    assert ref == BlobRef(sha256=EMPTY_SHA256, size=0)
    assert await read_all(backend.store, EMPTY_SHA256) == b""
    assert await backend.store.stat(EMPTY_SHA256) == ref


async def test_multipart_blob_round_trips(backend: Backend) -> None:
    """A 20 MiB blob (several 8 MiB upload parts) is stored and read back intact."""
    blob = GeneratedBlob(size=20 * MiB)

    ref = await backend.store.put(blob.stream(), expected_sha256=blob.sha256, expected_size=blob.size)

    assert ref == BlobRef(sha256=blob.sha256, size=blob.size)
    assert await sha256_of_stored(backend.store, ref.sha256) == (blob.sha256, blob.size)
    assert await backend.store.stat(ref.sha256) == ref


async def test_streaming_put_and_read(backend: Backend) -> None:
    """A put consumes an async generator of 1 MiB chunks, and a read yields bounded chunks."""
    blob = GeneratedBlob(size=12 * MiB + 123, seed=7)
    source = CountingStream(blob.chunks())

    ref = await backend.store.put(source)

    assert source.pulled == 13
    assert ref == BlobRef(sha256=blob.sha256, size=blob.size)
    chunk_sizes = [len(chunk) async for chunk in backend.store.open(ref.sha256)]
    assert sum(chunk_sizes) == blob.size
    assert len(chunk_sizes) > 1
    assert max(chunk_sizes) <= MiB


async def test_put_is_idempotent(backend: Backend) -> None:
    """Putting the same content again returns the same reference and stores one copy."""
    content = b"same bytes twice"

    first = await backend.store.put(stream_of(content))
    entries_after_first = await backend.stored_entries()
    second = await backend.store.put(stream_of(content[:3], content[3:]))

    assert first == second
    assert await backend.stored_entries() == entries_after_first
    assert len(entries_after_first) == 1
    assert await read_all(backend.store, first.sha256) == content


async def test_concurrent_puts_of_same_content(backend: Backend) -> None:
    """Concurrent puts of identical content all succeed and leave exactly one blob."""
    blob = GeneratedBlob(size=3 * MiB, seed=3)

    refs = await asyncio.gather(*(backend.store.put(blob.stream()) for _ in range(3)))

    assert set(refs) == {BlobRef(sha256=blob.sha256, size=blob.size)}
    assert len(await backend.stored_entries()) == 1


@pytest.mark.parametrize("size", [100, 20 * MiB], ids=["small", "multipart"])
async def test_digest_mismatch_is_rejected_without_leftovers(backend: Backend, size: int) -> None:
    """Content that does not hash to expected_sha256 is rejected and nothing is left stored."""
    blob = GeneratedBlob(size=size, seed=11)
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(DigestMismatch) as raised:
        await backend.store.put(blob.stream(), expected_sha256=wrong)

    assert (raised.value.expected, raised.value.actual) == (wrong, blob.sha256)
    assert not await backend.store.exists(blob.sha256)
    assert not await backend.store.exists(wrong)
    assert await backend.stored_entries() == []


async def test_size_mismatch_is_rejected_without_leftovers(backend: Backend) -> None:
    """Content shorter than expected_size is rejected even when its digest is right."""
    content = b"twelve bytes"
    digest = hashlib.sha256(content).hexdigest()

    with pytest.raises(SizeMismatch) as raised:
        await backend.store.put(stream_of(content), expected_sha256=digest, expected_size=len(content) + 1)

    assert (raised.value.expected, raised.value.actual) == (len(content) + 1, len(content))
    assert not await backend.store.exists(digest)
    assert await backend.stored_entries() == []


async def test_overrunning_stream_is_abandoned_early(backend: Backend) -> None:
    """A stream exceeding expected_size is cut off mid-upload and its partial upload removed."""
    blob = GeneratedBlob(size=20 * MiB, seed=5)
    source = CountingStream(blob.chunks())

    # 17 MiB lets S3 start a multipart upload (two full parts) before the overrun is noticed.
    with pytest.raises(SizeMismatch):
        await backend.store.put(source, expected_size=17 * MiB)

    assert source.pulled == 18
    assert await backend.stored_entries() == []


async def test_failing_source_leaves_nothing_behind(backend: Backend) -> None:
    """An exception from the chunk source propagates unchanged and the staged data is removed."""
    source = CountingStream(GeneratedBlob(size=20 * MiB, seed=9).chunks(), fail_after=17)

    with pytest.raises(SourceFailed):
        await backend.store.put(source)

    assert await backend.stored_entries() == []


async def test_cancelled_put_leaves_nothing_behind(backend: Backend) -> None:
    """Cancelling a put mid-stream (S3: mid multipart upload) removes everything it staged."""
    blob = GeneratedBlob(size=20 * MiB, seed=13)
    stalled = asyncio.Event()

    async def stalling_source() -> AsyncIterator[bytes]:
        for index, chunk in enumerate(blob.chunks()):
            if index == 17:
                stalled.set()
                await asyncio.Event().wait()  # A producer that never delivers the rest.
            yield chunk

    put = asyncio.create_task(backend.store.put(stalling_source()))
    await stalled.wait()
    put.cancel()

    with pytest.raises(asyncio.CancelledError):
        await put
    assert await backend.stored_entries() == []


async def test_missing_blob_is_not_found(backend: Backend) -> None:
    """Reading or stat-ing an absent digest raises BlobNotFound; exists and delete say False."""
    digest = hashlib.sha256(b"never stored").hexdigest()

    with pytest.raises(BlobNotFound):
        await read_all(backend.store, digest)
    with pytest.raises(BlobNotFound):
        await backend.store.stat(digest)
    assert not await backend.store.exists(digest)
    assert not await backend.store.delete(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "../etc/passwd",
        "../" * 21 + "x",
        "",
        "abc123",
        EMPTY_SHA256.upper(),
        EMPTY_SHA256 + "/../x",
        EMPTY_SHA256[:-1] + "g",
    ],
)
async def test_malformed_digest_is_rejected(backend: Backend, digest: str) -> None:
    """Every operation refuses a digest that is not 64 lowercase hex characters, touching nothing."""
    with pytest.raises(InvalidDigest):
        await read_all(backend.store, digest)
    with pytest.raises(InvalidDigest):
        await backend.store.stat(digest)
    with pytest.raises(InvalidDigest):
        await backend.store.exists(digest)
    with pytest.raises(InvalidDigest):
        await backend.store.delete(digest)
    with pytest.raises(InvalidDigest):
        await backend.store.put(stream_of(b"x"), expected_sha256=digest)
    assert await backend.stored_entries() == []


async def test_delete_removes_blob(backend: Backend) -> None:
    """Deleting a stored blob removes it, reports True once, then False."""
    ref = await backend.store.put(stream_of(b"short-lived"))

    assert await backend.store.delete(ref.sha256)

    assert not await backend.store.exists(ref.sha256)
    with pytest.raises(BlobNotFound):
        await read_all(backend.store, ref.sha256)
    assert not await backend.store.delete(ref.sha256)
    assert await backend.stored_entries() == []


def test_factory_builds_each_backend(tmp_path: Path) -> None:
    """create_blob_store returns the backend named by kind, configured from its arguments."""
    filesystem = create_blob_store("filesystem", root=tmp_path)
    s3 = create_blob_store("s3", bucket="blobs", region="us-east-1", prefix="team")

    assert isinstance(filesystem, FilesystemBlobStore)
    assert filesystem.root == tmp_path
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix) == ("blobs", "team/")


def test_factory_rejects_missing_and_foreign_settings(tmp_path: Path) -> None:
    """create_blob_store refuses a missing required setting or one meant for the other backend."""
    untyped: Any = create_blob_store
    with pytest.raises(ValueError, match="needs root"):
        untyped("filesystem")
    with pytest.raises(ValueError, match="does not take: bucket"):
        untyped("filesystem", root=tmp_path, bucket="blobs")
    with pytest.raises(ValueError, match="needs bucket and region"):
        untyped("s3", bucket="blobs")
    with pytest.raises(ValueError, match="unknown blob store kind"):
        untyped("ftp")
