"""The Python registry end to end: real twine and pip against the session's mesh (every agent a real
process, real NATS and PostgreSQL, blobs on the filesystem), and once more with moto's S3 server."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import asyncpg
import boto3
import pytest
from packaging.utils import canonicalize_name

from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh
from tests.fixtures.s3 import S3Endpoint
from tests.fixtures.teams import org_team_key
from tests.registry.meshes import s3_registry_mesh
from tests.registry.pypackages import (
    big_wheel,
    build_project,
    fresh_venv,
    index_url,
    installed_version,
    minimal_wheel,
    pip_install,
    twine_upload,
    upload_bytes,
)

READ_ONLY = [Permission.ARTIFACTS_READ]
PUBLISHER = [
    Permission.ARTIFACTS_READ,
    Permission.ARTIFACTS_PUBLISH,
    Permission.ARTIFACTS_YANK,
    Permission.ARTIFACTS_DELETE,
]


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str  # may publish, yank and delete
    read_key: str  # a CI key: artifacts:read only


async def _team(pool: Any) -> Team:
    async with pool.acquire() as conn:
        key = await org_team_key(conn, PUBLISHER)
        team_id = str(
            await conn.fetchval(
                "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", key.split("_")[1]
            )
        )
        read_key = await _key(conn, team_id, READ_ONLY)
    return Team(team_id, key, read_key)


async def _key(conn: asyncpg.Connection, team_id: str, permissions: list[Permission]) -> str:
    from services.identity import apikeys

    _, token = await apikeys.create(
        conn, team_id=team_id, name=f"k-{uuid.uuid4().hex[:6]}", permissions=permissions, created_by=None
    )
    return str(token)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The distributions every test of the module uploads (built once: `build` takes seconds)."""
    work = tmp_path_factory.mktemp("dists")
    return {
        "lib-1.0": build_project(work, "Acme-Lib", "1.0"),
        "lib-1.1": build_project(work, "Acme-Lib", "1.1", sdist=False),
        "app-0.1": build_project(work, "acme_app", "0.1", dependencies=("acme-lib>=1.0",), sdist=False),
    }


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"__token__:{key}".encode()).decode()}


def _blob_files(root: Path) -> set[str]:
    return {p.name for p in (root / "sha256").rglob("*") if p.is_file()} if root.exists() else set()


async def _file_rows(pool: Any, team_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT filename FROM artifact_manager.files WHERE team_id = $1::uuid ORDER BY filename", team_id
        )
    return [r["filename"] for r in rows]


async def test_twine_uploads_and_pip_installs_from_the_team_index(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A wheel and an sdist uploaded with twine (`__token__` + key) install with pip into a fresh venv
    from the team's simple index, dependencies resolved from it too; a read-only key installs."""
    team = await _team(pool)
    result = twine_upload(mesh.edge_url, team.team_id, team.key, [*built["lib-1.0"], *built["app-0.1"]])
    assert result.returncode == 0, result.stdout + result.stderr
    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, index_url(mesh.edge_url, team.team_id, team.read_key), "acme-app")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed_version(python, "acme_lib") == "1.0"
    assert installed_version(python, "acme_app") == "0.1"
    assert sorted(await _file_rows(pool, team.team_id)) == sorted(
        p.name for p in [*built["lib-1.0"], *built["app-0.1"]]
    )
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        search = f"{mesh.edge_url}/api/v1/registry/packages"
        async with http.get(search, params={"depends_on": "Acme_Lib", "ecosystem": "pypi"}) as response:
            dependents = await response.json()
        # Without an ecosystem, the name is read in each ecosystem's form.
        async with http.get(search, params={"depends_on": "ACME.lib"}) as response:
            any_ecosystem = await response.json()
        async with http.get(search, params={"license": "mit", "limit": "1"}) as response:
            first_page = await response.json()
    assert [p["name"] for p in dependents["items"]] == ["acme-app"]
    assert [p["name"] for p in any_ecosystem["items"]] == ["acme-app"]
    assert first_page["total"] == 2
    assert first_page["next_offset"] == 1


async def test_simple_pages_negotiate_and_serve_metadata_and_ranges(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """PEP 691 JSON by Accept (hashes, core-metadata, size, upload-time, versions), PEP 503 HTML
    otherwise, a redirect for another spelling; the file with ETag, Range and 304; the PEP 658 file."""
    team = await _team(pool)
    assert twine_upload(mesh.edge_url, team.team_id, team.key, built["lib-1.0"]).returncode == 0
    wheel = next(p for p in built["lib-1.0"] if p.suffix == ".whl")
    base = f"{mesh.edge_url}/registry/{team.team_id}/pypi"
    async with aiohttp.ClientSession(headers=_basic(team.read_key)) as http:
        async with http.get(
            f"{base}/simple/acme-lib/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ) as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.pypi.simple.v1+json"
            page = json.loads(await response.text())
        assert page["versions"] == ["1.0"]
        assert page["meta"]["api-version"] == "1.1"
        entry = next(f for f in page["files"] if f["filename"] == wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert entry["hashes"] == {"sha256": digest}
        assert entry["size"] == wheel.stat().st_size
        assert entry["requires-python"] == ">=3.9"
        assert "upload-time" in entry
        # The key as the URL's user name with no password (`http://<key>@host/...`) is taken too.
        key_as_user = {"Authorization": "Basic " + base64.b64encode(f"{team.read_key}:".encode()).decode()}
        async with http.get(f"{base}/simple/acme-lib/", headers=key_as_user) as response:
            assert response.status == 200
        async with http.get(f"{base}/simple/Acme_Lib/", allow_redirects=False) as response:
            assert response.status == 301
            assert response.headers["Location"].endswith("/acme-lib/")
        async with http.get(f"{base}/simple/acme-lib/") as response:
            html = await response.text()
            assert response.content_type == "text/html"
            assert f"#sha256={digest}" in html
        file_url = f"{base}/simple/acme-lib/{entry['url']}"
        async with http.get(file_url) as response:
            assert response.status == 200
            assert await response.read() == wheel.read_bytes()
            assert response.headers["ETag"] == f'"{digest}"'
        async with http.get(file_url, headers={"Range": "bytes=0-9"}) as response:
            assert response.status == 206
            assert await response.read() == wheel.read_bytes()[:10]
            assert response.headers["Content-Range"] == f"bytes 0-9/{wheel.stat().st_size}"
        async with http.get(file_url, headers={"If-None-Match": f'"{digest}"'}) as response:
            assert response.status == 304
        # A wheel this small is offered without PEP 658 metadata (registry.metadata_min_wheel_bytes):
        # an installer fetches the wheel, one request instead of two; the metadata file is served still.
        assert wheel.stat().st_size < 65_536
        assert "core-metadata" not in entry
        assert "data-core-metadata" not in html
        async with http.get(file_url + ".metadata") as response:
            assert response.status == 200
            metadata = await response.read()
        assert b"Name: Acme-Lib" in metadata
    # A wheel from the threshold up is offered with it, and the file is what the page's digest says.
    filename, content = big_wheel("bigwheel", "1.0", 70_000)
    assert (await upload_bytes(mesh.edge_url, team.team_id, team.key, "bigwheel", "1.0", filename, content))[
        0
    ] == 200
    async with aiohttp.ClientSession(headers=_basic(team.read_key)) as http:
        async with http.get(
            f"{base}/simple/bigwheel/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ) as response:
            (big,) = json.loads(await response.text())["files"]
        async with http.get(f"{base}/simple/bigwheel/{big['url']}.metadata") as response:
            metadata = await response.read()
        assert hashlib.sha256(metadata).hexdigest() == big["core-metadata"]["sha256"]
        assert big["dist-info-metadata"] == big["core-metadata"]
        async with http.get(
            f"{mesh.edge_url}/api/v1/registry/packages", params={"q": "acme"}, headers=_basic(team.read_key)
        ) as response:
            # Basic credentials are taken under /registry/ only.
            assert response.status == 401
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        async with http.get(f"{mesh.edge_url}/api/v1/registry/packages", params={"q": "acme"}) as response:
            found = await response.json()
        assert "items" in found, found
        assert [p["name"] for p in found["items"]] == ["acme-lib"]
        assert found["items"][0]["downloads"] >= 1


class _Anchors(HTMLParser):
    """A simple page's links: (file name, the anchor's attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str | None]] = {}
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = dict(attrs)

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.found[data.strip()] = self._open
            self._open = None


async def test_the_html_page_offers_core_metadata_for_large_wheels_only(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]], tmp_path: Path
) -> None:
    """On the PEP 503 HTML page a wheel of registry.metadata_min_wheel_bytes or more carries both
    data-core-metadata and data-dist-info-metadata (PEP 714) as `sha256=` the digest of the served
    .metadata file; a small wheel carries neither, nor does an sdist, even a large one."""
    team = await _team(pool)
    large = build_project(tmp_path, "Big-Lib", "1.0", payload_bytes=70_000)
    assert all(p.stat().st_size >= 65_536 for p in large)
    result = twine_upload(mesh.edge_url, team.team_id, team.key, [*large, *built["lib-1.0"]])
    assert result.returncode == 0, result.stdout + result.stderr
    base = f"{mesh.edge_url}/registry/{team.team_id}/pypi/simple"
    async with aiohttp.ClientSession(headers=_basic(team.read_key)) as http:
        pages = {}
        for project in ("big-lib", "acme-lib"):
            async with http.get(f"{base}/{project}/", headers={"Accept": "text/html"}) as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                parser = _Anchors()
                parser.feed(await response.text())
                pages[project] = parser.found
        wheel = next(p for p in large if p.suffix == ".whl")
        anchor = pages["big-lib"][wheel.name]
        file_url = urljoin(f"{base}/big-lib/", str(anchor["href"]).split("#", 1)[0])
        async with http.get(file_url + ".metadata") as response:
            assert response.status == 200
            metadata = await response.read()
    assert b"Name: Big-Lib" in metadata
    offered = f"sha256={hashlib.sha256(metadata).hexdigest()}"
    assert anchor["data-core-metadata"] == offered
    assert anchor["data-dist-info-metadata"] == offered
    small = [*pages["acme-lib"].items(), *((n, a) for n, a in pages["big-lib"].items() if n != wheel.name)]
    assert sorted(name for name, _ in small) == sorted(
        p.name for p in [*built["lib-1.0"], *large] if p != wheel
    )
    for name, attributes in small:
        assert "data-core-metadata" not in attributes, name
        assert "data-dist-info-metadata" not in attributes, name


async def test_the_root_index_lists_the_teams_projects_only(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """`/simple/` lists the team's projects: in HTML each a link to its normalised name's page with
    the name as published, in PEP 691 JSON (`meta.api-version`, `projects` of `name`) the same names;
    another team's project is on neither, and that team's index lists only its own."""
    a, b = await _team(pool), await _team(pool)
    result = twine_upload(mesh.edge_url, a.team_id, a.key, [*built["lib-1.0"], *built["app-0.1"]])
    assert result.returncode == 0, result.stdout + result.stderr
    filename, content = minimal_wheel("Other_Team.Lib", "1.0")
    status, text = await upload_bytes(
        mesh.edge_url, b.team_id, b.key, "Other_Team.Lib", "1.0", filename, content
    )
    assert status == 200, text

    async def index(team: Team) -> tuple[dict[str, str], list[str], dict[str, Any]]:
        url = f"{mesh.edge_url}/registry/{team.team_id}/pypi/simple/"
        async with aiohttp.ClientSession(headers=_basic(team.read_key)) as http:
            async with http.get(url, headers={"Accept": "text/html"}) as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                parser = _Anchors()
                parser.feed(await response.text())
            async with http.get(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}) as response:
                assert response.status == 200
                assert response.content_type == "application/vnd.pypi.simple.v1+json"
                document = json.loads(await response.text())
            # Each link leads to the project's page.
            for anchor in parser.found.values():
                async with http.get(urljoin(url, str(anchor["href"]))) as response:
                    assert response.status == 200, anchor
        links = {shown: str(anchor["href"]) for shown, anchor in parser.found.items()}
        return links, [p["name"] for p in document["projects"]], document["meta"]

    links, names, meta = await index(a)
    assert meta["api-version"] == "1.1"
    assert {canonicalize_name(shown): href for shown, href in links.items()} == {
        "acme-lib": "acme-lib/",
        "acme-app": "acme-app/",
    }
    assert sorted(names) == sorted(links)
    assert "Acme-Lib" in names
    other_links, other_names, _ = await index(b)
    assert other_links == {"Other_Team.Lib": "other-team-lib/"}
    assert other_names == ["Other_Team.Lib"]


async def test_a_yanked_version_is_skipped_by_pip_and_comes_back_when_unyanked(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]], tmp_path: Path
) -> None:
    """After yanking 1.1, pip installs 1.0; the REST API shows latest 1.0; unyanked, 1.1 again."""
    team = await _team(pool)
    assert (
        twine_upload(mesh.edge_url, team.team_id, team.key, built["lib-1.0"] + built["lib-1.1"]).returncode
        == 0
    )
    api = f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-lib"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.post(f"{api}/versions/1.1/yank", json={"reason": "broken"}) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["yanked_reason"] == "broken"
        async with http.get(api) as response:
            package = (await response.json())["package"]
        assert package["latest"] == "1.0"
        python = fresh_venv(tmp_path / "venv")
        index = index_url(mesh.edge_url, team.team_id, team.read_key)
        assert pip_install(python, index, "acme-lib").returncode == 0
        assert installed_version(python, "acme_lib") == "1.0"
        async with http.post(f"{api}/versions/1.1/unyank") as response:
            assert response.status == 200
        assert pip_install(python, index, "--upgrade", "acme-lib").returncode == 0
        assert installed_version(python, "acme_lib") == "1.1"
    async with pool.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action FROM super_agent.audit_entries WHERE team_id = $1::uuid ORDER BY seq", team.team_id
        )
    assert [a["action"] for a in actions].count("artifacts.publish") == 3
    assert {"artifacts.yank", "artifacts.unyank"} <= {a["action"] for a in actions}


async def test_a_read_only_key_cannot_upload_and_a_published_file_cannot_be_replaced(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """twine with an artifacts:read key is refused 403; uploading the same file again is refused
    (409, named in twine's output), also after the version was deleted."""
    team = await _team(pool)
    refused = twine_upload(mesh.edge_url, team.team_id, team.read_key, built["lib-1.0"])
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr
    assert await _file_rows(pool, team.team_id) == []
    assert twine_upload(mesh.edge_url, team.team_id, team.key, built["lib-1.0"]).returncode == 0
    again = twine_upload(mesh.edge_url, team.team_id, team.key, built["lib-1.0"][:1])
    assert again.returncode != 0
    assert "file_exists" in again.stdout + again.stderr
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        async with http.delete(f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-lib/versions/1.0") as r:
            assert r.status == 200, await r.text()
    assert await _file_rows(pool, team.team_id) == []
    after_delete = twine_upload(mesh.edge_url, team.team_id, team.key, built["lib-1.0"][:1])
    assert after_delete.returncode != 0
    assert "file_exists" in after_delete.stdout + after_delete.stderr


async def test_a_file_whose_name_disagrees_with_its_metadata_is_refused_and_leaves_nothing(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]], tmp_path: Path
) -> None:
    """A 1.0 wheel renamed to 2.0 is refused with filename_mismatch in twine's output; neither a row
    nor its blob stays."""
    team = await _team(pool)
    wheel = next(p for p in built["lib-1.0"] if p.suffix == ".whl")
    renamed = tmp_path / wheel.name.replace("-1.0-", "-2.0-")
    # Other bytes than any published wheel, so the blob would be this upload's alone.
    renamed.write_bytes(wheel.read_bytes() + b"\0" * 7)
    blobs_before = _blob_files(Path(mesh.launcher.workdir / "data" / "blobs"))
    status, text = await _post_upload(mesh, team, renamed, version="2.0")
    assert status == 400, text
    assert "filename_mismatch" in text
    assert await _file_rows(pool, team.team_id) == []
    assert _blob_files(Path(mesh.launcher.workdir / "data" / "blobs")) == blobs_before
    twine = twine_upload(mesh.edge_url, team.team_id, team.key, [renamed])
    assert twine.returncode != 0
    assert "filename_mismatch" in twine.stdout + twine.stderr


async def test_a_digest_the_client_sent_that_is_not_the_files_is_refused_and_leaves_nothing(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """An upload whose sha256_digest is not its bytes' is a 400 digest_mismatch; no row, no blob."""
    team = await _team(pool)
    wheel = next(p for p in built["lib-1.1"] if p.suffix == ".whl")
    blobs_before = _blob_files(Path(mesh.launcher.workdir / "data" / "blobs"))
    status, text = await _post_upload(mesh, team, wheel, version="1.1", sha256="0" * 64, extra=b"x")
    assert status == 400
    assert "digest_mismatch" in text
    assert await _file_rows(pool, team.team_id) == []
    assert _blob_files(Path(mesh.launcher.workdir / "data" / "blobs")) == blobs_before


async def test_an_md5_digest_that_is_not_the_files_is_refused_and_leaves_nothing(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """An upload with the right sha256_digest but a wrong md5_digest (as an older twine sends both) is
    a 400 digest_mismatch naming the md5 digest; no row, no blob."""
    team = await _team(pool)
    wheel = next(p for p in built["lib-1.1"] if p.suffix == ".whl")
    blobs_before = _blob_files(Path(mesh.launcher.workdir / "data" / "blobs"))
    status, text = await _post_upload(mesh, team, wheel, version="1.1", md5="0" * 32, extra=b"md5")
    assert status == 400, text
    assert "digest_mismatch" in text
    assert f"the md5 digest sent ({'0' * 32})" in text, text
    assert await _file_rows(pool, team.team_id) == []
    assert _blob_files(Path(mesh.launcher.workdir / "data" / "blobs")) == blobs_before
    # The same form with the bytes' own md5 is taken: only the digest was wrong.
    status, text = await _post_upload(mesh, team, wheel, version="1.1")
    assert status == 200, text
    assert await _file_rows(pool, team.team_id) == [wheel.name]


async def _audited_deletes(pool: Any, team_id: str) -> list[tuple[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT resource_id, before FROM super_agent.audit_entries "
            "WHERE team_id = $1::uuid AND action = 'artifacts.delete' ORDER BY seq",
            team_id,
        )
    return [
        (r["resource_id"], json.loads(r["before"]) if isinstance(r["before"], str) else r["before"])
        for r in rows
    ]


async def test_a_depended_on_version_older_than_72_hours_cannot_be_deleted(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """A REST delete of a Python version (or package) published over 72 h ago that another package of
    the team depends on is a 409 delete_refused naming the rule, rows kept; a fresh version, or one
    nothing depends on any more, is deleted, each delete on the audit log."""
    team = await _team(pool)
    files = built["lib-1.0"] + built["lib-1.1"] + built["app-0.1"]
    assert twine_upload(mesh.edge_url, team.team_id, team.key, files).returncode == 0
    api = f"{mesh.edge_url}/api/v1/registry/packages/pypi"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.key}"}) as http:
        # Fresh (within 72 h): deleted although acme-app depends on acme-lib.
        async with http.delete(f"{api}/acme-lib/versions/1.1") as response:
            assert response.status == 200, await response.text()
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE artifact_manager.versions SET published_at = now() - interval '73 hours' "
                "WHERE team_id = $1::uuid",
                team.team_id,
            )
        for path in (f"{api}/acme-lib/versions/1.0", f"{api}/acme-lib"):
            async with http.delete(path) as response:
                assert response.status == 409, await response.text()
                body = await response.json()
            assert body["error"]["details"][0]["type"] == "delete_refused", body
            assert "depend on acme-lib" in body["error"]["message"]
            assert "72 h" in body["error"]["message"]
        assert any(f.startswith("acme_lib-1.0") for f in await _file_rows(pool, team.team_id))
        # The dependent goes (nothing depends on it), then acme-lib can go too.
        async with http.delete(f"{api}/acme-app") as response:
            assert response.status == 200, await response.text()
        async with http.delete(f"{api}/acme-lib") as response:
            assert response.status == 200, await response.text()
    assert await _file_rows(pool, team.team_id) == []
    audited = await _audited_deletes(pool, team.team_id)
    assert [resource for resource, _ in audited] == ["pypi:acme-lib@1.1", "pypi:acme-app", "pypi:acme-lib"]
    assert audited[0][1]["files"] == [p.name for p in built["lib-1.1"]]
    assert audited[2][1]["versions"] == ["1.0"]


async def _post_upload(
    mesh: Mesh,
    team: Team,
    path: Path,
    *,
    version: str,
    sha256: str | None = None,
    md5: str | None = None,
    extra: bytes = b"",
) -> tuple[int, str]:
    """twine's upload form for `path` (plus `extra` bytes), its digests the bytes' unless given."""
    content = path.read_bytes() + extra  # noqa: ASYNC240 - a small local file
    form = aiohttp.FormData()
    for name, value in {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "Acme-Lib",
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.4",
        "md5_digest": md5 or hashlib.md5(content, usedforsecurity=False).hexdigest(),
        "sha256_digest": sha256 or hashlib.sha256(content).hexdigest(),
    }.items():
        form.add_field(name, value)
    form.add_field("content", content, filename=path.name, content_type="application/octet-stream")
    async with aiohttp.ClientSession(headers=_basic(team.key)) as http:
        async with http.post(f"{mesh.edge_url}/registry/{team.team_id}/pypi/legacy/", data=form) as response:
            return response.status, f"{response.reason} {await response.text()}"


async def test_another_teams_key_cannot_list_download_or_yank(
    mesh: Mesh, pool: Any, built: dict[str, list[Path]]
) -> None:
    """Team B's key, on team A's index and packages: 404 for the pages, the file, the metadata, the
    REST reads, yank and delete; A's version is untouched."""
    a, b = await _team(pool), await _team(pool)
    assert twine_upload(mesh.edge_url, a.team_id, a.key, built["lib-1.0"]).returncode == 0
    wheel = next(p for p in built["lib-1.0"] if p.suffix == ".whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pypi = f"{mesh.edge_url}/registry/{a.team_id}/pypi"
    api = f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-lib"
    async with aiohttp.ClientSession(headers=_basic(b.key)) as http:
        for url in (
            f"{pypi}/simple/",
            f"{pypi}/simple/acme-lib/",
            f"{pypi}/files/{digest}/{wheel.name}",
            f"{pypi}/files/{digest}/{wheel.name}.metadata",
            # B's own index path, A's file: not B's file either.
            f"{mesh.edge_url}/registry/{b.team_id}/pypi/files/{digest}/{wheel.name}",
        ):
            async with http.get(url) as response:
                assert response.status == 404, url
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {b.key}"}) as http:
        for method, url in (
            ("GET", api),
            ("GET", f"{api}/versions/1.0"),
            ("POST", f"{api}/versions/1.0/yank"),
            ("DELETE", f"{api}/versions/1.0"),
            ("DELETE", api),
        ):
            async with http.request(method, url) as response:
                assert response.status == 404, (method, url, await response.text())
        async with http.get(f"{mesh.edge_url}/api/v1/registry/packages") as response:
            assert (await response.json())["items"] == []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {a.key}"}) as http:
        async with http.get(f"{api}/versions/1.0") as response:
            assert (await response.json())["yanked"] is False


@pytest.fixture(scope="module")
def s3_mesh(
    tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str, s3_endpoint: S3Endpoint
) -> Iterator[Mesh]:
    """The edge and the ArtifactManagerAgent with blobs in moto's S3."""
    with s3_registry_mesh(tmp_path_factory.mktemp("s3mesh"), postgres_dsn, s3_endpoint) as mesh:
        yield mesh


async def test_the_s3_blob_backend_serves_uploads_and_installs(
    s3_mesh: Mesh, pool: Any, built: dict[str, list[Path]], tmp_path: Path, s3_endpoint: S3Endpoint
) -> None:
    """With blobs in S3 (moto's server), twine uploads and pip installs as with the filesystem, and
    a refused upload leaves no object behind."""
    team = await _team(pool)
    result = twine_upload(s3_mesh.edge_url, team.team_id, team.key, built["lib-1.0"])
    assert result.returncode == 0, result.stdout + result.stderr
    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, index_url(s3_mesh.edge_url, team.team_id, team.read_key), "acme-lib")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed_version(python, "acme_lib") == "1.0"
    wheel = next(p for p in built["lib-1.1"] if p.suffix == ".whl")
    status, text = await _post_upload(s3_mesh, team, wheel, version="1.1", sha256="0" * 64, extra=b"y")
    assert status == 400
    assert "digest_mismatch" in text
    bucket = s3_mesh.launcher.overrides["storage"]["s3"]["bucket"]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint.endpoint_url,
        region_name=s3_endpoint.region,
        aws_access_key_id=s3_endpoint.access_key_id,
        aws_secret_access_key=s3_endpoint.secret_access_key,
    )
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    refused = hashlib.sha256(wheel.read_bytes() + b"y").hexdigest()
    assert f"sha256/{refused}" not in keys
    assert f"sha256/{hashlib.sha256(built['lib-1.0'][0].read_bytes()).hexdigest()}" in keys
