"""The search API's licence filter end to end on the session's mesh: Python and npm packages declaring
their licence every way packages do (an SPDX expression, metadata 2.4's License-Expression, a
classifier only, free text, npm's deprecated `licenses` list) are normalised to SPDX ids at publish
and found by SPDX ids and expressions; rows from before the normalisation are filled in by the
ArtifactManagerAgent's backfill."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from services.registry.license_backfill import LOCK_NAME, LicenseBackfill
from shared.blobstore import FilesystemBlobStore
from shared.db.locks import try_advisory_lock
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh
from tests.fixtures.teams import org_team
from tests.registry.coremeta import core_metadata, wheel
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import upload_bytes

KEY = [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH]
CLASSIFIER = "License :: OSI Approved :: MIT License"
# Python packages: (name, Metadata-Version, fields).
PYTHON = [
    ("lic-dual", "2.4", [("License-Expression", "MIT OR Apache-2.0")]),
    ("lic-classifier", "2.1", [("Classifier", CLASSIFIER)]),
    ("lic-mit0", "2.1", [("License", "MIT-0")]),
    ("lic-lgpl", "2.4", [("License-Expression", "LGPL-2.1-only")]),
    ("lic-classpath", "2.1", [("License", "GPL-2.0-only WITH Classpath-exception-2.0")]),
    ("lic-apache-text", "2.1", [("License", "Apache License, Version 2.0")]),
    ("lic-proprietary", "2.1", [("License", "Proprietary")]),
]
# npm packages: (name, package.json licence fields).
NPM = [
    ("lic-npm-dual", {"license": "(Apache-2.0 OR MIT)"}),
    ("lic-npm-legacy", {"licenses": [{"type": "MIT", "url": "x"}, {"type": "Apache-2.0", "url": "y"}]}),
]
# A filter -> the packages it finds.
EXPECTED = {
    "MIT": {"lic-dual", "lic-classifier", "lic-npm-dual", "lic-npm-legacy"},
    "mit": {"lic-dual", "lic-classifier", "lic-npm-dual", "lic-npm-legacy"},
    "Apache-2.0": {"lic-dual", "lic-apache-text", "lic-npm-dual", "lic-npm-legacy"},
    "MIT AND Apache-2.0": {"lic-dual", "lic-npm-dual", "lic-npm-legacy"},
    "MIT-0 OR LGPL-2.1-only": {"lic-mit0", "lic-lgpl"},
    "MIT-0": {"lic-mit0"},
    "LGPL-2.1": {"lic-lgpl"},  # the deprecated id reads as LGPL-2.1-only
    "GPL-2.0-only": {"lic-classpath"},
    "Classpath-exception-2.0": {"lic-classpath"},
    "GPL-2.0-only WITH Classpath-exception-2.0": {"lic-classpath"},
    "GPL-2.0-or-later": set(),
    "Proprietary": {"lic-proprietary"},  # no SPDX id: the licence as written
    "proprietary": {"lic-proprietary"},
}


async def _team(pool: Any) -> tuple[str, str]:
    async with pool.acquire() as conn:
        return await org_team(conn, KEY)


async def _publish_all(mesh: Mesh, team_id: str, key: str) -> None:
    for name, metadata_version, fields in PYTHON:
        filename, content = wheel(
            name, "1.0", core_metadata(name, "1.0", metadata_version=metadata_version, fields=fields)
        )
        status, text = await upload_bytes(mesh.edge_url, team_id, key, name, "1.0", filename, content)
        assert status == 200, (name, text)
    for name, licence in NPM:
        document = publish_document(name, "1.0.0", package_tarball(name, "1.0.0"), **licence)
        status, answer = await put_document(mesh.edge_url, team_id, key, name, document)
        assert status in (200, 201), (name, answer)


async def _found(http: aiohttp.ClientSession, mesh: Mesh, licence: str) -> tuple[int, Any]:
    async with http.get(
        f"{mesh.edge_url}/api/v1/registry/packages", params={"license": licence, "limit": "100"}
    ) as response:
        return response.status, await response.json()


async def _search_all(http: aiohttp.ClientSession, mesh: Mesh) -> dict[str, set[str]]:
    found = {}
    for licence in EXPECTED:
        status, body = await _found(http, mesh, licence)
        assert status == 200, (licence, body)
        found[licence] = {item["name"] for item in body["items"]}
    return found


async def test_the_licence_filter_finds_packages_by_spdx_ids(mesh: Mesh, pool: Any) -> None:
    """Each filter finds exactly its packages: `MIT` and `Apache-2.0` both find the dual-licensed
    Python and npm packages, `MIT` never MIT-0 nor LGPL; the version document and the search items
    carry the ids; a filter spreading into too many alternatives is a 422."""
    team_id, key = await _team(pool)
    await _publish_all(mesh, team_id, key)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        assert await _search_all(http, mesh) == EXPECTED
        async with http.get(
            f"{mesh.edge_url}/api/v1/registry/packages/pypi/lic-classifier/versions/1.0"
        ) as response:
            version = await response.json()
        assert (version["license"], version["license_ids"]) == (None, ["MIT"])
        status, body = await _found(http, mesh, "MIT")
        items = {item["name"]: item for item in body["items"]}
        assert items["lic-npm-legacy"]["license"] == "(MIT OR Apache-2.0)"
        assert items["lic-npm-legacy"]["license_ids"] == ["Apache-2.0", "MIT"]
        assert items["lic-dual"]["license"] == "MIT OR Apache-2.0"
        spread = " AND ".join(["(MIT OR ISC)", "(0BSD OR Zlib)", "(X11 OR NCSA)"] * 2)
        status, refused = await _found(http, mesh, spread)
        assert status == 422, refused
        assert refused["error"]["details"][0]["type"] == "invalid_license_filter"


async def test_rows_from_before_the_normalisation_are_backfilled(mesh: Mesh, pool: Any) -> None:
    """With the ids of a team's rows gone (as the migration leaves older rows), the filter falls back
    to the licence text (a classifier-only package is not found by MIT); the backfill reads each
    Python version's classifiers from its core metadata in the blob store, and npm's package.json,
    and every filter finds what it found at publish."""
    team_id, key = await _team(pool)
    await _publish_all(mesh, team_id, key)
    # Held while the rows are emptied and searched, so the agent's own backfill job waits.
    async with try_advisory_lock(pool, LOCK_NAME) as held:
        assert held
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE artifact_manager.versions SET license_ids = NULL WHERE team_id = $1::uuid", team_id
            )
            await conn.execute(
                "UPDATE artifact_manager.packages SET license_ids = NULL WHERE team_id = $1::uuid", team_id
            )
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            before = await _search_all(http, mesh)
    assert "lic-classifier" not in before["MIT"]
    assert before["Proprietary"] == {"lic-proprietary"}
    backfill = FilesystemBlobStore(mesh.launcher.workdir / "data" / "blobs")
    for _ in range(50):
        if await LicenseBackfill(pool, backfill).run() is not None:
            break
        await asyncio.sleep(0.2)  # the agent's job holds the lock: it is doing the same
    async with pool.acquire() as conn:
        pending = await conn.fetchval(
            "SELECT count(*) FROM artifact_manager.packages WHERE team_id = $1::uuid AND license_ids IS NULL",
            team_id,
        )
        classifier_ids = await conn.fetchval(
            "SELECT v.license_ids FROM artifact_manager.versions v JOIN artifact_manager.packages p "
            "ON p.id = v.package_id WHERE p.team_id = $1::uuid AND p.name = 'lic-classifier'",
            team_id,
        )
    assert pending == 0
    assert classifier_ids == ["MIT"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        assert await _search_all(http, mesh) == EXPECTED
