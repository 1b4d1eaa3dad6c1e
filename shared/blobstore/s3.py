"""Blob store on an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterator
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from shared.blobstore.interface import (
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreError,
    StoredBlob,
    is_digest,
    validate_digest,
)
from shared.blobstore.streams import DigestingReader, rechunk

_MiB = 1024 * 1024
_GiB = 1024 * _MiB

UPLOAD_PART_SIZE = 8 * _MiB
# S3 limits: at most 10,000 parts per multipart upload, parts of 5 MiB..5 GiB (the last may be
# smaller), and CopyObject only copies objects up to 5 GiB.
_MAX_PARTS = 10_000
_MIN_PART_SIZE = 5 * _MiB
_MAX_PART_SIZE = 5 * _GiB
_MAX_SINGLE_COPY_SIZE = 5 * _GiB

_READ_CHUNK_SIZE = _MiB
_COPY_CONCURRENCY = 8
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3BlobStore(BlobStore):
    """Blobs as objects at ``<prefix>sha256/<digest>``, staged at ``<prefix>tmp/<uuid>``.

    Content is uploaded to a staging key while it is hashed; only once the digest is known
    and verified is it copied server-side to its content address, so a reader never sees a
    partial or unverified blob. Staged objects and multipart uploads are removed on failure,
    but a crashed process can still leave some behind: an S3 lifecycle rule expiring
    ``<prefix>tmp/`` and aborting incomplete multipart uploads after a day or so cleans those up.

    One client (and its connection pool) is kept for the store's lifetime. It is created by
    `start()` or on first use, and released by `close()`.

    `multipart_copy_threshold` and `copy_part_size` control the server-side copy: objects
    larger than the threshold (at most 5 GiB, the CopyObject limit) are copied in parts.
    """

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        multipart_copy_threshold: int = _MAX_SINGLE_COPY_SIZE,
        copy_part_size: int = 512 * _MiB,
    ) -> None:
        if not 0 < multipart_copy_threshold <= _MAX_SINGLE_COPY_SIZE:
            raise ValueError(f"multipart_copy_threshold must be in 1..{_MAX_SINGLE_COPY_SIZE}")
        if not _MIN_PART_SIZE <= copy_part_size <= _MAX_PART_SIZE:
            raise ValueError(f"copy_part_size must be in {_MIN_PART_SIZE}..{_MAX_PART_SIZE}")
        self._bucket = bucket
        self._region = region
        self._endpoint_url = endpoint_url
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self._multipart_copy_threshold = multipart_copy_threshold
        self._copy_part_size = copy_part_size
        self._client: Any = None
        self._client_context: contextlib.AsyncExitStack | None = None
        self._client_lock = asyncio.Lock()
        self._closed = False
        self._cleanups: set[asyncio.Task[None]] = set()

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key_for(self, digest: str) -> str:
        return f"{self._prefix}sha256/{validate_digest(digest)}"

    async def start(self) -> None:
        """Create the S3 client now rather than on first use."""
        await self._get_client()

    async def close(self) -> None:
        # Cleanups still in flight need the client; closing it under them would leave staging data.
        await asyncio.gather(*self._cleanups, return_exceptions=True)
        async with self._client_lock:
            self._closed = True
            context, self._client_context, self._client = self._client_context, None, None
        if context is not None:
            await context.aclose()

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobRef:
        reader = DigestingReader(chunks, expected_sha256=expected_sha256, expected_size=expected_size)
        client = await self._get_client()
        staging_key = f"{self._prefix}tmp/{uuid.uuid4().hex}"
        part_size = _upload_part_size(expected_size)
        try:
            await self._upload(client, staging_key, rechunk(reader, part_size))
            ref = reader.verified_ref()
            await self._copy(client, staging_key, self._key_for(ref.sha256), ref.size)
        finally:
            # The blob is committed (or the put failed) either way; a staged object that cannot
            # be deleted is garbage for the lifecycle rule, not a reason to fail the put.
            await self._cleanup(client.delete_object(Bucket=self._bucket, Key=staging_key))
        return ref

    async def open(self, digest: str) -> AsyncIterator[bytes]:
        key = self._key_for(digest)
        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            raise _translate_client_error(exc, digest, "reading a blob") from exc
        except BotoCoreError as exc:
            raise BlobStoreError(f"reading a blob: {exc}") from exc
        body = response["Body"]
        # Leaving the context releases the HTTP connection, also when the reader stops early.
        async with body:
            while True:
                with _s3_errors("reading a blob"):
                    chunk = await body.read(_READ_CHUNK_SIZE)
                if not chunk:
                    return
                yield chunk

    async def stat(self, digest: str) -> BlobRef:
        key = self._key_for(digest)
        client = await self._get_client()
        try:
            response = await client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            raise _translate_client_error(exc, digest, "reading blob metadata") from exc
        except BotoCoreError as exc:
            raise BlobStoreError(f"reading blob metadata: {exc}") from exc
        return BlobRef(sha256=digest, size=int(response["ContentLength"]))

    async def exists(self, digest: str) -> bool:
        try:
            await self.stat(digest)
        except BlobNotFound:
            return False
        return True

    async def delete(self, digest: str) -> bool:
        # DeleteObject succeeds whether or not the key exists, so ask first to report which it was.
        existed = await self.exists(digest)
        if existed:
            client = await self._get_client()
            with _s3_errors("deleting a blob"):
                await client.delete_object(Bucket=self._bucket, Key=self._key_for(digest))
        return existed

    async def list_blobs(self, *, page_size: int = 1000) -> AsyncIterator[StoredBlob]:
        # One ListObjectsV2 page (at most 1,000 keys, S3's cap) in memory at a time.
        if not 1 <= page_size <= 1000:
            raise ValueError("page_size must be in 1..1000")
        client = await self._get_client()
        blob_prefix = f"{self._prefix}sha256/"
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": blob_prefix, "MaxKeys": page_size}
            if token is not None:
                arguments["ContinuationToken"] = token
            with _s3_errors("listing blobs"):
                response = await client.list_objects_v2(**arguments)
            for item in response.get("Contents", []):
                digest = item["Key"][len(blob_prefix) :]
                if is_digest(digest):
                    modified = item["LastModified"]
                    yield StoredBlob(sha256=digest, size=int(item["Size"]), last_modified=modified)
            if not response.get("IsTruncated"):
                return
            token = response["NextContinuationToken"]

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._closed:
                raise BlobStoreError("the blob store is closed")
            if self._client is None:
                context = contextlib.AsyncExitStack()
                self._client = await context.enter_async_context(self._new_client())
                self._client_context = context
            return self._client

    def _new_client(self) -> Any:
        # Self-hosted S3 implementations (and moto) are usually reached by IP or a single host
        # name, which virtual-hosted-style bucket addressing (bucket.host) cannot resolve.
        config = AioConfig(s3={"addressing_style": "path"}) if self._endpoint_url else None
        return aioboto3.Session().client(
            "s3",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    async def _upload(self, client: Any, key: str, parts: AsyncIterator[bytes]) -> None:
        """Upload `parts` to `key`: one PutObject for a single part, else a multipart upload.

        One part is read ahead to learn whether a second exists, so at most two parts are in
        memory at a time. `parts` never yields an empty part, so an empty stream leaves
        `pending` at its empty default and is stored as an empty object.
        """
        pending = await anext(parts, b"")
        upload_id: str | None = None
        completed: list[dict[str, Any]] = []
        try:
            async for following in parts:
                if upload_id is None:
                    upload_id = await self._create_multipart_upload(client, key)
                completed.append(await self._upload_part(client, key, upload_id, len(completed) + 1, pending))
                pending = following
            if upload_id is None:
                with _s3_errors("uploading a blob"):
                    await client.put_object(Bucket=self._bucket, Key=key, Body=pending)
                return
            completed.append(await self._upload_part(client, key, upload_id, len(completed) + 1, pending))
            with _s3_errors("completing a multipart upload"):
                await client.complete_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": completed}
                )
        except BaseException:
            if upload_id is not None:
                await self._cleanup(self._abort_multipart_upload(client, key, upload_id))
            raise

    async def _create_multipart_upload(self, client: Any, key: str) -> str:
        with _s3_errors("starting a multipart upload"):
            response = await client.create_multipart_upload(Bucket=self._bucket, Key=key)
        return str(response["UploadId"])

    async def _upload_part(
        self, client: Any, key: str, upload_id: str, part_number: int, body: bytes
    ) -> dict[str, Any]:
        if part_number > _MAX_PARTS:
            raise BlobStoreError(
                f"blob exceeds {_MAX_PARTS} upload parts; pass expected_size so larger parts are used"
            )
        with _s3_errors("uploading a blob part"):
            response = await client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body
            )
        return {"PartNumber": part_number, "ETag": response["ETag"]}

    async def _copy(self, client: Any, source_key: str, destination_key: str, size: int) -> None:
        source = {"Bucket": self._bucket, "Key": source_key}
        if size <= self._multipart_copy_threshold:
            with _s3_errors("committing a blob"):
                await client.copy_object(Bucket=self._bucket, Key=destination_key, CopySource=source)
            return
        upload_id = await self._create_multipart_upload(client, destination_key)
        part_size = max(self._copy_part_size, math.ceil(size / _MAX_PARTS))
        slots = asyncio.Semaphore(_COPY_CONCURRENCY)

        async def copy_part(part_number: int, first_byte: int) -> dict[str, Any]:
            last_byte = min(first_byte + part_size, size) - 1
            async with slots:
                with _s3_errors("committing a blob part"):
                    response = await client.upload_part_copy(
                        Bucket=self._bucket,
                        Key=destination_key,
                        UploadId=upload_id,
                        PartNumber=part_number,
                        CopySource=source,
                        CopySourceRange=f"bytes={first_byte}-{last_byte}",
                    )
            return {"PartNumber": part_number, "ETag": response["CopyPartResult"]["ETag"]}

        # Plain tasks and gather rather than a TaskGroup, so a failing part surfaces as its own
        # BlobStoreError instead of wrapped in an ExceptionGroup.
        tasks = [
            asyncio.ensure_future(copy_part(number, first_byte))
            for number, first_byte in enumerate(range(0, size, part_size), start=1)
        ]
        try:
            parts = await asyncio.gather(*tasks)
            with _s3_errors("committing a blob"):
                await client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=destination_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._cleanup(self._abort_multipart_upload(client, destination_key, upload_id))
            raise

    async def _abort_multipart_upload(self, client: Any, key: str, upload_id: str) -> None:
        await client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

    async def _cleanup(self, operation: Coroutine[Any, Any, Any]) -> None:
        """Run a best-effort cleanup, typically while another exception is propagating.

        It runs as a shielded task so that a repeated cancellation of the caller cannot cut it
        short: the task then finishes in the background and `close()` waits for it. Its own S3
        errors are swallowed so they never hide the error that made the cleanup necessary.
        """
        task = asyncio.ensure_future(_quietly(operation))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)


def _upload_part_size(expected_size: int | None) -> int:
    # Without a size hint, fixed 8 MiB parts cap a blob at 10,000 parts (about 78 GiB).
    if expected_size is None:
        return UPLOAD_PART_SIZE
    return max(UPLOAD_PART_SIZE, math.ceil(expected_size / _MAX_PARTS))


async def _quietly(operation: Coroutine[Any, Any, Any]) -> None:
    with contextlib.suppress(ClientError, BotoCoreError):
        await operation


def _translate_client_error(exc: Any, digest: str, action: str) -> BlobStoreError:
    if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
        return BlobNotFound(digest)
    return BlobStoreError(f"{action}: {exc}")


@contextlib.contextmanager
def _s3_errors(action: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise BlobStoreError(f"{action}: {exc}") from exc
