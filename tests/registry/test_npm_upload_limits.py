"""Refused npm publishes end to end through the real npm CLI: the plan's storage cap and the edge's
bounds on a publish's size, each refusal shown by npm, and nothing left behind, neither a row nor a
blob. Agents of this module's own, with the small upload and plan limits of the Python module's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.super_agent.routes.registry_npm import DOCUMENT_OVERHEAD_BYTES
from tests.fixtures.mesh import Mesh
from tests.registry.npmpackages import NPM, npm, write_npmrc, write_package
from tests.registry.test_python_upload_limits import (
    MAX_UPLOAD,
    STORAGE,
    Team,
    _blobs,
    _rows,
    _team,
    limits_mesh,
)

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed")

# The most the edge reads of a publish's JSON body: the largest tarball's base64 and the document
# around it (registry_npm.put_package).
BODY_BOUND = MAX_UPLOAD * 4 // 3 + 4 + DOCUMENT_OVERHEAD_BYTES


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[Mesh]:
    with limits_mesh(tmp_path_factory.mktemp("npm-limits-mesh"), postgres_dsn) as mesh:
        yield mesh


async def _refused(mesh: Mesh, pool: Any, team: Team, work: Path, payload: int, *expected: str) -> None:
    """`npm publish` of a package carrying `payload` random bytes fails showing each of `expected`;
    no row, no new blob."""
    folder = write_package(work, "acme-heavy", "1.0.0", payload_bytes=payload)
    rc = work / "rc"
    rc.mkdir()
    before = _blobs(mesh)
    result = npm(["publish"], folder, write_npmrc(rc, mesh.edge_url, team.team_id, team.key))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, output
    assert await _rows(pool, team.team_id) == []
    assert _blobs(mesh) == before


async def test_a_publish_past_the_plan_storage_is_a_402_shown_by_npm(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """An npm publish whose tarball would pass the plan's artifact_storage_bytes (but not
    registry.max_upload_bytes) is refused 402 naming the limit in npm's output; no row, no blob."""
    team = await _team(pool)
    await _refused(limited, pool, team, tmp_path, STORAGE + 2000, "402", "artifact_storage_bytes")


async def test_a_tarball_over_max_upload_bytes_is_a_413_shown_by_npm(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """An npm publish whose tarball is larger than registry.max_upload_bytes (its document within the
    edge's body bound) is refused 413 archive_too_large in npm's output; no row, no blob."""
    team = await _team(pool)
    await _refused(limited, pool, team, tmp_path, MAX_UPLOAD + 2000, "413", "archive_too_large")


async def test_a_publish_body_over_the_edges_bound_is_a_413_shown_by_npm(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """An npm publish whose JSON body passes 4/3 x registry.max_upload_bytes plus the document's
    allowance is refused 413 by the edge before it reads the body on, naming the bound in npm's
    output; no row, no blob."""
    team = await _team(pool)
    await _refused(
        limited, pool, team, tmp_path, BODY_BOUND, "413", f"the document is larger than {BODY_BOUND} bytes"
    )
