"""A version's authors, homepage and repository as the REST API's version document gives them
(`authors`, `homepage`, `repository`), read from a Python wheel's core metadata uploaded with real
twine and from an npm publish document in each of the forms npm's package.json allows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.mesh import Mesh
from tests.registry.coremeta import core_metadata, wheel
from tests.registry.npmpackages import package_tarball, publish_document, put_document
from tests.registry.pypackages import twine_upload
from tests.registry.test_python_registry import Team, _team


async def _version(mesh: Mesh, team: Team, ecosystem: str, name: str, version: str) -> dict[str, Any]:
    url = f"{mesh.edge_url}/api/v1/registry/packages/{ecosystem}/{name}/versions/{version}"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        async with http.get(url) as response:
            assert response.status == 200, await response.text()
            document: dict[str, Any] = await response.json()
    return document


def _people(document: dict[str, Any]) -> tuple[list[str], str | None, str | None]:
    return document["authors"], document["homepage"], document["repository"]


async def test_a_wheels_author_home_page_and_project_urls_are_the_versions(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """Author and Author-email are the version's authors; Home-page is its homepage (over a
    Project-URL `Homepage`), a Project-URL `Repository` its repository; without Home-page, the
    Project-URLs `Homepage` and `Source` stand for them."""
    team = await _team(pool)
    written = {
        "1.0": [
            ("Author", "Jane Doe"),
            ("Author-email", "jane@example.com"),
            ("Home-page", "https://home.example.com/people-lib"),
            ("Project-URL", "Homepage, https://elsewhere.example.com/"),
            ("Project-URL", "Repository, https://git.example.com/people-lib"),
        ],
        "2.0": [
            ("Author-email", "Jane Doe <jane@example.com>, Bob <bob@example.com>"),
            ("Project-URL", "Homepage, https://people.example.com/"),
            ("Project-URL", "Source, https://src.example.com/people-lib"),
        ],
    }
    files = []
    for version, fields in written.items():
        filename, content = wheel("people-lib", version, core_metadata("people-lib", version, fields=fields))
        path = tmp_path / filename
        path.write_bytes(content)
        files.append(path)
    result = twine_upload(mesh.edge_url, team.team_id, team.key, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _people(await _version(mesh, team, "pypi", "people-lib", "1.0")) == (
        ["Jane Doe", "jane@example.com"],
        "https://home.example.com/people-lib",
        "https://git.example.com/people-lib",
    )
    assert _people(await _version(mesh, team, "pypi", "people-lib", "2.0")) == (
        ["Jane Doe <jane@example.com>, Bob <bob@example.com>"],
        "https://people.example.com/",
        "https://src.example.com/people-lib",
    )


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (
            {
                "author": "Jane Doe <jane@example.com> (https://jane.example.com)",
                "homepage": "https://home.example.com/acme-people",
                "repository": "https://git.example.com/acme-people.git",
            },
            (
                ["Jane Doe <jane@example.com> (https://jane.example.com)"],
                "https://home.example.com/acme-people",
                "https://git.example.com/acme-people.git",
            ),
        ),
        (
            {
                "author": {
                    "name": "Jane Doe",
                    "email": "jane@example.com",
                    "url": "https://jane.example.com",
                },
                "contributors": [{"name": "Bob"}, "Ann <ann@example.com>"],
                "homepage": "https://home.example.com/acme-people",
                "repository": {"type": "git", "url": "git+https://github.com/acme/people.git"},
            },
            (
                ["Jane Doe <jane@example.com>", "Bob", "Ann <ann@example.com>"],
                "https://home.example.com/acme-people",
                "git+https://github.com/acme/people.git",
            ),
        ),
    ],
    ids=["strings", "objects"],
)
async def test_an_npm_versions_author_homepage_and_repository_are_the_versions(
    mesh: Mesh, pool: Any, manifest: dict[str, Any], expected: tuple[list[str], str, str]
) -> None:
    """npm's `author` (and `contributors`) as strings or {name, email, url} objects are the version's
    authors, `homepage` its homepage, `repository` as a URL string or as {type, url} its repository."""
    team = await _team(pool)
    document = publish_document("acme-people", "1.0.0", package_tarball("acme-people", "1.0.0"), **manifest)
    status, body = await put_document(mesh.edge_url, team.team_id, team.key, "acme-people", document)
    assert status == 201, body
    assert _people(await _version(mesh, team, "npm", "acme-people", "1.0.0")) == expected
