"""Downloads the edge answered from its cache of file locations, counted here and sent to the
ArtifactManagerAgent in batches. Owned by the SuperAgent.

A download the agent resolves is counted by the agent in the same statement (services/registry/
store.py `resolve_file`). One the edge answers from its cache (`FileLocation.file_id`) is added here,
per team and file, and sent as one `DownloadsCounted` event on JetStream (`DOWNLOADS_COUNTED`) about
every second (`FLUSH_SECONDS`, the SuperAgent's periodic job), or at once when a batch is full
(`DOWNLOAD_BATCH_MAX_FILES` files, or `FLUSH_DOWNLOADS` downloads). The agent adds each batch once
(services/registry/download_counts.py), so a batch is simply sent again, byte for byte (the same
message id), until JetStream acknowledges it: after a failed publish, and after one whose outcome is
unknown (no ack in time), which JetStream's duplicate window or the agent's claim then drops.

What is lost: on a graceful stop nothing (the edge flushes after its HTTP server stopped taking
requests). On a crash of the edge process (kill -9, OOM), the downloads counted here and not yet
acknowledged: at most one flush interval's worth (about a second of cached downloads), plus, while
JetStream is unreachable, the batch held for its next attempt and what accumulates behind it
(`mno_edge_download_counts_unsent` shows how many). Counts are statistics (the search's `downloads`,
npm's unpublish policy); the files themselves are always served.
"""

from __future__ import annotations

import asyncio

import structlog

from shared.bus.client import Bus, OutgoingEvent
from shared.bus.context import MessageContext
from shared.messages.artifacts import DOWNLOAD_BATCH_MAX_FILES, DownloadCount, DownloadsCounted
from shared.messages.envelope import Principal
from shared.messages.registry import DOWNLOADS_COUNTED
from shared.metrics import EDGE_DOWNLOAD_BATCHES_TOTAL, EDGE_DOWNLOAD_COUNTS_UNSENT

__all__ = ["FLUSH_DOWNLOADS", "FLUSH_SECONDS", "DownloadTally"]

log = structlog.get_logger("mno.edge.downloads")

FLUSH_SECONDS = 1.0
# Downloads counted since the last batch that make the next one leave at once.
FLUSH_DOWNLOADS = 1000


class DownloadTally:
    def __init__(self, bus: Bus, *, max_files: int = DOWNLOAD_BATCH_MAX_FILES) -> None:
        self._bus = bus
        self._max_files = max_files
        self._counts: dict[tuple[str, int], int] = {}
        self._counted = 0  # downloads in `_counts`
        # The batch taken out of `_counts` and not yet acknowledged by JetStream (sent again as is).
        self._unsent: OutgoingEvent | None = None
        self._unsent_downloads = 0
        self._lock = asyncio.Lock()
        self._soon: asyncio.Task[None] | None = None

    @property
    def unsent(self) -> int:
        """Downloads counted here that JetStream has not acknowledged yet."""
        return self._counted + self._unsent_downloads

    def add(self, team_id: str, file_id: int) -> None:
        """One download of the team's file, answered from the edge's cache."""
        key = (team_id, file_id)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._counted += 1
        EDGE_DOWNLOAD_COUNTS_UNSENT.set(self.unsent)
        if (len(self._counts) >= self._max_files or self._counted >= FLUSH_DOWNLOADS) and (
            self._soon is None or self._soon.done()
        ):
            self._soon = asyncio.create_task(self.run(), name="download counts flush")

    async def run(self) -> None:
        """A flush whose failure is logged, not raised (the periodic job's, every `FLUSH_SECONDS`):
        what was not sent is sent by the next one."""
        try:
            await self.flush()
        except Exception as error:
            log.warning("download counts not sent", error=repr(error), unsent=self.unsent)

    async def flush(self) -> None:
        """Send what was counted, in batches; raises when JetStream does not take one (it is kept, and
        sent again, unchanged, by the next flush)."""
        async with self._lock:
            while self._unsent is not None or self._counts:
                if self._unsent is None:
                    self._take_batch()
                assert self._unsent is not None
                try:
                    await self._bus.publish_encoded(self._unsent)
                except Exception:
                    EDGE_DOWNLOAD_BATCHES_TOTAL.labels("failed").inc()
                    raise
                EDGE_DOWNLOAD_BATCHES_TOTAL.labels("sent").inc()
                self._unsent = None
                self._unsent_downloads = 0
                EDGE_DOWNLOAD_COUNTS_UNSENT.set(self.unsent)

    def _take_batch(self) -> None:
        """Move up to `max_files` counts into the batch to send (no await: a flush cancelled at
        shutdown leaves them in `_unsent`, for the last flush)."""
        keys = list(self._counts)[: self._max_files]
        counts = [DownloadCount(team_id=t, file_id=f, count=self._counts.pop((t, f))) for t, f in keys]
        taken = sum(c.count for c in counts)
        self._counted -= taken
        self._unsent_downloads = taken
        self._unsent = self._bus.encode_event(
            DOWNLOADS_COUNTED,
            DownloadsCounted(counts=counts),
            MessageContext(principal=Principal.system()),
        )

    async def close(self) -> None:
        """The last flush, at shutdown (after the HTTP server stopped taking requests)."""
        if self._soon is not None:
            await asyncio.gather(self._soon, return_exceptions=True)
        try:
            await self.flush()
        except Exception as error:
            log.error("download counts lost at shutdown", error=repr(error), unsent=self.unsent)
