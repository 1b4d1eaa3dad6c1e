"""The upstream proxy for Python with its dependency-confusion guard: a real pypiserver stands for
the public index behind a team's own, pip installs through ours, against real agents, NATS and
PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.registry import store
from services.registry.python.upstream_pages import parse_project_page
from shared.db.migrations import migrate_all
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh, MeshLauncher
from tests.fixtures.stack import free_port, scratch_dir, start_nats
from tests.fixtures.teams import org_team_key
from tests.registry.peers import pypiserver
from tests.registry.pypackages import (
    fresh_venv,
    index_url,
    installed_version,
    minimal_wheel,
    pip_install,
    upload_bytes,
)

PUBLISHER = [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH, Permission.ARTIFACTS_DELETE]
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str


@dataclass(frozen=True)
class Proxied:
    mesh: Mesh
    packages: Path  # pypiserver's folder
    live: Team  # behind the running pypiserver
    down: Team  # behind an upstream nobody answers at
    plain: Team  # no upstream
    peer: Team  # behind the running pypiserver too, never publishes
    lone: Team  # behind a pypiserver of its own, which `stop_lone` stops
    lone_packages: Path  # that pypiserver's folder
    stop_lone: Callable[[], None]


async def _team(conn: Any) -> Team:
    key = await org_team_key(conn, PUBLISHER)
    team_id = await conn.fetchval(
        "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", key.split("_")[1]
    )
    return Team(str(team_id), key)


async def _teams(dsn: str) -> list[Team]:
    pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        # The agents migrate when they start, but their config needs the teams first.
        await migrate_all(pool)
        async with pool.acquire() as conn:
            return [await _team(conn) for _ in range(5)]
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[Proxied]:
    """pypiserver with public-only, shadowed (1.0 and 2.0) and to-be-tampered projects; agents of
    this module's own whose config puts it behind one team and a closed port behind another."""
    import asyncio

    packages = tmp_path_factory.mktemp("upstream-packages")
    for name, version in [
        ("pub-lib", "1.0"),
        ("shadowed", "1.0"),
        ("shadowed", "2.0"),
        ("tampered", "1.0"),
        ("counted", "1.0"),
    ]:
        filename, content = minimal_wheel(name, version)
        (packages / filename).write_bytes(content)
    lone_packages = tmp_path_factory.mktemp("lone-upstream-packages")
    filename, content = minimal_wheel("offline-lib", "1.0")
    (lone_packages / filename).write_bytes(content)
    live, down, plain, peer, lone = asyncio.run(_teams(postgres_dsn))
    with pypiserver(packages, fallback=False) as upstream, ExitStack() as lone_server:
        lone_upstream = lone_server.enter_context(pypiserver(lone_packages, fallback=False))
        upstreams = {
            "public": {"kind": "pypi", "url": f"{upstream}/simple/", "teams": [live.team_id, peer.team_id]},
            # Its project page is fresh in the agent's memory for a second only: with the server
            # stopped, the page comes from what the agent last fetched, then (after a restart) from
            # the files the team took, and the file itself can only come from our blob store.
            "lone": {
                "kind": "pypi",
                "url": f"{lone_upstream}/simple/",
                "teams": [lone.team_id],
                "cache_ttl_seconds": 1,
            },
            "gone": {
                "kind": "pypi",
                "url": f"http://127.0.0.1:{free_port()}/simple/",
                "teams": [down.team_id],
            },
        }
        with scratch_dir("mno-nats-upstream-") as nats_dir:
            nats = start_nats(nats_dir)
            launcher = MeshLauncher(
                tmp_path_factory.mktemp("upstream-mesh"),
                nats.url,
                postgres_dsn,
                overrides={"registry": {"upstreams": upstreams}},
            )
            try:
                agents = {a: launcher.start(a) for a in (AgentName.ARTIFACT_MANAGER, AgentName.SUPER_AGENT)}
                yield Proxied(
                    Mesh(launcher, agents),
                    packages,
                    live,
                    down,
                    plain,
                    peer,
                    lone,
                    lone_packages,
                    lone_server.close,
                )
            finally:
                launcher.stop_all()
                nats.stop()
                shutil.rmtree(launcher.workdir, ignore_errors=True)


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{key}".encode()).decode()}


@pytest.fixture
async def http(proxied: Proxied) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _base(proxied: Proxied, team: Team) -> str:
    return f"{proxied.mesh.edge_url}/registry/{team.team_id}/pypi"


async def _publish(proxied: Proxied, team: Team, name: str, version: str) -> bytes:
    filename, content = minimal_wheel(name, version)
    # Private bytes differ from the upstream's same-named file: one more member, a marker.
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a") as wheel:
        wheel.writestr(f"{name.replace('-', '_')}/PRIVATE", "ours\n")
    content = buffer.getvalue()
    status, text = await upload_bytes(
        proxied.mesh.edge_url, team.team_id, team.key, name, version, filename, content
    )
    assert status == 200, text
    return content


def test_pages_of_an_upstream_are_read_from_json_and_html() -> None:
    """PEP 691 JSON and PEP 503 HTML pages give the same files, absolute URLs; unhashed files dropped."""
    digest = "ab" * 32
    html = (
        f'<a href="/packages/a-1.0-py3-none-any.whl#sha256={digest}" data-requires-python="&gt;=3.9">x</a>'
        '<a href="/packages/a-0.9.tar.gz">unverifiable</a>'
    )
    document = {
        "meta": {"api-version": "1.0"},
        "files": [
            {
                "filename": "a-1.0-py3-none-any.whl",
                "url": "/packages/a-1.0-py3-none-any.whl",
                "hashes": {"sha256": digest},
                "requires-python": ">=3.9",
            },
            {"filename": "a-0.9.tar.gz", "url": "x", "hashes": {"md5": "0" * 32}},
        ],
    }
    page = "http://up.example/simple/a/"
    from_html = parse_project_page(html, "text/html", page)
    from_json = parse_project_page(json.dumps(document), "application/vnd.pypi.simple.v1+json", page)
    assert from_html == from_json
    assert [(f.url, f.sha256, f.requires_python) for f in from_json] == [
        ("http://up.example/packages/a-1.0-py3-none-any.whl", digest, ">=3.9")
    ]


async def test_pip_installs_a_public_package_through_the_team_index(proxied: Proxied, tmp_path: Path) -> None:
    """A name the team never published installs from the upstream, and its file is then in our blob store."""
    python = fresh_venv(tmp_path / "venv")
    result = pip_install(
        python, index_url(proxied.mesh.edge_url, proxied.live.team_id, proxied.live.key), "pub-lib"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version(python, "pub_lib") == "1.0"
    digest = hashlib.sha256((proxied.packages / "pub_lib-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    blobs = proxied.mesh.launcher.workdir / "data" / "blobs"
    assert digest in {p.name for p in blobs.rglob("*") if p.is_file()}


async def test_a_cached_file_installs_with_the_upstream_stopped(
    proxied: Proxied, http: aiohttp.ClientSession, tmp_path: Path, postgres_dsn: str
) -> None:
    """Once pip installed an upstream-only project through the team index, its file is served from our
    blob store: with the upstream's server stopped (and the file gone from its folder), pip installs it
    into a fresh venv again, from the upstream's last page once that page is stale, and again after the
    ArtifactManager restarted (no page held: the page lists the files the team took), each checked
    against the upstream file's SHA-256, and every download is counted."""
    team = proxied.lone
    index = index_url(proxied.mesh.edge_url, team.team_id, team.key)
    first = fresh_venv(tmp_path / "first")
    result = pip_install(first, index, "offline-lib")
    assert result.returncode == 0, result.stdout + result.stderr
    upstream_file = proxied.lone_packages / "offline_lib-1.0-py3-none-any.whl"
    digest = hashlib.sha256(upstream_file.read_bytes()).hexdigest()
    async with http.get(f"{_base(proxied, team)}/simple/offline-lib/", headers=_basic(team.key)) as response:
        assert f"#sha256={digest}" in await response.text()
    proxied.stop_lone()
    upstream_file.unlink()  # nothing could serve it, even a server started again on that folder
    await asyncio.sleep(1.5)  # the agent's page of it is stale now: asking the upstream fails
    second = fresh_venv(tmp_path / "second")
    result = pip_install(second, index, "offline-lib")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version(second, "offline_lib") == "1.0"
    installed = second.parent.parent / "lib"
    assert list(installed.rglob("offline_lib-1.0.dist-info"))
    manager = proxied.mesh.agents[AgentName.ARTIFACT_MANAGER]
    manager.stop()
    proxied.mesh.agents[AgentName.ARTIFACT_MANAGER] = proxied.mesh.launcher.start(AgentName.ARTIFACT_MANAGER)
    third = fresh_venv(tmp_path / "third")
    result = pip_install(third, index, "offline-lib")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version(third, "offline_lib") == "1.0"
    async with http.get(f"{_base(proxied, team)}/simple/offline-lib/", headers=_basic(team.key)) as response:
        assert f"#sha256={digest}" in await response.text()
    pool = await create_pool(postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:
            downloads = await conn.fetchval(
                "SELECT downloads FROM artifact_manager.upstream_files "
                "WHERE team_id = $1::uuid AND sha256 = $2",
                team.team_id,
                digest,
            )
    finally:
        await pool.close()
    assert downloads == 3


async def test_a_private_package_shadows_every_upstream_file_of_its_name(
    proxied: Proxied, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Publishing a name that exists upstream is allowed; then pip gets ours only, never the upstream's
    2.0 (a version ours lacks), and the upstream's file URL is refused."""
    team = proxied.live
    base = _base(proxied, team)
    async with http.get(f"{base}/simple/shadowed/", headers={**JSON, **_basic(team.key)}) as response:
        before = await response.json(content_type=None)
    assert sorted(before["versions"]) == ["1.0", "2.0"]
    ours = await _publish(proxied, team, "shadowed", "1.0")
    async with http.get(f"{base}/simple/shadowed/", headers={**JSON, **_basic(team.key)}) as response:
        after = await response.json(content_type=None)
    assert after["versions"] == ["1.0"]
    assert [f["hashes"]["sha256"] for f in after["files"]] == [hashlib.sha256(ours).hexdigest()]
    upstream_two = next(f for f in before["files"] if f["filename"].startswith("shadowed-2.0"))
    async with http.get(
        f"{base}/simple/shadowed/{upstream_two['url']}", headers=_basic(team.key)
    ) as response:
        assert response.status == 404
    python = fresh_venv(tmp_path / "venv")
    index = index_url(proxied.mesh.edge_url, team.team_id, team.key)
    assert pip_install(python, index, "shadowed==2.0").returncode != 0
    result = pip_install(python, index, "shadowed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version(python, "shadowed") == "1.0"
    assert list((python.parent.parent / "lib").rglob("shadowed/PRIVATE"))
    upstream_one = next(f for f in before["files"] if f["filename"].startswith("shadowed-1.0"))
    assert upstream_one["hashes"]["sha256"] != hashlib.sha256(ours).hexdigest()


async def test_an_unreachable_upstream_is_a_clear_error_and_private_names_still_work(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """Behind a closed port, an upstream-only name is a 503 naming the upstream; a private one serves."""
    team = proxied.down
    await _publish(proxied, team, "own-lib", "1.0")
    base = _base(proxied, team)
    async with http.get(f"{base}/simple/pub-lib/", headers=_basic(team.key)) as response:
        assert response.status == 503
        assert "upstream_unavailable" in await response.text()
        assert "gone" in (response.reason or "")
    async with http.get(f"{base}/simple/own-lib/", headers=_basic(team.key)) as response:
        assert response.status == 200


async def test_a_tampered_upstream_file_is_refused_and_not_kept(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """An upstream file whose bytes no longer match the SHA-256 its page listed is refused, not stored."""
    team = proxied.live
    base = _base(proxied, team)
    async with http.get(f"{base}/simple/tampered/", headers={**JSON, **_basic(team.key)}) as response:
        page = await response.json(content_type=None)
    (entry,) = page["files"]
    path = proxied.packages / entry["filename"]
    path.write_bytes(path.read_bytes() + b"\0")
    async with http.get(f"{base}/simple/tampered/{entry['url']}", headers=_basic(team.key)) as response:
        assert response.status == 503
        assert "upstream_digest_mismatch" in await response.text()
    blobs = proxied.mesh.launcher.workdir / "data" / "blobs"
    assert entry["hashes"]["sha256"] not in {p.name for p in blobs.rglob("*") if p.is_file()}


async def test_only_the_configured_team_sees_the_upstream(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """A team without an upstream gets 404 for a public name (even one another team cached); another
    team's index is 404 for the proxied team's key."""
    await test_page_is_listed(proxied, http)
    plain = proxied.plain
    async with http.get(f"{_base(proxied, plain)}/simple/pub-lib/", headers=_basic(plain.key)) as response:
        assert response.status == 404
    async with http.get(
        f"{_base(proxied, plain)}/simple/pub-lib/", headers=_basic(proxied.live.key)
    ) as response:
        assert response.status == 404


async def test_page_is_listed(proxied: Proxied, http: aiohttp.ClientSession) -> None:
    """The proxied team's page of an upstream-only name lists the upstream's file with its digest."""
    team = proxied.live
    async with http.get(f"{_base(proxied, team)}/simple/pub-lib/", headers=_basic(team.key)) as response:
        assert response.status == 200
        text = await response.text()
    digest = hashlib.sha256((proxied.packages / "pub_lib-1.0-py3-none-any.whl").read_bytes()).hexdigest()
    assert f"#sha256={digest}" in text


async def test_upstream_downloads_are_counted_per_team(
    proxied: Proxied, http: aiohttp.ClientSession, postgres_dsn: str
) -> None:
    """Each download of an upstream file is counted in the team's row of it (as a private file's are),
    the first fetch and the ones served from the blob store alike; the row keeps the blob referenced."""
    team = proxied.live
    base = _base(proxied, team)
    async with http.get(f"{base}/simple/counted/", headers={**JSON, **_basic(team.key)}) as response:
        page = await response.json(content_type=None)
    (entry,) = page["files"]
    for _ in range(3):
        async with http.get(f"{base}/simple/counted/{entry['url']}", headers=_basic(team.key)) as response:
            assert response.status == 200
            await response.read()
    pool = await create_pool(postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT team_id::text AS team_id, ecosystem, name, version, sha256, downloads "
                "FROM artifact_manager.upstream_files WHERE filename = $1",
                entry["filename"],
            )
            referenced = await store.blob_referenced(conn, entry["hashes"]["sha256"])
    finally:
        await pool.close()
    assert [dict(r) for r in rows] == [
        {
            "team_id": team.team_id,
            "ecosystem": "pypi",
            "name": "counted",
            "version": "1.0",
            "sha256": entry["hashes"]["sha256"],
            "downloads": 3,
        }
    ]
    assert referenced


async def test_a_deleted_private_name_stays_private_to_the_team(
    proxied: Proxied, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """After the team deletes its package `shadowed`, its page is 404 and pip cannot install the
    upstream's `shadowed` (no dependency confusion); a team that never published it gets the upstream's."""
    team = proxied.live
    base = _base(proxied, team)
    await _publish(proxied, team, "shadowed", "3.0")  # another test may have published 1.0 already
    api = f"{proxied.mesh.edge_url}/api/v1/registry/packages/pypi/shadowed"
    async with http.delete(api, headers={"Authorization": f"Bearer {team.key}"}) as response:
        assert response.status == 200, await response.text()
    for media in (JSON, {}):
        async with http.get(f"{base}/simple/shadowed/", headers={**media, **_basic(team.key)}) as response:
            assert response.status == 404, await response.text()
    async with http.get(f"{base}/simple/Shadowed/", headers=_basic(team.key)) as response:
        assert response.status == 404
    upstream_file = proxied.packages / "shadowed-2.0-py3-none-any.whl"
    digest = hashlib.sha256(upstream_file.read_bytes()).hexdigest()
    async with http.get(f"{base}/files/{digest}/{upstream_file.name}", headers=_basic(team.key)) as response:
        assert response.status == 404
    python = fresh_venv(tmp_path / "venv")
    result = pip_install(python, index_url(proxied.mesh.edge_url, team.team_id, team.key), "shadowed")
    assert result.returncode != 0, result.stdout
    peer = proxied.peer
    async with http.get(
        f"{_base(proxied, peer)}/simple/shadowed/", headers={**JSON, **_basic(peer.key)}
    ) as response:
        assert response.status == 200
        page = await response.json(content_type=None)
    assert sorted(page["versions"]) == ["1.0", "2.0"]
    result = pip_install(python, index_url(proxied.mesh.edge_url, peer.team_id, peer.key), "shadowed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert installed_version(python, "shadowed") == "2.0"
