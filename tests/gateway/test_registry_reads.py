"""The edge's cache of registry reads as the SuperAgent wires it (notices, reconnects, expiry) and its
batches of downloads answered from the cache, with an injected clock and a stand-in bus: no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from agents.super_agent.agent import registry_reads
from services.gateway.blob_bytes import BlobBytes
from services.gateway.download_tally import FLUSH_DOWNLOADS, DownloadTally
from shared.bus.client import OutgoingEvent
from shared.bus.codec import decode_message
from shared.bus.errors import PublishOutcomeUnknown, ServiceUnavailable
from shared.messages.artifacts import DownloadsCounted, FileLocation, RegistryChanged
from shared.messages.registry import DOWNLOADS_COUNTED, REGISTRY_CHANGED

TTL = 30.0
LOCATION = FileLocation(
    filename="acme_lib-1.0-py3-none-any.whl",
    blob_sha256="a" * 64,
    size=10,
    content_type="application/octet-stream",
    cacheable=True,
    file_id=7,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Subscription:
    async def unsubscribe(self) -> None:
        return None


class FakeRuntime:
    """What `registry_reads` uses of the agent's runtime: settings, the bus's `listen`, reconnects."""

    def __init__(self) -> None:
        self.settings = SimpleNamespace(registry=SimpleNamespace(edge_cache_ttl_seconds=TTL))
        self.listeners: dict[str, Callable[[Any], Awaitable[None]]] = {}
        self.reconnects: list[Callable[[], None]] = []
        self.bus = SimpleNamespace(listen=self._listen)

    async def _listen(self, notice: Any, handler: Callable[[Any], Awaitable[None]]) -> Subscription:
        self.listeners[notice.subject] = handler
        return Subscription()

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self.reconnects.append(callback)

    def on_shutdown(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        pass


async def _cache(clock: Clock) -> tuple[Any, FakeRuntime]:
    runtime = FakeRuntime()
    cache = await registry_reads(runtime, clock)  # type: ignore[arg-type]
    return cache, runtime


async def test_a_notice_lost_while_disconnected_is_bounded_by_the_ttl() -> None:
    """An entry whose change notice never arrived is served until `registry.edge_cache_ttl_seconds`
    after it was stored, then asked again; never longer."""
    clock = Clock()
    cache, _runtime = await _cache(clock)
    cache.put("team-a", ("pypi-file", "f", "a" * 64), LOCATION, cache.generation("team-a"))
    # The block was announced while this edge was away: no notice, no reconnect seen yet.
    clock.now += TTL - 0.001
    assert cache.get("team-a", ("pypi-file", "f", "a" * 64)) == LOCATION
    clock.now += 0.001
    assert cache.get("team-a", ("pypi-file", "f", "a" * 64)) is None


async def test_a_reconnect_forgets_every_teams_reads() -> None:
    """When the bus reconnects (notices sent meanwhile were lost), every entry goes at once, and a
    read begun before is not stored."""
    clock = Clock()
    cache, runtime = await _cache(clock)
    cache.put("team-a", "k", LOCATION, cache.generation("team-a"))
    cache.put("team-b", "k", LOCATION, cache.generation("team-b"))
    began = cache.generation("team-a")
    for callback in runtime.reconnects:
        callback()
    assert (cache.get("team-a", "k"), cache.get("team-b", "k")) == (None, None)
    assert not cache.put("team-a", "k", LOCATION, began)


async def test_a_registry_notice_drops_only_its_teams_reads() -> None:
    """REGISTRY_CHANGED for one team drops that team's entries; another team's stay."""
    clock = Clock()
    cache, runtime = await _cache(clock)
    cache.put("team-a", "k", LOCATION, cache.generation("team-a"))
    cache.put("team-b", "k", LOCATION, cache.generation("team-b"))
    await runtime.listeners[REGISTRY_CHANGED.subject](RegistryChanged(team_id="team-a"))
    assert (cache.get("team-a", "k"), cache.get("team-b", "k")) == (None, LOCATION)


class FakeBus:
    """Encodes events as the real bus does; `publish_encoded` fails while `failing` holds an error."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEvent] = []
        self.failing: Exception | None = None
        self.source = "test"

    def encode_event(
        self, event: Any, payload: Any, ctx: Any, *, message_id: str | None = None
    ) -> OutgoingEvent:
        from shared.bus.client import Bus

        return Bus.encode_event(self, event, payload, ctx, message_id=message_id)  # type: ignore[arg-type]

    async def publish_encoded(self, outgoing: OutgoingEvent, *, timeout: float | None = None) -> None:
        if self.failing is not None:
            raise self.failing
        self.sent.append(outgoing)


def _counts(outgoing: OutgoingEvent) -> dict[tuple[str, int], int]:
    _, payload = decode_message(outgoing.data, DownloadsCounted)
    return {(c.team_id, c.file_id): c.count for c in payload.counts}


async def test_downloads_are_summed_per_team_and_file_into_one_batch() -> None:
    """Downloads answered from the cache leave as one DOWNLOADS_COUNTED event per flush, summed per
    (team, file), sent as the platform (system principal)."""
    bus = FakeBus()
    tally = DownloadTally(bus)  # type: ignore[arg-type]
    for team, file_id in [("a", 1), ("a", 1), ("a", 2), ("b", 1)]:
        tally.add(team, file_id)
    assert tally.unsent == 4
    await tally.flush()
    [batch] = bus.sent
    assert batch.subject == DOWNLOADS_COUNTED.subject
    assert _counts(batch) == {("a", 1): 2, ("a", 2): 1, ("b", 1): 1}
    envelope, _ = decode_message(batch.data, DownloadsCounted)
    assert envelope.principal is not None
    assert "system" in envelope.principal.roles
    assert tally.unsent == 0
    await tally.flush()
    assert len(bus.sent) == 1  # nothing counted since: nothing sent


@pytest.mark.parametrize("failure", [ServiceUnavailable("stream"), PublishOutcomeUnknown("stream", 1.0)])
async def test_a_batch_not_acknowledged_is_sent_again_unchanged(failure: Exception) -> None:
    """A batch JetStream did not take (or whose ack did not come) is kept and sent again byte for byte
    (the same message id: stored once, counted once), before anything counted after it."""
    bus = FakeBus()
    tally = DownloadTally(bus)  # type: ignore[arg-type]
    tally.add("a", 1)
    bus.failing = failure
    with pytest.raises(type(failure)):
        await tally.flush()
    tally.add("a", 1)
    await tally.run()  # the periodic job's flush: logged, not raised
    assert tally.unsent == 2
    bus.failing = None
    await tally.flush()
    first, second = bus.sent
    assert _counts(first) == {("a", 1): 1}
    assert _counts(second) == {("a", 1): 1}
    assert first.message_id != second.message_id
    assert tally.unsent == 0


async def test_a_full_batch_leaves_at_once_and_close_sends_the_rest() -> None:
    """`FLUSH_DOWNLOADS` downloads start a flush without waiting for the periodic job; `close` (at
    shutdown, after the HTTP server stopped) sends what is left."""
    bus = FakeBus()
    tally = DownloadTally(bus)  # type: ignore[arg-type]
    for _ in range(FLUSH_DOWNLOADS):
        tally.add("a", 1)
    await asyncio.sleep(0)  # the flush task runs
    await asyncio.sleep(0)
    assert [_counts(b) for b in bus.sent] == [{("a", 1): FLUSH_DOWNLOADS}]
    tally.add("a", 2)
    await tally.close()
    assert _counts(bus.sent[-1]) == {("a", 2): 1}


async def test_a_batch_holds_at_most_max_files_files() -> None:
    """More distinct files than a batch may carry leave as several batches in one flush."""
    bus = FakeBus()
    tally = DownloadTally(bus, max_files=2)  # type: ignore[arg-type]
    for file_id in (1, 2, 3):
        tally.add("a", file_id)
    await tally.close()
    assert sorted(len(_counts(b)) for b in bus.sent) == [1, 2]


def test_small_blobs_are_kept_within_their_bounds() -> None:
    """Blob bytes are kept by digest up to `max_bytes` in all (least recently read go first); a blob
    larger than `max_blob` is not kept."""
    kept = BlobBytes(max_bytes=10, max_blob=6)
    kept.put("a", b"aaaa")
    kept.put("b", b"bbbb")
    assert kept.get("a") == b"aaaa"  # now the most recently read
    kept.put("c", b"cccc")  # 12 > 10: b goes
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (b"aaaa", None, b"cccc")
    kept.put("d", b"d" * 7)
    assert kept.get("d") is None
    with pytest.raises(ValueError, match="room"):
        BlobBytes(max_bytes=1, max_blob=2)
