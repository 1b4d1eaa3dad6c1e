"""Refused Python uploads end to end through real twine (and a refused install through real pip): each
refusal in the client's own error format, and nothing left behind, neither a row nor a blob (the file's
nor its core metadata's). Agents of this module's own, with small upload and plan limits."""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh, MeshLauncher
from tests.fixtures.stack import scratch_dir, start_nats
from tests.fixtures.teams import org_team_key
from tests.registry.pypackages import (
    big_wheel,
    fresh_venv,
    index_url,
    minimal_wheel,
    pip_install,
    twine_upload,
)

MAX_UPLOAD = 64_000
STORAGE = 24_000  # the free plan's artifact_storage_bytes here
PUBLISHER = [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH]
NO_ARTIFACTS = {
    "monthly_token_events": 1000,
    "artifact_storage_bytes": 1_000_000,
    "prompts": 1,
    "experiments": 1,
    "seats": 1,
    "features": ["dashboard"],
}


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str


@contextmanager
def limits_mesh(workdir: Path, postgres_dsn: str) -> Iterator[Mesh]:
    """The ArtifactManagerAgent and the edge on a NATS server of their own, with MAX_UPLOAD as
    registry.max_upload_bytes, the free plan's artifact_storage_bytes STORAGE, a plan without
    `artifacts`."""
    with scratch_dir("mno-nats-limits-") as nats_dir:
        nats = start_nats(nats_dir)
        launcher = MeshLauncher(
            workdir,
            nats.url,
            postgres_dsn,
            overrides={
                "registry": {"max_upload_bytes": MAX_UPLOAD},
                "plans": {
                    "free": {**NO_ARTIFACTS, "artifact_storage_bytes": STORAGE, "features": ["artifacts"]},
                    "no-artifacts": NO_ARTIFACTS,
                },
            },
        )
        try:
            agents = {a: launcher.start(a) for a in (AgentName.ARTIFACT_MANAGER, AgentName.SUPER_AGENT)}
            yield Mesh(launcher, agents)
        finally:
            launcher.stop_all()
            nats.stop()
            shutil.rmtree(launcher.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[Mesh]:
    with limits_mesh(tmp_path_factory.mktemp("limits-mesh"), postgres_dsn) as mesh:
        yield mesh


async def _team(pool: Any, plan_key: str | None = None) -> Team:
    async with pool.acquire() as conn:
        key = await org_team_key(conn, PUBLISHER)
        team_id, account_id, github_id = await conn.fetchrow(
            "SELECT k.team_id::text, a.id, a.github_id FROM super_agent.api_keys k "
            "JOIN super_agent.teams t ON t.id = k.team_id JOIN super_agent.accounts a ON a.id = t.account_id "
            "WHERE k.key_id = $1",
            key.split("_")[1],
        )
        if plan_key is not None:
            await conn.execute(
                "INSERT INTO super_agent.subscriptions "
                "(account_github_id, account_id, status, plan_key, state) "
                "VALUES ($1, $2, 'active', $3, '{}'::jsonb)",
                github_id,
                account_id,
                plan_key,
            )
    return Team(str(team_id), key)


def _blobs(mesh: Mesh) -> set[str]:
    root = Path(mesh.launcher.workdir / "data" / "blobs") / "sha256"
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def _rows(pool: Any, team_id: str) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT filename FROM artifact_manager.files WHERE team_id = $1::uuid "
            "UNION ALL SELECT filename FROM artifact_manager.published_filenames WHERE team_id = $1::uuid",
            team_id,
        )
    return [r["filename"] for r in rows]


def _write(folder: Path, filename: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(content)
    return path


def _wheel_with(name: str, version: str, add: Any) -> tuple[str, bytes]:
    filename, content = minimal_wheel(name, version)
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as wheel:
        add(wheel)
    return filename, buffer.getvalue()


async def _refused(mesh: Mesh, pool: Any, team: Team, path: Path, *expected: str) -> None:
    """twine's upload of `path` fails showing each of `expected`; no row, no new blob."""
    before = _blobs(mesh)
    result = twine_upload(mesh.edge_url, team.team_id, team.key, [path])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, output
    assert await _rows(pool, team.team_id) == []
    assert _blobs(mesh) == before


async def test_a_file_over_max_upload_bytes_is_a_413_for_twine(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A wheel larger than registry.max_upload_bytes is refused 413 in twine's output; no row, no blob."""
    team = await _team(pool)
    path = _write(tmp_path, *big_wheel("too-big", "1.0", MAX_UPLOAD + 1000))
    await _refused(limited, pool, team, path, "413")


async def test_an_upload_past_the_plan_storage_is_a_402_and_leaves_no_metadata_blob(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """An upload that would pass the plan's artifact_storage_bytes is refused 402 plan_limit in twine's
    output, after its metadata was read: neither its blob nor its core metadata's blob stays."""
    team = await _team(pool)
    path = _write(tmp_path, *big_wheel("over-plan", "1.0", STORAGE + 1000))
    await _refused(limited, pool, team, path, "402", "artifact_storage_bytes")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bomb", "compression bomb"),
        ("dotdot", "'..' path component"),
        ("symlink", "symbolic link"),
    ],
)
async def test_an_unsafe_wheel_is_refused_for_twine(
    limited: Mesh, pool: Any, tmp_path: Path, case: str, expected: str
) -> None:
    """A zip-bomb wheel (expansion ratio), one with a '..' member and one with a symbolic link are each
    refused 400 unsafe_archive naming the problem in twine's output; no row, no blob."""
    team = await _team(pool)

    def add(wheel: zipfile.ZipFile) -> None:
        if case == "bomb":
            wheel.writestr("bomb_lib/zeros.bin", b"\0" * (4 * 1024 * 1024))
        elif case == "dotdot":
            wheel.writestr("bomb_lib/../../evil.py", "print('escaped')\n")
        else:
            link = zipfile.ZipInfo("bomb_lib/link")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            wheel.writestr(link, "/etc/passwd")

    path = _write(tmp_path, *_wheel_with("bomb-lib", "1.0", add))
    await _refused(limited, pool, team, path, "unsafe_archive", expected)


async def test_a_plan_without_artifacts_is_refused_on_the_registry_in_pips_format(
    limited: Mesh, pool: Any, tmp_path: Path
) -> None:
    """A team whose plan lacks the `artifacts` feature is refused 403 on /registry/...: pip shows the
    status line naming the feature, and twine's upload is refused too, leaving nothing."""
    team = await _team(pool, "no-artifacts")
    python = fresh_venv(tmp_path / "venv")
    # pip logs an index page's 403 (its status line) at debug level; by default only "no matching
    # distribution".
    result = pip_install(python, index_url(limited.edge_url, team.team_id, team.key), "-vv", "anything")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "403" in output, output
    assert "artifacts" in output, output
    path = _write(tmp_path / "dist", *minimal_wheel("plan-lib", "1.0"))
    await _refused(limited, pool, team, path, "403", "artifacts")
