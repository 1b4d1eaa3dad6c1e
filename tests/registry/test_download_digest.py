"""Large files (over the edge's 256 KiB in-memory limit) are streamed from the blob store and hashed as
they stream: a blob altered on the filesystem backend after its upload never reaches a client as a
complete answer. The session's mesh (real edge, ArtifactManagerAgent, blobs on the filesystem),
real aiohttp and pip clients; the edge's `mno_edge_blob_digest_mismatches_total` counts each cut."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh
from tests.fixtures.teams import org_team
from tests.registry.coremeta import core_metadata, wheel
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import fresh_venv, index_url, pip_install, upload_bytes

KEY_PERMISSIONS = [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH]
# Three of the filesystem backend's 1 MiB reads and a bit: the cut must hold in any of them.
LARGE = 3 * 1024 * 1024 + 12_345


async def _team(pool: Any) -> tuple[str, str]:
    async with pool.acquire() as conn:
        return await org_team(conn, KEY_PERMISSIONS)


def _blob_path(mesh: Mesh, sha256: str) -> Path:
    return mesh.launcher.workdir / "data" / "blobs" / "sha256" / sha256[:2] / sha256[2:4] / sha256


@contextmanager
def _altered(path: Path, at: int) -> Iterator[None]:
    """The blob with one byte flipped at `at` (its length kept), restored afterwards."""
    original = path.read_bytes()
    altered = bytearray(original)
    altered[at] ^= 0xFF
    path.write_bytes(bytes(altered))
    try:
        yield
    finally:
        path.write_bytes(original)


async def _cut_offs(mesh: Mesh) -> float:
    edge = mesh.agents[AgentName.SUPER_AGENT]
    async with aiohttp.ClientSession() as http, http.get(f"{edge.metrics_url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mno_edge_blob_digest_mismatches_total" and sample.labels == {"path": "stream"}:
                return float(sample.value)
    return 0.0


async def _download(url: str, headers: dict[str, str]) -> tuple[int, int | None, bytes, bool]:
    """Status, Content-Length, the bytes received, and whether the answer was complete."""
    received = bytearray()
    async with aiohttp.ClientSession(headers=headers) as http, http.get(url) as response:
        try:
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += chunk
            complete = True
        except aiohttp.ClientPayloadError:
            complete = False
        return response.status, response.content_length, bytes(received), complete


async def test_a_corrupted_large_wheel_is_cut_off_never_served_whole(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A 3 MiB wheel whose stored bytes changed (a byte flipped in its first and then its last 1 MiB
    read): aiohttp gets a 200 whose body stops short of Content-Length (never all of it), a Range to
    the end (a resume) a 206 cut short too, pip (which resumes) fails to install it; each cut is
    logged as an error and counted. Restored, the file downloads whole."""
    team_id, key = await _team(pool)
    name = f"big-{uuid.uuid4().hex[:8]}"
    filename, content = wheel(name, "1.0", core_metadata(name, "1.0"), payload=os.urandom(LARGE))
    assert len(content) > LARGE
    status, text = await upload_bytes(mesh.edge_url, team_id, key, name, "1.0", filename, content)
    assert status == 200, text
    sha256 = hashlib.sha256(content).hexdigest()
    url = f"{mesh.edge_url}/registry/{team_id}/pypi/files/{sha256}/{filename}"
    basic = {"Authorization": "Basic " + base64.b64encode(f"__token__:{key}".encode()).decode()}
    before = await _cut_offs(mesh)
    for at in (10, len(content) - 1):
        with _altered(_blob_path(mesh, sha256), at):
            status, length, received, complete = await _download(url, basic)
            assert status == 200
            assert length == len(content)
            assert not complete
            assert len(received) < len(content)
            # Only the last piece is held back: what came before was the (unaltered) file's start.
            if at == len(content) - 1:
                assert received == content[: len(received)]
            # A Range reaching the end of the file (a resumed download) is checked as a whole answer is.
            status, length, received, complete = await _download(url, {**basic, "Range": "bytes=5-"})
            assert (status, length) == (206, len(content) - 5)
            assert not complete
            assert len(received) < len(content) - 5
    assert await _cut_offs(mesh) == before + 4
    logged = [
        r
        for r in mesh.agents[AgentName.SUPER_AGENT].records()
        if r.get("level") == "error" and r.get("sha256") == sha256 and r.get("path") == "stream"
    ]
    assert len(logged) == 4, logged
    assert logged[0]["file"] == filename
    with _altered(_blob_path(mesh, sha256), len(content) - 1):
        # A part ending before the end cannot be checked (the digest covers all of it): as stored.
        status, _, received, complete = await _download(url, {**basic, "Range": "bytes=0-99"})
        assert (status, complete, received) == (206, True, content[:100])
        python = fresh_venv(tmp_path / "venv")
        installed = pip_install(python, index_url(mesh.edge_url, team_id, key), name)
        assert installed.returncode != 0, installed.stdout
        # pip resumes a cut download with `Range: bytes=N-`, which is checked and cut again, until
        # it gives up (never "hashes do not match": it was never handed the altered bytes whole).
        assert "incomplete-download" in installed.stderr, installed.stderr
        assert f"Successfully installed {name}" not in installed.stdout
    assert await _cut_offs(mesh) >= before + 4 + 2  # pip's first attempt and at least one resume
    status, _, received, complete = await _download(url, basic)
    assert (status, complete) == (200, True)
    assert hashlib.sha256(received).hexdigest() == sha256


async def test_a_corrupted_large_npm_tarball_is_cut_off(mesh: Mesh, pool: Any) -> None:
    """An npm tarball over 256 KiB whose stored bytes changed: npm's tarball URL answers a body cut
    short of its Content-Length, and the cut is counted."""
    team_id, key = await _team(pool)
    name = f"big-{uuid.uuid4().hex[:8]}"
    content = package_tarball(name, "1.0.0", **{"package/payload.bin": os.urandom(600_000)})
    assert len(content) > 256 * 1024
    status, answer = await put_document(
        mesh.edge_url, team_id, key, name, publish_document(name, "1.0.0", content)
    )
    assert status in (200, 201), answer
    sha256 = hashlib.sha256(content).hexdigest()
    before = await _cut_offs(mesh)
    url = f"{mesh.edge_url}/registry/{team_id}/npm/{name}/-/{name}-1.0.0.tgz"
    with _altered(_blob_path(mesh, sha256), len(content) // 2):
        status, length, received, complete = await _download(url, {"Authorization": f"Bearer {key}"})
    assert (status, length, complete) == (200, len(content), False)
    assert len(received) < len(content)
    assert await _cut_offs(mesh) == before + 1
