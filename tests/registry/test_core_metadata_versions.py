"""Core metadata 2.1, 2.2 and 2.3 as the Python registry stores and serves it, with distributions
written by hand (tests/registry/coremeta.py) and uploaded with the real twine on the session's mesh:
an sdist whose PKG-INFO leaves Requires-Dist to the build (2.2 `Dynamic`), the version's wheel (2.3,
normalised extras) then giving the dependencies, setuptools' License-File under 2.1/2.2, and what
PEP 691 JSON, the PEP 658 file and the REST API's version document say of each."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import aiohttp

from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh
from tests.fixtures.teams import org_team
from tests.registry.coremeta import core_metadata, sdist, wheel
from tests.registry.pypackages import (
    fresh_venv,
    index_url,
    installed_version,
    pip_install,
    twine_upload,
    upload_bytes,
)

KEY = [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH]
JSON_PAGE = {"Accept": "application/vnd.pypi.simple.v1+json"}
# Over registry.metadata_min_wheel_bytes (64 KiB): the page offers the wheel's PEP 658 metadata.
OFFERED = 70_000


async def _team(pool: Any) -> tuple[str, str]:
    async with pool.acquire() as conn:
        return await org_team(conn, KEY)


def _write(folder: Path, made: tuple[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / made[0]
    path.write_bytes(made[1])
    return path


def _uploaded(result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


async def _json(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> Any:
    async with http.get(url, headers=headers) as response:
        assert response.status == 200, (url, await response.text())
        return json.loads(await response.text())


async def test_a_dynamic_sdist_then_its_wheel_through_twine_pages_and_pip(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A 2.2 sdist with `Dynamic: Requires-Dist` and setuptools' License-File is taken (twine, 200):
    the version shows no dependencies, `dynamic` naming Requires-Dist; the 2.3 wheel uploaded next
    gives the version its dependencies (an extra under its normalised name), `dynamic` empty; the
    JSON page offers the wheel's metadata (not the sdist's), the PEP 658 file is the METADATA byte
    for byte, reverse dependencies find the package, and pip installs it from the index."""
    team_id, key = await _team(pool)
    pkg_info = core_metadata(
        "acme-dyn",
        "1.0",
        metadata_version="2.2",
        fields=[
            ("License", "MIT"),
            ("License-File", "LICENSE"),  # as setuptools 56 to 76 wrote it, before 2.4 defined it
            ("Requires-Python", ">=3.9"),
            ("Dynamic", "Requires-Dist"),
            ("Dynamic", "License-File"),
        ],
        description="# acme-dyn\n",
    )
    dist = tmp_path / "dist"
    sdist_path = _write(dist, sdist("acme-dyn", "1.0", pkg_info))
    _uploaded(twine_upload(mesh.edge_url, team_id, key, [sdist_path]))
    version_url = f"{mesh.edge_url}/api/v1/registry/packages/pypi/acme-dyn/versions/1.0"
    bearer = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        version = await _json(http, version_url)
    assert version["dependencies"] == []
    assert version["dynamic"] == ["License-File", "Requires-Dist"]
    assert (version["license"], version["license_ids"]) == ("MIT", ["MIT"])
    metadata = core_metadata(
        "acme-dyn",
        "1.0",
        metadata_version="2.3",
        fields=[("License", "MIT"), ("Requires-Python", ">=3.9"), ("Provides-Extra", "fast-mode")],
        requires=["static-dep>=1", 'extra-dep; extra == "fast-mode"'],
        description="# acme-dyn\n",
    )
    wheel_path = _write(dist, wheel("acme-dyn", "1.0", metadata, payload=os.urandom(OFFERED)))
    dep_path = _write(dist, wheel("static-dep", "1.2", core_metadata("static-dep", "1.2")))
    _uploaded(twine_upload(mesh.edge_url, team_id, key, [wheel_path, dep_path]))
    index = f"{mesh.edge_url}/registry/{team_id}/pypi"
    async with aiohttp.ClientSession(headers=bearer) as http:
        version = await _json(http, version_url)
        page = await _json(http, f"{index}/simple/acme-dyn/", JSON_PAGE)
        files = {f["filename"]: f for f in page["files"]}
        async with http.get(f"{index}/simple/acme-dyn/{files[wheel_path.name]['url']}.metadata") as response:
            assert response.status == 200
            served = await response.read()
        dependents = await _json(http, f"{mesh.edge_url}/api/v1/registry/packages?depends_on=static-dep")
    assert [(d["name"], d["requirement"], d["kind"], d["extra"]) for d in version["dependencies"]] == [
        ("extra-dep", "", "optional", "fast-mode"),
        ("static-dep", ">=1", "runtime", None),
    ]
    assert version["dynamic"] == []
    assert sorted(f["filename"] for f in version["files"]) == sorted([sdist_path.name, wheel_path.name])
    assert page["versions"] == ["1.0"]
    assert "core-metadata" not in files[sdist_path.name]
    assert files[wheel_path.name]["core-metadata"] == {
        "sha256": hashlib.sha256(metadata.encode()).hexdigest()
    }
    assert files[wheel_path.name]["requires-python"] == ">=3.9"
    assert served == metadata.encode()
    assert served.startswith(b"Metadata-Version: 2.3\n")
    assert [p["name"] for p in dependents["items"]] == ["acme-dyn"]
    python = fresh_venv(tmp_path / "venv")
    installed = pip_install(python, index_url(mesh.edge_url, team_id, key), "acme-dyn")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed_version(python, "acme_dyn") == "1.0"
    assert installed_version(python, "static_dep") == "1.2"


async def test_license_file_under_2_1_and_2_2_is_taken_as_pypi_takes_it(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """Wheels of 2.1 and 2.2 carrying License-File (setuptools and `wheel` wrote it there for years)
    upload (twine, 200) and keep their METADATA as found; the REST document shows their licence."""
    team_id, key = await _team(pool)
    paths = []
    for name, metadata_version in (("acme-lf21", "2.1"), ("acme-lf22", "2.2")):
        text = core_metadata(
            name,
            "1.0",
            metadata_version=metadata_version,
            fields=[("License", "BSD-3-Clause"), ("License-File", "LICENSE"), ("License-File", "NOTICE")],
        )
        paths.append(_write(tmp_path / "dist", wheel(name, "1.0", text, payload=os.urandom(OFFERED))))
    _uploaded(twine_upload(mesh.edge_url, team_id, key, paths))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        for name in ("acme-lf21", "acme-lf22"):
            version = await _json(http, f"{mesh.edge_url}/api/v1/registry/packages/pypi/{name}/versions/1.0")
            assert version["license_ids"] == ["BSD-3-Clause"], version
            page = await _json(http, f"{mesh.edge_url}/registry/{team_id}/pypi/simple/{name}/", JSON_PAGE)
            (entry,) = page["files"]
            async with http.get(
                f"{mesh.edge_url}/registry/{team_id}/pypi/simple/{name}/{entry['url']}.metadata"
            ) as response:
                assert b"License-File: NOTICE\n" in await response.read()


async def test_metadata_the_versions_do_not_allow_is_refused_naming_the_rule(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A 2.2 sdist marking Name dynamic, a 2.2 wheel using 2.4's License-Expression, and a 2.1 wheel
    using 2.2's Dynamic are 400 invalid_metadata naming the field and versions; nothing is stored."""
    team_id, key = await _team(pool)
    cases = [
        sdist(
            "bad-dyn",
            "1.0",
            core_metadata("bad-dyn", "1.0", metadata_version="2.2", fields=[("Dynamic", "Name")]),
        ),
        wheel(
            "bad-expr",
            "1.0",
            core_metadata("bad-expr", "1.0", metadata_version="2.2", fields=[("License-Expression", "MIT")]),
        ),
        wheel(
            "bad-early",
            "1.0",
            core_metadata("bad-early", "1.0", metadata_version="2.1", fields=[("Dynamic", "Requires-Dist")]),
        ),
    ]
    expected = (
        "'name' is not allowed as a dynamic field",
        "license-expression introduced in metadata version 2.4, not 2.2",
        "dynamic introduced in metadata version 2.2, not 2.1",
    )
    for filename, content in cases:
        # twine checks the same rules (with packaging) before it sends anything.
        result = twine_upload(mesh.edge_url, team_id, key, [_write(tmp_path / filename, (filename, content))])
        assert result.returncode != 0, result.stdout + result.stderr
    # Sent anyway, as a client that does not check would: refused by the registry, naming the rule.
    for (filename, content), said in zip(cases, expected, strict=True):
        name = filename.split("-1.0")[0].replace("_", "-")
        status, text = await upload_bytes(mesh.edge_url, team_id, key, name, "1.0", filename, content)
        assert status == 400, text
        assert "invalid_metadata" in text
        assert said in text, text
    async with pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT count(*) FROM artifact_manager.files WHERE team_id = $1::uuid", team_id
        )
    assert stored == 0
