"""`mno prompts push/pull/status/diff/lock` against the session's real mesh (as a real process, or
in-process through Typer's runner)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from mno.prompts import prompts_app
from services.prompts import lockfile
from shared.db.postgres import create_pool
from shared.messages.permissions import Role
from tests.fixtures.mesh import REPO, Mesh
from tests.prompts.api_support import api, member, new_team

# Each `mno` process imports the CLI afresh (seconds on a loaded machine); the first test runs nine.
pytestmark = pytest.mark.timeout(600)

POLICY = """\
name: refund-policy
type: text
template: Refunds within {{ days }} days.
variables:
  days: {type: integer, default: 30}
"""

SUPPORT = """\
# The support bot's prompt.
name: support
type: chat
commit_message: first cut
variables:
  question: {type: string}
  days: {type: integer, default: 30}
includes:
  policy: {name: refund-policy, label: latest}
config: {model: gpt-4o-mini, temperature: 0.2}
messages:
  - {role: system, content: "{{ include.policy }}"}
  - {role: user, content: "{{ question }}"}
"""


@pytest.fixture
async def pool(mesh: Mesh, postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    found = await create_pool(postgres_dsn, min_size=1, max_size=2, command_timeout=30)
    try:
        yield found
    finally:
        await found.close()


def prompts(mesh: Mesh, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    return subprocess.run(
        [sys.executable, "-m", "mno.cli", "prompts", *args, "--url", mesh.edge_url, "--api-key", key],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run(mesh: Mesh, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(prompts, mesh, key, *args)


async def test_push_is_idempotent_and_status_diff_report_drift(
    mesh: Mesh, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """push saves both files once; a second push (reformatted file, same content) makes no version;
    status/diff exit 1 naming a changed file and its change; push saves only it; pull writes files
    that are in sync."""
    who = await member(pool, await new_team(pool), Role.MEMBER)
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "refund-policy.yaml").write_text(POLICY)
    (folder / "support.yaml").write_text(SUPPORT)
    first = await run(mesh, who.key, "push", str(folder))
    assert first.returncode == 0, first.stderr
    assert "2 new version(s)" in first.stdout

    # Same content, written differently: quoting, key order, a comment.
    (folder / "refund-policy.yaml").write_text(
        "# policy\nvariables:\n  days: {default: 30.0, type: integer}\ntype: 'text'\n"
        'name: refund-policy\ntemplate: "Refunds within {{ days }} days."\n'
    )
    second = await run(mesh, who.key, "push", str(folder))
    assert second.returncode == 0, second.stderr
    assert "0 new version(s)" in second.stdout
    in_sync = await run(mesh, who.key, "status", str(folder))
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
    assert "support: in sync" in in_sync.stdout

    (folder / "support.yaml").write_text(SUPPORT.replace("temperature: 0.2", "temperature: 0.5"))
    drift = await run(mesh, who.key, "status", str(folder))
    assert drift.returncode == 1
    assert "support: changed" in drift.stdout
    assert "refund-policy: in sync" in drift.stdout
    shown = await run(mesh, who.key, "diff", str(folder))
    assert shown.returncode == 1
    assert "config.temperature: changed 0.2 -> 0.5" in shown.stdout
    third = await run(mesh, who.key, "push", str(folder))
    assert third.returncode == 0, third.stderr
    assert "support: v2 saved" in third.stdout
    assert "1 new version(s)" in third.stdout

    status, versions, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/support/versions", who)
    assert status == 200
    assert [v["version"] for v in versions["items"]] == [2, 1]
    assert versions["items"][1]["commit_message"] == "first cut"

    pulled = tmp_path / "pulled"
    fetched = await run(mesh, who.key, "pull", str(pulled))
    assert fetched.returncode == 0, fetched.stderr
    assert sorted(p.name for p in pulled.iterdir()) == ["refund-policy.yaml", "support.yaml"]
    again = await run(mesh, who.key, "status", str(pulled))
    assert again.returncode == 0, again.stdout + again.stderr


async def test_a_bad_file_is_refused_before_anything_is_saved(
    mesh: Mesh, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A folder with one good and one bad file: push exits 2 naming the bad file's problem and saves
    nothing."""
    who = await member(pool, await new_team(pool), Role.MEMBER)
    (tmp_path / "refund-policy.yaml").write_text(POLICY)
    (tmp_path / "broken.yaml").write_text("name: broken\ntype: text\ntemplate: '{{ undeclared }}'\n")
    result = await run(mesh, who.key, "push", str(tmp_path))
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr
    assert "undeclared_variable" in result.stderr
    status, listed, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts", who)
    assert status == 200
    assert listed["items"] == []


def invoke(mesh: Mesh, key: str, *args: str) -> Result:
    """`mno prompts ...` in this process (Typer's runner; each call's asyncio.run on its own thread)."""
    return CliRunner().invoke(prompts_app, [*args, "--url", mesh.edge_url, "--api-key", key])


async def cli(mesh: Mesh, key: str, *args: str) -> Result:
    return await asyncio.to_thread(invoke, mesh, key, *args)


async def test_lock_pins_label_includes_and_status_reports_lock_drift(
    mesh: Mesh, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """lock records the version `refund-policy@latest` resolves to; a new policy version is lock drift
    (exit 1, naming prompt, include, locked and current version); pull rewrites the lock; push
    --locked saves the include pinned to the locked version; a lock that no longer matches the
    files' includes is refused (exit 2) and saves nothing."""
    who = await member(pool, await new_team(pool), Role.MEMBER)
    (tmp_path / "refund-policy.yaml").write_text(POLICY)
    (tmp_path / "support.yaml").write_text(SUPPORT)
    pushed = await cli(mesh, who.key, "push", str(tmp_path))
    assert pushed.exit_code == 0, pushed.output
    locked = await cli(mesh, who.key, "lock", str(tmp_path))
    assert locked.exit_code == 0, locked.output
    assert "support: policy = refund-policy@latest -> v1" in locked.output
    lock = lockfile.read((tmp_path / lockfile.LOCK_FILE).read_text())
    assert sorted(lock.prompts) == ["refund-policy", "support"]
    assert lock.prompts["support"].includes["policy"].version == 1
    clean = await cli(mesh, who.key, "status", str(tmp_path))
    assert clean.exit_code == 0, clean.output

    (tmp_path / "refund-policy.yaml").write_text(POLICY.replace("Refunds", "Full refunds"))
    moved = await cli(mesh, who.key, "push", str(tmp_path))
    assert "refund-policy: v2 saved" in moved.output
    drifted = await cli(mesh, who.key, "status", str(tmp_path))
    assert drifted.exit_code == 1, drifted.output
    assert "lock drift: support include policy (refund-policy@latest): locked v1, now v2" in drifted.output
    assert "support: in sync" in drifted.output

    pulled = await cli(mesh, who.key, "pull", str(tmp_path))
    assert pulled.exit_code == 0, pulled.output
    relocked = lockfile.read((tmp_path / lockfile.LOCK_FILE).read_text())
    assert relocked.prompts["support"].includes["policy"].version == 2
    assert (await cli(mesh, who.key, "status", str(tmp_path))).exit_code == 0

    pinned = await cli(mesh, who.key, "push", "--locked", str(tmp_path))
    assert pinned.exit_code == 0, pinned.output
    assert "support: v2 saved" in pinned.output
    status, found, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/support", who)
    assert status == 200
    policy = found["document"]["includes"]["policy"]
    assert (policy["name"], policy.get("label"), policy["version"]) == ("refund-policy", None, 2)
    again = await cli(mesh, who.key, "status", str(tmp_path))
    assert again.exit_code == 0, again.output

    (tmp_path / "support.yaml").write_text(SUPPORT.replace("label: latest", "label: production"))
    refused = await cli(mesh, who.key, "push", "--locked", str(tmp_path))
    assert refused.exit_code == 2
    assert "support include policy is not as locked" in refused.output
    status, versions, _ = await api(mesh.edge_url, "GET", "/api/v1/prompts/support/versions", who)
    assert [v["version"] for v in versions["items"]] == [2, 1]
