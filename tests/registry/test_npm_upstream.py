"""The npm upstream proxy and its dependency-confusion guard: a real Verdaccio (offline, no uplinks)
stands for the public registry behind a team's own, the real npm CLI installs through ours, against
real agents, NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.identity import apikeys
from services.registry import store, upstream_store
from shared.db.migrations import migrate_all
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.artifacts import Ecosystem
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh, MeshLauncher
from tests.fixtures.stack import free_port, scratch_dir, start_nats
from tests.registry.npmpackages import (
    NPM,
    npm,
    package_tarball,
    publish_document,
    put_document,
    registry_url,
    write_npmrc,
)
from tests.registry.peers import verdaccio
from tests.registry.test_npm_registry import _consumer, _installed
from tests.registry.test_python_registry import Team, _team

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed")

# Upstream packages: (name, version); each tarball carries a marker naming where it came from.
UPSTREAM_PACKAGES = [
    ("pub-left", "1.0.0"),
    ("pub-cached", "1.0.0"),
    ("shadowed", "1.0.0"),
    ("shadowed", "2.0.0"),
    ("tampered", "1.0.0"),
    ("@acme/tool", "1.0.0"),
    ("@other/tool", "1.0.0"),
    ("once-ours", "1.0.0"),
    ("young-lib", "1.0.0"),
    ("young-lib", "2.0.0"),
]
# Dated back in the upstream's `time` map (Verdaccio dates a version when it is published): old enough
# for any quarantine the tests set, while young-lib 2.0.0 is minutes old.
BACKDATED = {"young-lib": {"1.0.0": "2020-01-01T00:00:00.000Z"}}


@dataclass(frozen=True)
class Proxied:
    mesh: Mesh
    upstream_url: str
    storage: Path  # Verdaccio's
    live: Team  # behind the running Verdaccio
    down: Team  # behind an upstream nobody answers at
    plain: Team  # no upstream
    careful: Team  # behind the running Verdaccio, may set its download policy (`policy_key`)
    policy_key: str


def _tarball(name: str, version: str, origin: str) -> bytes:
    return package_tarball(name, version, **{"package/ORIGIN": origin.encode()})


async def _put(url: str, name: str, document: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{url}/{name.replace('/', '%2f')}", json=document) as response:
            assert response.status in (200, 201), await response.text()


async def _teams(dsn: str) -> tuple[list[Team], str]:
    """Four teams, and a key that may set the last one's download policy (its organisation on the
    `local` plan, which has supply_chain)."""
    pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        # The agents migrate when they start, but their config needs the teams first.
        await migrate_all(pool)
        teams = [await _team(pool) for _ in range(4)]
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "SELECT a.github_id, a.id, 'active', 'local', '{}'::jsonb FROM super_agent.accounts a "
                "JOIN super_agent.teams t ON t.account_id = a.id WHERE t.id = $1::uuid",
                teams[-1].team_id,
            )
            _, policy_key = await apikeys.create(
                conn,
                team_id=teams[-1].team_id,
                name="policy",
                permissions=[Permission.SUPPLY_CHAIN_READ, Permission.SUPPLY_CHAIN_POLICY],
                created_by=None,
            )
        return teams, str(policy_key)
    finally:
        await pool.close()


def _backdate(storage: Path) -> None:
    """Sets the `time` of the BACKDATED versions in Verdaccio's stored packuments."""
    for name, times in BACKDATED.items():
        path = storage / name / "package.json"
        document = json.loads(path.read_text())
        document["time"].update(times)
        path.write_text(json.dumps(document))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[Proxied]:
    """Verdaccio holding the upstream packages; agents of this module's own (the SupplyChainAgent for
    download policies) whose config puts it behind two teams and a closed port behind another."""
    (live, down, plain, careful), policy_key = asyncio.run(_teams(postgres_dsn))
    peer_dir = tmp_path_factory.mktemp("verdaccio")
    with verdaccio(peer_dir) as upstream:

        async def seed() -> None:
            for name, version in UPSTREAM_PACKAGES:
                await _put(
                    upstream, name, publish_document(name, version, _tarball(name, version, "upstream"))
                )

        asyncio.run(seed())
        _backdate(peer_dir / "storage")
        upstreams = {
            # Packuments are asked again after a second, so a test can see an upstream change.
            "public": {
                "kind": "npm",
                "url": upstream,
                "teams": [live.team_id, careful.team_id],
                "cache_ttl_seconds": 1,
            },
            "gone": {"kind": "npm", "url": f"http://127.0.0.1:{free_port()}", "teams": [down.team_id]},
        }
        with scratch_dir("mno-nats-npm-upstream-") as nats_dir:
            nats = start_nats(nats_dir)
            launcher = MeshLauncher(
                tmp_path_factory.mktemp("npm-upstream-mesh"),
                nats.url,
                postgres_dsn,
                overrides={"registry": {"upstreams": upstreams}},
            )
            try:
                started = (AgentName.ARTIFACT_MANAGER, AgentName.SUPPLY_CHAIN, AgentName.SUPER_AGENT)
                agents = {a: launcher.start(a) for a in started}
                yield Proxied(
                    Mesh(launcher, agents),
                    upstream,
                    peer_dir / "storage",
                    live,
                    down,
                    plain,
                    careful,
                    policy_key,
                )
            finally:
                launcher.stop_all()
                nats.stop()
                shutil.rmtree(launcher.workdir, ignore_errors=True)


@pytest.fixture
async def pool(proxied: Proxied, postgres_dsn: str) -> AsyncIterator[Any]:
    pool = await create_pool(postgres_dsn, min_size=1, max_size=2, command_timeout=10)
    try:
        yield pool
    finally:
        await pool.close()


def _rc(folder: Path, proxied: Proxied, team: Team, key: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_npmrc(folder, proxied.mesh.edge_url, team.team_id, key or team.key)


def _blobs(proxied: Proxied) -> set[str]:
    root = proxied.mesh.launcher.workdir / "data" / "blobs"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _upstream_file(proxied: Proxied, name: str, version: str) -> Path:
    return proxied.storage / name / f"{name.split('/')[-1]}-{version}.tgz"


async def _get(
    proxied: Proxied, team: Team, path: str, *, key: str | None = None, accept: str = "application/json"
) -> tuple[int, Any]:
    url = registry_url(proxied.mesh.edge_url, team.team_id) + path
    headers = {"Authorization": f"Bearer {key or team.key}", "Accept": accept}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url) as response:
            body = await response.read()
            try:
                return response.status, json.loads(body)
            except ValueError:
                return response.status, body


async def _downloads(pool: Any, team: Team, filename: str) -> int | None:
    async with pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT downloads FROM artifact_manager.upstream_files "
            "WHERE team_id = $1::uuid AND filename = $2",
            team.team_id,
            filename,
        )
    return None if count is None else int(count)


async def test_npm_installs_a_public_package_through_the_team_registry(
    proxied: Proxied, pool: Any, tmp_path: Path
) -> None:
    """An upstream-only name installs with a read-only key: the lock file resolves it at our URL with
    the upstream's integrity, its tarball is in our blob store and its download counted."""
    team = proxied.live
    app = _consumer(tmp_path, {"pub-left": "^1.0.0"})
    result = npm(["install"], app, _rc(tmp_path / "rc", proxied, team, team.read_key))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(app, "pub-left") == "1.0.0"
    assert (app / "node_modules" / "pub-left" / "ORIGIN").read_text() == "upstream"
    content = _upstream_file(proxied, "pub-left", "1.0.0").read_bytes()
    entry = json.loads((app / "package-lock.json").read_text())["packages"]["node_modules/pub-left"]
    assert (
        entry["resolved"]
        == registry_url(proxied.mesh.edge_url, team.team_id) + "pub-left/-/pub-left-1.0.0.tgz"
    )
    assert entry["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()
    assert hashlib.sha256(content).hexdigest() in _blobs(proxied)
    assert await _downloads(pool, team, "pub-left-1.0.0.tgz") == 1


async def test_a_cached_tarball_is_served_without_the_upstream(
    proxied: Proxied, pool: Any, tmp_path: Path
) -> None:
    """Once fetched, a tarball comes from our blob store: gone from the upstream, a second install
    into a fresh folder with a fresh npm cache still gets it, and the download is counted again."""
    team = proxied.live
    first = _consumer(tmp_path, {"pub-cached": "1.0.0"})
    assert npm(["install"], first, _rc(tmp_path / "rc1", proxied, team)).returncode == 0
    _upstream_file(proxied, "pub-cached", "1.0.0").unlink()
    second = _consumer(tmp_path, {"pub-cached": "1.0.0"})
    result = npm(["install"], second, _rc(tmp_path / "rc2", proxied, team))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (second / "node_modules" / "pub-cached" / "ORIGIN").read_text() == "upstream"
    assert await _downloads(pool, team, "pub-cached-1.0.0.tgz") == 2


async def test_a_private_package_shadows_every_upstream_version_of_its_name(
    proxied: Proxied, tmp_path: Path
) -> None:
    """Publishing a name the upstream has is allowed; from then on the packument is ours only (never
    the upstream's 2.0.0, a version ours lacks), the upstream's tarball URL is a 404, and npm installs
    the private bytes."""
    team = proxied.live
    status, before = await _get(proxied, team, "shadowed")
    assert status == 200
    assert sorted(before["versions"]) == ["1.0.0", "2.0.0"]
    ours = _tarball("shadowed", "1.0.0", "private")
    status, body = await put_document(
        proxied.mesh.edge_url, team.team_id, team.key, "shadowed", publish_document("shadowed", "1.0.0", ours)
    )
    assert status == 201, body
    status, after = await _get(proxied, team, "shadowed")
    assert sorted(after["versions"]) == ["1.0.0"]
    assert after["versions"]["1.0.0"]["dist"]["shasum"] == hashlib.sha1(ours).hexdigest()
    status, _ = await _get(proxied, team, "shadowed/-/shadowed-2.0.0.tgz")
    assert status == 404
    rc = _rc(tmp_path / "rc", proxied, team)
    assert npm(["install"], _consumer(tmp_path, {"shadowed": "2.0.0"}), rc).returncode != 0
    app = _consumer(tmp_path, {"shadowed": "*"})
    result = npm(["install"], app, rc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (app / "node_modules" / "shadowed" / "ORIGIN").read_text() == "private"


async def test_a_scope_the_team_publishes_in_is_never_taken_from_the_upstream(proxied: Proxied) -> None:
    """Once the team publishes any @acme package, no @acme name (not even one it never published)
    comes from the upstream, packument or tarball; another scope still does."""
    team = proxied.live
    assert (await _get(proxied, team, "@acme%2ftool"))[0] == 200
    document = publish_document("@acme/own", "1.0.0", _tarball("@acme/own", "1.0.0", "private"))
    status, body = await put_document(proxied.mesh.edge_url, team.team_id, team.key, "@acme/own", document)
    assert status == 201, body
    for path in ("@acme%2ftool", "@acme/tool", "@acme/tool/-/tool-1.0.0.tgz"):
        status, body = await _get(proxied, team, path)
        assert status == 404, path
        assert body["code"] == "not_found"
    assert (await _get(proxied, team, "@other/tool"))[0] == 200
    status, content = await _get(proxied, team, "@other/tool/-/tool-1.0.0.tgz")
    assert status == 200
    assert content == _upstream_file(proxied, "@other/tool", "1.0.0").read_bytes()


async def test_a_tarball_that_fails_its_integrity_is_refused_and_not_kept(
    proxied: Proxied, pool: Any, tmp_path: Path
) -> None:
    """An upstream tarball whose bytes no longer match its packument's integrity is a 503 in npm's
    JSON shape naming the mismatch; npm install fails, and nothing of it is in the blob store or
    the cache table."""
    team = proxied.live
    path = _upstream_file(proxied, "tampered", "1.0.0")
    tampered = path.read_bytes() + b"\0"
    path.write_bytes(tampered)
    status, body = await _get(proxied, team, "tampered/-/tampered-1.0.0.tgz")
    assert status == 503
    assert body["error"].startswith("upstream_digest_mismatch:")
    app = _consumer(tmp_path, {"tampered": "1.0.0"})
    rc = _rc(tmp_path / "rc", proxied, team)
    # npm retries a 5xx twice, 10 s then 60 s apart: the same refusal a minute later proves nothing.
    rc.write_text(rc.read_text() + "fetch-retries=0\n")
    result = npm(["install"], app, rc)
    assert result.returncode != 0
    assert "upstream_digest_mismatch" in result.stdout + result.stderr
    assert hashlib.sha256(tampered).hexdigest() not in _blobs(proxied)
    assert await _downloads(pool, team, "tampered-1.0.0.tgz") is None


async def test_upstream_errors_are_clear_npm_errors(proxied: Proxied) -> None:
    """A name the upstream lacks is a 404; an upstream nobody answers at is a 503 naming it, while the
    team's private names still serve; a team without an upstream gets 404 for a public name."""
    status, body = await _get(proxied, proxied.live, "no-such-package-anywhere")
    assert (status, body["code"]) == (404, "not_found")
    down = proxied.down
    own = publish_document("own-lib", "1.0.0", _tarball("own-lib", "1.0.0", "private"))
    status, _ = await put_document(proxied.mesh.edge_url, down.team_id, down.key, "own-lib", own)
    assert status == 201
    status, body = await _get(proxied, down, "pub-left")
    assert status == 503
    assert body["error"].startswith("upstream_unavailable:")
    assert "gone" in body["error"]
    status, body = await _get(proxied, down, "pub-left/-/pub-left-1.0.0.tgz")
    assert status == 503
    assert (await _get(proxied, down, "own-lib"))[0] == 200
    plain = proxied.plain
    assert (await _get(proxied, plain, "pub-left"))[0] == 404
    assert (await _get(proxied, plain, "pub-left/-/pub-left-1.0.0.tgz"))[0] == 404
    # Another team's registry is a 404 for the proxied team's key (no existence leak).
    assert (await _get(proxied, plain, "pub-left", key=proxied.live.key))[0] == 404


async def test_a_packument_too_large_for_a_message_is_streamed_from_the_blob_store(
    proxied: Proxied, pool: Any
) -> None:
    """An upstream packument past a bus message's size (a 1.2 MB description) is served whole through
    the blob store; when the upstream's document changes, the new one replaces it there and the old
    blob is removed. The abbreviated form, small, still comes in the reply."""
    team = proxied.live
    description = "long " * 240_000
    name = "big-doc"
    stored: list[str] = []
    for version in ("1.0.0", "1.1.0"):
        if version == "1.1.0":
            await asyncio.sleep(1.5)  # past the module's packument TTL
        content = _tarball(name, version, "upstream")
        await _put(
            proxied.upstream_url, name, publish_document(name, version, content, description=description)
        )
        status, document = await _get(proxied, team, name)
        assert status == 200
        assert document["versions"][version]["description"] == description
        assert document["versions"][version]["dist"]["tarball"] == (
            registry_url(proxied.mesh.edge_url, team.team_id) + f"{name}/-/{name}-{version}.tgz"
        )
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT sha256 FROM artifact_manager.upstream_documents "
                "WHERE team_id = $1::uuid AND name = $2",
                team.team_id,
                name,
            )
        assert len(rows) == 1
        assert rows[0]["sha256"] in _blobs(proxied)
        stored.append(rows[0]["sha256"])
    first, second = stored
    assert second != first
    assert first not in _blobs(proxied)
    status, short = await _get(proxied, team, name, accept="application/vnd.npm.install-v1+json")
    assert status == 200
    assert sorted(short["versions"]) == ["1.0.0", "1.1.0"]
    assert "description" not in short["versions"]["1.0.0"]


async def test_a_name_the_team_unpublished_stays_the_teams(proxied: Proxied, tmp_path: Path) -> None:
    """After `npm unpublish --force` removes every version of a private package, its name is still
    not served from the upstream (someone could have published it there meanwhile)."""
    team = proxied.live
    document = publish_document("once-ours", "1.0.0", _tarball("once-ours", "1.0.0", "private"))
    status, body = await put_document(proxied.mesh.edge_url, team.team_id, team.key, "once-ours", document)
    assert status == 201, body
    folder = tmp_path / "work"
    folder.mkdir()
    result = npm(["unpublish", "once-ours", "--force"], folder, _rc(tmp_path / "rc", proxied, team))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in ("once-ours", "once-ours/-/once-ours-1.0.0.tgz"):
        status, body = await _get(proxied, team, path)
        assert status == 404, path
        assert body["code"] == "not_found"


async def test_cached_upstream_rows_keep_their_blobs_and_go_with_their_team(pool: Any) -> None:
    """A cached file or stored document keeps its blob from being removed as unreferenced, and
    purging the team removes both kinds of row (and with them that reference)."""
    team_id = str(uuid.uuid4())
    file_digest, document_digest = hashlib.sha256(b"file").hexdigest(), hashlib.sha256(b"doc").hexdigest()
    async with pool.acquire() as conn:
        await upstream_store.record_file(
            conn,
            team_id,
            Ecosystem.NPM,
            "public",
            name="x",
            version="1.0.0",
            filename="x-1.0.0.tgz",
            sha256=file_digest,
            size=4,
            upstream_digest="0" * 40,
        )
        await upstream_store.replace_document(
            conn, team_id, Ecosystem.NPM, "public", name="x", form="full", sha256=document_digest, size=3
        )
        assert await store.blob_referenced(conn, file_digest)
        assert await store.blob_referenced(conn, document_digest)
        assert await store.purge_teams(conn, [team_id]) == 2
        assert not await store.blob_referenced(conn, file_digest)
        assert not await store.blob_referenced(conn, document_digest)


async def _set_quarantine(proxied: Proxied, days: int) -> None:
    url = f"{proxied.mesh.edge_url}/api/v1/supply-chain/policy"
    headers = {"Authorization": f"Bearer {proxied.policy_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.put(url, json={"quarantine_days": days}) as response:
            assert response.status == 200, await response.text()


async def test_a_quarantine_hides_young_upstream_versions_from_its_team_only(
    proxied: Proxied, pool: Any, tmp_path: Path
) -> None:
    """With a 3-day quarantine set through the policy API, the upstream's minutes-old young-lib 2.0.0
    leaves the team's packument (full and abbreviated, `time` too) and `latest` moves to 1.0.0 (dated
    2020 upstream); npm install gets 1.0.0; the 2.0.0 tarball is a 403 saying it is quarantined and
    nothing is fetched; a team without quarantine still gets 2.0.0."""
    careful, corgi = proxied.careful, "application/vnd.npm.install-v1+json"
    status, before = await _get(proxied, careful, "young-lib")
    assert (status, before["dist-tags"]["latest"]) == (200, "2.0.0"), before
    await _set_quarantine(proxied, 3)
    # The policy reaches the registry as an event: soon, not at once.
    deadline = asyncio.get_running_loop().time() + 60
    while "2.0.0" in before["versions"]:
        assert asyncio.get_running_loop().time() < deadline, "the quarantine never applied"
        await asyncio.sleep(0.2)
        status, before = await _get(proxied, careful, "young-lib")
    full = before
    assert (status, sorted(full["versions"]), full["dist-tags"]) == (200, ["1.0.0"], {"latest": "1.0.0"})
    assert "2.0.0" not in full["time"]
    assert full["time"]["1.0.0"].startswith("2020-01-01")
    status, short = await _get(proxied, careful, "young-lib", accept=corgi)
    assert (status, sorted(short["versions"]), short["dist-tags"]) == (200, ["1.0.0"], {"latest": "1.0.0"})

    app = _consumer(tmp_path, {})
    result = npm(["install", "young-lib"], app, _rc(tmp_path / "rc", proxied, careful))
    assert result.returncode == 0, result.stdout + result.stderr
    assert _installed(app, "young-lib") == "1.0.0"

    status, refused = await _get(proxied, careful, "young-lib/-/young-lib-2.0.0.tgz")
    assert status == 403, refused
    assert refused["error"].startswith("quarantined: young-lib 2.0.0 is new upstream"), refused
    assert await _downloads(pool, careful, "young-lib-2.0.0.tgz") is None
    assert await _downloads(pool, careful, "young-lib-1.0.0.tgz") == 1

    live = proxied.live
    for accept in ("application/json", corgi):
        status, seen = await _get(proxied, live, "young-lib", accept=accept)
        assert (status, sorted(seen["versions"]), seen["dist-tags"]["latest"]) == (
            200,
            ["1.0.0", "2.0.0"],
            "2.0.0",
        )
    status, content = await _get(proxied, live, "young-lib/-/young-lib-2.0.0.tgz")
    assert status == 200
    assert content == _upstream_file(proxied, "young-lib", "2.0.0").read_bytes()
