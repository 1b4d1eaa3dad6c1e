"""Small blobs' bytes kept in the edge's memory. Owned by the SuperAgent.

A package's core metadata (PEP 658) and a small wheel or tarball are read from the blob store on every
download otherwise (a file opened in a worker thread, or an S3 request). Blobs are content-addressed
and never change under their digest, so what is kept here needs no invalidation: only bytes whose
SHA-256 was checked on the way in are kept, under that digest. Who may have them is not decided here:
the edge serves a blob only for a location the team's own read resolved (its cache of registry reads
drops a team's locations when a version is blocked, yanked or deleted), so a blob kept here is never
served to a team that could not read it, and a blocked file's bytes are not served once its location
is dropped.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["BlobBytes"]


class BlobBytes:
    """At most `max_bytes` of blobs, each at most `max_blob` bytes; the least recently read go first."""

    def __init__(self, max_bytes: int, max_blob: int) -> None:
        if max_blob <= 0 or max_bytes < max_blob:
            raise ValueError("room for at least one blob is needed")
        self.max_blob = max_blob
        self._max_bytes = max_bytes
        self._blobs: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, sha256: str) -> bytes | None:
        data = self._blobs.get(sha256)
        if data is not None:
            self._blobs.move_to_end(sha256)
        return data

    def put(self, sha256: str, data: bytes) -> None:
        """Keep `data`, whose SHA-256 the caller checked is `sha256`."""
        if len(data) > self.max_blob or sha256 in self._blobs:
            return
        self._blobs[sha256] = data
        self._bytes += len(data)
        while self._bytes > self._max_bytes:
            _, dropped = self._blobs.popitem(last=False)
            self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._blobs)
