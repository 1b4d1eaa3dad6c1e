"""Stream helpers shared by the backends: hashing while reading, and re-chunking to a fixed size."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator

from shared.blobstore.interface import BlobRef, DigestMismatch, SizeMismatch, validate_digest


class DigestingReader:
    """Pass chunks through while hashing and counting them, then check the result.

    Wrapping the caller's stream (rather than hashing what a backend writes) means the digest
    is computed over exactly the bytes the caller supplied, whatever re-chunking follows.
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> None:
        if expected_sha256 is not None:
            validate_digest(expected_sha256)
        if expected_size is not None and expected_size < 0:
            raise ValueError(f"expected_size cannot be negative: {expected_size}")
        self._chunks = chunks
        self._expected_sha256 = expected_sha256
        self._expected_size = expected_size
        self._hash = hashlib.sha256()
        self._size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self._size += len(chunk)
            # Abandon an overrunning stream now instead of storing bytes that will be rejected.
            if self._expected_size is not None and self._size > self._expected_size:
                raise SizeMismatch(self._expected_size, self._size)
            self._hash.update(chunk)
            yield chunk

    def verified_ref(self) -> BlobRef:
        """Return the reference for everything read so far, or raise if it is not what was expected."""
        if self._expected_size is not None and self._size != self._expected_size:
            raise SizeMismatch(self._expected_size, self._size)
        actual = self._hash.hexdigest()
        if self._expected_sha256 is not None and actual != self._expected_sha256:
            raise DigestMismatch(self._expected_sha256, actual)
        return BlobRef(sha256=actual, size=self._size)


async def rechunk(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Yield the concatenated `chunks` as blocks of exactly `size` bytes, the last one possibly shorter.

    Never yields an empty block, so an empty stream yields nothing. At most about `size` bytes
    plus one incoming chunk are held at a time.
    """
    if size <= 0:
        raise ValueError(f"block size must be positive: {size}")
    pending = bytearray()
    async for chunk in chunks:
        if not pending and len(chunk) == size:
            yield bytes(chunk)
            continue
        pending += chunk
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)
