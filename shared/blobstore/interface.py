"""The blob store contract shared by every backend.

A blob is addressed by the lowercase hex SHA-256 of its content, so the same bytes always land
under the same key and a reader can trust that a digest names exactly one content.
"""

from __future__ import annotations

import abc
import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

_DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


class BlobStoreError(Exception):
    """Base class for every error a blob store raises, including wrapped backend failures."""


class InvalidDigest(BlobStoreError, ValueError):
    """A digest string is not 64 lowercase hex characters."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"not a lowercase hex SHA-256 digest: {digest!r}")
        self.digest = digest


class DigestMismatch(BlobStoreError):
    """The uploaded content hashed to something other than the caller's expected digest."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected sha256 {expected}, content hashed to {actual}")
        self.expected = expected
        self.actual = actual


class SizeMismatch(BlobStoreError):
    """The uploaded content was not the caller's expected number of bytes.

    Kept separate from `DigestMismatch` because it is detected earlier: a stream that overruns
    the expected size is abandoned as soon as it does, without reading (or uploading) the rest.
    `actual` is then a lower bound, the number of bytes read before giving up.
    """

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected {expected} bytes, content had {actual}")
        self.expected = expected
        self.actual = actual


class BlobNotFound(BlobStoreError, KeyError):
    """No blob is stored under the digest."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest

    def __str__(self) -> str:
        return f"no blob stored under sha256 {self.digest}"


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its content digest and its size in bytes."""

    sha256: str
    size: int

    def __post_init__(self) -> None:
        validate_digest(self.sha256)
        if self.size < 0:
            raise ValueError(f"blob size cannot be negative: {self.size}")


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as a listing sees it: its digest, its size, and when its bytes were last written."""

    sha256: str
    size: int
    last_modified: datetime


def is_digest(name: str) -> bool:
    """Whether `name` is 64 lowercase hex characters (a listing skips anything else it finds)."""
    return _DIGEST_PATTERN.fullmatch(name) is not None


def validate_digest(digest: str) -> str:
    """Return `digest` unchanged if it is 64 lowercase hex characters, else raise `InvalidDigest`.

    Backends build paths and object keys from digests, so this is what keeps a caller-supplied
    string like ``../etc/passwd`` from ever reaching the storage layer.
    """
    if not isinstance(digest, str) or _DIGEST_PATTERN.fullmatch(digest) is None:
        raise InvalidDigest(digest)
    return digest


class BlobStore(abc.ABC):
    """A content-addressed store of immutable blobs, streamed in and out in chunks.

    Usable as an async context manager, which calls `close()` on exit.
    """

    @abc.abstractmethod
    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobRef:
        """Store the concatenated `chunks` under their SHA-256 and return the reference.

        Content is staged in a temporary location and committed under its digest only once the
        whole stream has been read and matches `expected_size` (`SizeMismatch`) and
        `expected_sha256` (`DigestMismatch`), checked in that order. On any failure, including
        an exception raised by `chunks` itself, the staged data is removed. Storing content
        that is already present is harmless and returns the same reference.
        """

    @abc.abstractmethod
    def open(self, digest: str) -> AsyncIterator[bytes]:
        """Stream the stored bytes of a blob in bounded chunks.

        The returned iterator is lazy: `InvalidDigest` and `BlobNotFound` are raised when
        iteration starts, not by this call.
        """

    @abc.abstractmethod
    async def stat(self, digest: str) -> BlobRef:
        """Return the reference (with size) of a stored blob; raise `BlobNotFound` if absent."""

    @abc.abstractmethod
    async def exists(self, digest: str) -> bool:
        """Return whether a blob is stored under `digest`."""

    @abc.abstractmethod
    async def delete(self, digest: str) -> bool:
        """Remove a blob; return whether it was present."""

    @abc.abstractmethod
    def list_blobs(self, *, page_size: int = 1000) -> AsyncIterator[StoredBlob]:
        """Stream every stored blob, in no particular order, `page_size` at a time from the backend.

        Staged (uncommitted) content is never listed. Storing bytes that are already present
        writes them again, so `last_modified` is the latest store of that content.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the store's resources; the store must not be used afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
