"""The edge's cache of registry reads end to end: two edge replicas and the ArtifactManagerAgent as real
processes (NATS and a database of their own), the cache's expiry set to an hour, so what a test sees
change within seconds was changed by the agent's REGISTRY_CHANGED notice, never by expiry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.registry import store
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.agents import AgentName
from shared.messages.artifacts import Ecosystem
from shared.messages.envelope import Principal
from shared.messages.permissions import Permission
from shared.messages.registry import VERSION_BLOCK_CHANGED
from shared.messages.supply_chain_policy import BlockingFinding, VersionBlockChanged
from tests.fixtures.mesh import AgentProcess, MeshLauncher, own_mesh
from tests.fixtures.stack import free_port
from tests.fixtures.teams import org_team_key
from tests.registry.pypackages import minimal_wheel, upload_bytes

PUBLISHER = [
    Permission.ARTIFACTS_READ,
    Permission.ARTIFACTS_PUBLISH,
    Permission.ARTIFACTS_YANK,
    Permission.ARTIFACTS_DELETE,
]
TTL_SECONDS = 3600.0
# How long a change may take to reach the other edge: a notice's trip, well under a second here.
AT_ONCE_SECONDS = 5.0
JSON_PAGE = {"Accept": "application/vnd.pypi.simple.v1+json"}


@dataclass(frozen=True)
class Edges:
    launcher: MeshLauncher
    pool: asyncpg.Pool
    reader: AgentProcess  # the edge whose cache is watched
    writer_url: str  # another edge replica: its writes reach the reader only through the agent

    @property
    def reader_url(self) -> str:
        return self.launcher.edge_url


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str

    @property
    def basic(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"__token__:{self.key}".encode()).decode()}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="module")
async def edges(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Edges]:
    overrides = {
        "registry": {"edge_cache_ttl_seconds": TTL_SECONDS},
        "nats": {"request_timeout_seconds": 15.0},
    }
    agents = (AgentName.ARTIFACT_MANAGER, AgentName.SUPER_AGENT)
    async with own_mesh(tmp_path_factory.mktemp("edge-cache"), postgres_dsn, agents, overrides) as (
        launcher,
        pool,
    ):
        reader = next(h for h in launcher.started if h.agent is AgentName.SUPER_AGENT)
        port = free_port()
        await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT, http_port=port)
        yield Edges(launcher, pool, reader, f"http://127.0.0.1:{port}")


async def _team(pool: asyncpg.Pool) -> Team:
    async with pool.acquire() as conn:
        key = await org_team_key(conn, PUBLISHER)
        team_id = await conn.fetchval(
            "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", key.split("_")[1]
        )
    return Team(str(team_id), key)


async def _publish(edge_url: str, team: Team, name: str, version: str, salt: bytes = b"") -> tuple[str, str]:
    """A wheel uploaded through `edge_url`; its file name and SHA-256."""
    filename, content = minimal_wheel(name, version)
    if salt:  # other bytes under the same name: the salt is the archive's comment
        buffer = io.BytesIO(content)
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.comment = salt
        content = buffer.getvalue()
    status, text = await upload_bytes(edge_url, team.team_id, team.key, name, version, filename, content)
    assert status == 200, text
    return filename, hashlib.sha256(content).hexdigest()


async def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.get(url, allow_redirects=False) as response,
    ):
        return response.status, await response.read()


async def _page(edge_url: str, team: Team, project: str) -> dict[str, Any]:
    status, body = await _get(
        f"{edge_url}/registry/{team.team_id}/pypi/simple/{project}/", {**team.basic, **JSON_PAGE}
    )
    assert status == 200, body
    page: dict[str, Any] = json.loads(body)
    return page


def _file_url(edge_url: str, team: Team, sha256: str, filename: str) -> str:
    return f"{edge_url}/registry/{team.team_id}/pypi/files/{sha256}/{filename}"


async def _cache_hits(edge: AgentProcess) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{edge.metrics_url}/metrics") as answer:
        text = await answer.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mno_edge_cache_total" and sample.labels == {
                "cache": "registry_reads",
                "outcome": "hit",
            }:
                return sample.value
    return 0.0


async def _until(condition: Any, seconds: float = AT_ONCE_SECONDS) -> float:
    """Seconds until the async `condition` holds; fails the test when it does not within `seconds`."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < seconds, (
            f"not within {seconds} s (the cache keeps {TTL_SECONDS} s)"
        )
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_publish_through_another_edge_shows_on_a_cached_page_at_once(edges: Edges) -> None:
    """A project page cached by one edge lists a file published through another edge as soon as the
    ArtifactManagerAgent's notice arrives, not when the entry expires."""
    team = await _team(edges.pool)
    await _publish(edges.reader_url, team, "cached-lib", "1.0")
    assert [f["filename"] for f in (await _page(edges.reader_url, team, "cached-lib"))["files"]] == [
        "cached_lib-1.0-py3-none-any.whl"
    ]
    hits = await _cache_hits(edges.reader)
    await _page(edges.reader_url, team, "cached-lib")
    assert await _cache_hits(edges.reader) == hits + 1  # answered from the cache

    filename, _ = await _publish(edges.writer_url, team, "cached-lib", "1.1")

    async def listed() -> bool:
        page = await _page(edges.reader_url, team, "cached-lib")
        return filename in [f["filename"] for f in page["files"]]

    await _until(listed)


async def test_a_yank_through_another_edge_shows_on_a_cached_page_at_once(edges: Edges) -> None:
    """A version yanked through another edge's REST API is marked yanked on the cached page at once."""
    team = await _team(edges.pool)
    await _publish(edges.reader_url, team, "yanked-lib", "1.0")
    assert not (await _page(edges.reader_url, team, "yanked-lib"))["files"][0].get("yanked")
    await _page(edges.reader_url, team, "yanked-lib")
    api = f"{edges.writer_url}/api/v1/registry/packages/pypi/yanked-lib/versions/1.0/yank"
    async with (
        aiohttp.ClientSession(headers=team.bearer) as http,
        http.post(api, json={"reason": "bad"}) as r,
    ):
        assert r.status == 200, await r.text()

    async def yanked() -> bool:
        return (await _page(edges.reader_url, team, "yanked-lib"))["files"][0].get("yanked") == "bad"

    await _until(yanked)


async def _decide(edges: Edges, team: Team, name: str, version: str, *, blocked: bool, revision: int) -> None:
    """The SupplyChainAgent's decision about a version, as it sends it (a JetStream event)."""
    client = await nats.connect(edges.launcher.nats_url)
    try:
        finding = BlockingFinding(
            finding_id=str(uuid.uuid4()),
            advisory_id="MNO-CACHE-1",
            severity="critical",
            package=f"{name}@{version}",
            triage_status="untriaged",
        )
        await Bus(client, source="test", request_timeout=15).publish(
            VERSION_BLOCK_CHANGED,
            VersionBlockChanged(
                team_id=team.team_id,
                ecosystem=Ecosystem.PYPI,
                name=name,
                version=version,
                blocked=blocked,
                findings=[finding] if blocked else [],
                revision=revision,
            ),
            MessageContext(principal=Principal.system()),
        )
    finally:
        await client.close()


async def test_a_block_stops_a_cached_file_at_once_and_a_release_lets_it_through(edges: Edges) -> None:
    """A file whose location the edge keeps is refused (403 naming the finding) as soon as the registry
    applied the SupplyChainAgent's block, not when the entry expires; released, it is served again."""
    team = await _team(edges.pool)
    filename, sha256 = await _publish(edges.reader_url, team, "blocked-lib", "1.0")
    url = _file_url(edges.reader_url, team, sha256, filename)
    assert (await _get(url, team.basic))[0] == 200
    hits = await _cache_hits(edges.reader)
    assert (await _get(url, team.basic))[0] == 200
    assert await _cache_hits(edges.reader) == hits + 1  # the location came from the cache

    await _decide(edges, team, "blocked-lib", "1.0", blocked=True, revision=time.time_ns())

    async def refused() -> bool:
        return (await _get(url, team.basic))[0] == 403

    await _until(refused)
    status, body = await _get(url, team.basic)
    assert status == 403
    assert b"MNO-CACHE-1" in body
    assert b"blocked by your team's supply-chain policy" in body

    await _decide(edges, team, "blocked-lib", "1.0", blocked=False, revision=time.time_ns())

    async def served() -> bool:
        return (await _get(url, team.basic))[0] == 200

    await _until(served)


async def test_one_teams_cached_reads_are_never_served_to_another(edges: Edges) -> None:
    """Two teams publish a project of the same name (other bytes): with the first team's page and file
    cached, the second gets its own page and file, 404 for the first team's digest or index."""
    a, b = await _team(edges.pool), await _team(edges.pool)
    a_file, a_sha = await _publish(edges.reader_url, a, "same-name", "1.0", salt=b"team a")
    b_file, b_sha = await _publish(edges.reader_url, b, "same-name", "1.0", salt=b"team b")
    assert a_file == b_file
    assert a_sha != b_sha
    for _ in range(2):  # the second round is answered from the cache
        assert (await _page(edges.reader_url, a, "same-name"))["files"][0]["hashes"]["sha256"] == a_sha
        assert (await _get(_file_url(edges.reader_url, a, a_sha, a_file), a.basic))[0] == 200
        assert (await _get(_file_url(edges.reader_url, a, a_sha, a_file) + ".metadata", a.basic))[0] == 200

    assert (await _page(edges.reader_url, b, "same-name"))["files"][0]["hashes"]["sha256"] == b_sha
    status, body = await _get(_file_url(edges.reader_url, b, b_sha, b_file), b.basic)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == b_sha
    for url in (
        _file_url(edges.reader_url, b, a_sha, a_file),  # B's index, A's digest
        _file_url(edges.reader_url, b, a_sha, a_file) + ".metadata",
        _file_url(edges.reader_url, a, a_sha, a_file),  # A's index, B's key
        f"{edges.reader_url}/registry/{a.team_id}/pypi/simple/same-name/",
        f"{edges.reader_url}/registry/{a.team_id}/pypi/simple/",
    ):
        assert (await _get(url, b.basic))[0] == 404, url


async def test_downloads_answered_from_the_cache_reach_the_store(edges: Edges) -> None:
    """Five downloads (the first resolved by the agent, four from the edge's cache) and their core
    metadata: the file and its package count five, in about a second; the metadata counts nothing."""
    team = await _team(edges.pool)
    filename, sha256 = await _publish(edges.reader_url, team, "counted-lib", "1.0")
    url = _file_url(edges.reader_url, team, sha256, filename)
    hits = await _cache_hits(edges.reader)
    for _ in range(5):
        assert (await _get(url, team.basic))[0] == 200
        assert (await _get(url + ".metadata", team.basic))[0] == 200
    assert await _cache_hits(edges.reader) == hits + 8

    async def counted() -> bool:
        row = await edges.pool.fetchrow(
            "SELECT f.downloads AS file, p.downloads AS package FROM artifact_manager.files f "
            "JOIN artifact_manager.versions v ON v.id = f.version_id "
            "JOIN artifact_manager.packages p ON p.id = v.package_id "
            "WHERE f.team_id = $1::uuid AND f.filename = $2",
            team.team_id,
            filename,
        )
        assert row is not None
        assert row["file"] <= 5, dict(row)  # never more than were downloaded
        return (row["file"], row["package"]) == (5, 5)

    await _until(counted, seconds=15)


async def test_a_batch_of_downloads_is_counted_once(edges: Edges) -> None:
    """The same batch applied twice (a redelivery, or the edge's resend of a batch whose ack it did not
    see) adds its counts once; a file deleted since is skipped."""
    team = await _team(edges.pool)
    filename, _ = await _publish(edges.reader_url, team, "batch-lib", "1.0")
    file_id = await edges.pool.fetchval(
        "SELECT id FROM artifact_manager.files WHERE team_id = $1::uuid AND filename = $2",
        team.team_id,
        filename,
    )
    message_id = f"test-{uuid.uuid4().hex}"
    batch = [(team.team_id, file_id, 3), (team.team_id, 10**12, 4)]
    async with edges.pool.acquire() as conn:
        assert await store.add_downloads(conn, message_id, batch)
        assert not await store.add_downloads(conn, message_id, batch)
    downloads = await edges.pool.fetchval(
        "SELECT downloads FROM artifact_manager.files WHERE id = $1", file_id
    )
    assert downloads == 3


async def test_a_file_whose_stored_bytes_changed_is_not_served(edges: Edges) -> None:
    """Bytes in the blob store that are not the published file's (altered on disk) are refused before
    any is sent, and not kept: once the store holds the right bytes again, they are served."""
    team = await _team(edges.pool)
    filename, sha256 = await _publish(edges.reader_url, team, "altered-lib", "1.0")
    blob = edges.launcher.workdir / "data" / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256
    original = blob.read_bytes()
    url = _file_url(edges.reader_url, team, sha256, filename)
    try:
        blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        status, body = await _get(url, team.basic)
        assert status == 500, body
        assert b"not the published ones" in body
    finally:
        blob.write_bytes(original)
    status, body = await _get(url, team.basic)
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == sha256
