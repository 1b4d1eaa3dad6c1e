"""Downloads the edges answered from their cache of file locations, added to the registry's counts
(the consumer of `DOWNLOADS_COUNTED`; the edge's side is services/gateway/download_tally.py).

A download the ArtifactManagerAgent resolves itself is counted in the statement that resolves it
(`store.resolve_file`). One the edge answers from its cache never reaches this agent as a request:
the edge sums them per team and file and publishes a batch on JetStream about every second. A batch
is added once (`store.add_downloads`: the claim of its message id and the additions are one
statement), so JetStream's redelivery and the edge's resend of a batch whose ack it did not see count
nothing twice. What an edge crash loses is in services/gateway/download_tally.py.
"""

from __future__ import annotations

from typing import Any

import structlog

from services.registry import store
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.messages.artifacts import DownloadsCounted

__all__ = ["CLAIM_RETENTION_SECONDS", "DownloadCounts"]

log = structlog.get_logger("mno.registry.downloads")

# Claims of applied batches are kept a day: far beyond JetStream's redelivery of an unacked message
# (ack_wait x max_deliver) and its duplicate window (the edge's resend of the same batch).
CLAIM_RETENTION_SECONDS = 86_400.0


class DownloadCounts:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def on_downloads_counted(
        self, event: DownloadsCounted, ctx: MessageContext, delivery: Delivery
    ) -> bool:
        if ctx.principal is None or "system" not in ctx.principal.roles:
            # Only the platform's own edges count downloads; anything else on the subject is ignored.
            log.warning("download counts not from an edge ignored", message_id=delivery.message_id)
            return False
        counts = [(c.team_id, c.file_id, c.count) for c in event.counts]
        async with self._pool.acquire() as conn:
            return await store.add_downloads(conn, delivery.message_id, counts)

    async def prune(self) -> None:
        """Forget claims older than any redelivery (a periodic job)."""
        async with self._pool.acquire() as conn:
            await store.prune_download_claims(conn, CLAIM_RETENTION_SECONDS)
