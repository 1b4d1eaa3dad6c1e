"""Blob store on a local (or mounted) filesystem."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

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

# Each chunk is one worker-thread hop, so chunks are large enough to amortise the hop and
# small enough to keep memory flat.
_IO_CHUNK_SIZE = 1024 * 1024


class FilesystemBlobStore(BlobStore):
    """Blobs as files at ``root/sha256/ab/cd/<digest>``, staged in ``root/tmp/``.

    The two fan-out levels keep any one directory to a manageable number of entries. Staging
    inside `root` keeps the temporary file on the same filesystem as its destination, which is
    what makes the final `os.replace` an atomic rename: a reader sees either no blob or all of it.
    """

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._blob_dir = self._root / "sha256"
        self._staging_dir = self._root / "tmp"

    @property
    def root(self) -> Path:
        return self._root

    def _path_for(self, digest: str) -> Path:
        validate_digest(digest)
        return self._blob_dir / digest[:2] / digest[2:4] / digest

    async def put(
        self,
        chunks: AsyncIterable[bytes],
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobRef:
        # Worker-thread hops are few: the staging file is created with the first block in it, and
        # synced, renamed into place and its directory synced in one more (a package file of up to
        # a block, the common case, costs two hops, each of which waits for a free worker).
        reader = DigestingReader(chunks, expected_sha256=expected_sha256, expected_size=expected_size)
        blocks = rechunk(reader, _IO_CHUNK_SIZE)
        first = await anext(blocks, b"")
        with _storage_errors("creating a staging file"):
            staged, staged_path = await asyncio.to_thread(self._create_staging_file, first)
        try:
            try:
                async for block in blocks:
                    with _storage_errors("writing a staging file"):
                        await asyncio.to_thread(staged.write, block)
                ref = reader.verified_ref()
                with _storage_errors("committing a blob"):
                    await asyncio.to_thread(self._commit, staged, staged_path, ref.sha256)
            finally:
                staged.close()
        except BaseException:
            # Synchronous on purpose: a single unlink is quick, and awaiting here could be
            # interrupted by a second cancellation and leave the staging file behind.
            staged_path.unlink(missing_ok=True)
            raise
        return ref

    async def open(self, digest: str) -> AsyncIterator[bytes]:
        path = self._path_for(digest)
        try:
            # Opened and its first block read in one worker-thread hop: a blob shorter than a block
            # (most package files) is read whole there.
            file, chunk = await asyncio.to_thread(_open_and_read, path)
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        except OSError as exc:
            raise BlobStoreError(f"opening a blob: {exc}") from exc
        try:
            while chunk:
                yield chunk
                if len(chunk) < _IO_CHUNK_SIZE:
                    return  # a regular file's read comes back short only at its end
                with _storage_errors("reading a blob"):
                    chunk = await asyncio.to_thread(file.read, _IO_CHUNK_SIZE)
        finally:
            file.close()

    async def stat(self, digest: str) -> BlobRef:
        path = self._path_for(digest)
        try:
            stat_result = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        except OSError as exc:
            raise BlobStoreError(f"reading blob metadata: {exc}") from exc
        return BlobRef(sha256=digest, size=stat_result.st_size)

    async def exists(self, digest: str) -> bool:
        path = self._path_for(digest)
        with _storage_errors("checking a blob"):
            return await asyncio.to_thread(path.is_file)

    async def delete(self, digest: str) -> bool:
        path = self._path_for(digest)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BlobStoreError(f"deleting a blob: {exc}") from exc
        return True

    async def list_blobs(self, *, page_size: int = 1000) -> AsyncIterator[StoredBlob]:
        # One leaf directory (ab/cd/) read per worker-thread hop: at most 1/65536 of the blobs in memory.
        with _storage_errors("listing blobs"):
            leaves = await asyncio.to_thread(self._leaf_directories)
        for leaf in leaves:
            with _storage_errors("listing blobs"):
                found = await asyncio.to_thread(_blobs_in, leaf)
            for blob in found:
                yield blob

    def _leaf_directories(self) -> list[Path]:
        if not self._blob_dir.is_dir():
            return []
        return sorted(
            second
            for first in self._blob_dir.iterdir()
            if first.is_dir()
            for second in first.iterdir()
            if second.is_dir()
        )

    async def close(self) -> None:
        # Every operation opens and closes its own files, so there is nothing held open here.
        return None

    def _create_staging_file(self, first: bytes) -> tuple[BinaryIO, Path]:
        self._staging_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._staging_dir, prefix="put-")
        staged = os.fdopen(fd, "wb")
        try:
            staged.write(first)
        except BaseException:
            staged.close()
            Path(name).unlink(missing_ok=True)
            raise
        return staged, Path(name)

    def _commit(self, staged: BinaryIO, staged_path: Path, digest: str) -> None:
        """The staging file synced to disk, renamed into place, and the rename synced."""
        _flush_to_disk(staged)
        staged.close()
        destination = self._path_for(digest)
        destination.parent.mkdir(parents=True, exist_ok=True)
        # Replacing an existing copy is fine: same digest, same bytes. It keeps re-puts idempotent
        # without a check-then-act race between concurrent writers of the same content.
        os.replace(staged_path, destination)
        _sync_directory(destination.parent)


def _blobs_in(directory: Path) -> list[StoredBlob]:
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:  # emptied and removed meanwhile
        return []
    for entry in entries:
        if not is_digest(entry.name):
            continue
        try:
            stat_result = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # deleted since the directory was read
            continue
        modified = datetime.fromtimestamp(stat_result.st_mtime, UTC)
        found.append(StoredBlob(sha256=entry.name, size=stat_result.st_size, last_modified=modified))
    return found


def _open_and_read(path: Path) -> tuple[BinaryIO, bytes]:
    file = path.open("rb")
    try:
        return file, file.read(_IO_CHUNK_SIZE)
    except BaseException:
        file.close()
        raise


def _flush_to_disk(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())


def _sync_directory(directory: Path) -> None:
    # The rename itself lives in the directory entry; without this a crash could lose a blob
    # that put() already reported as stored.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise BlobStoreError(f"{action}: {exc}") from exc
