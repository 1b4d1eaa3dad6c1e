"""A mesh of the edge and the SupplyChainAgent of the module's own (own NATS and database: advisories
are shared by every team, so imports here must not reach other modules' agents), and HTTP helpers."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from yarl import URL

from services.identity import apikeys
from shared.db.postgres import create_pool
from shared.messages.agents import AgentName
from shared.messages.permissions import Permission, Role, permissions_of_roles
from tests.fixtures.mesh import REPO, TOKEN, MeshLauncher
from tests.fixtures.stack import scratch_database, start_nats
from tests.registry.pypackages import fresh_venv, index_url, installed_version, pip_install
from tests.supply_chain.snapshot import PYPA_SNAPSHOT

OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Env:
    base: str
    pool: asyncpg.Pool
    nats_url: str
    launcher: MeshLauncher


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


MESH_AGENTS = (AgentName.SUPER_AGENT, AgentName.SUPPLY_CHAIN)
REGISTRY_MESH = (AgentName.SUPER_AGENT, AgentName.ARTIFACT_MANAGER, AgentName.SUPPLY_CHAIN)


async def start(
    work: Path,
    postgres_dsn: str,
    *,
    overrides: dict[str, Any] | None = None,
    agents: tuple[AgentName, ...] = MESH_AGENTS,
) -> AsyncIterator[Env]:
    """A NATS server, a scratch database and `agents` (configured with `overrides`) of a module's own."""
    nats = start_nats(work / "nats")
    try:
        async with scratch_database(postgres_dsn) as dsn:
            launcher = MeshLauncher(work, nats.url, dsn, overrides=overrides or {})
            pool = None
            try:
                for agent in agents:
                    await asyncio.to_thread(launcher.start, agent)
                pool = await create_pool(dsn, min_size=1, max_size=3, command_timeout=30)
                yield Env(launcher.edge_url, pool, nats.url, launcher)
            finally:
                if pool is not None:
                    await pool.close()
                await asyncio.to_thread(launcher.stop_all)
    finally:
        nats.stop()


async def team(env: Env, role: Role = Role.OWNER) -> Team:
    """A new organisation's default team on the `local` plan (it includes supply_chain), and a key of
    the role's permissions."""
    async with env.pool.acquire() as conn:
        github_id = uuid.uuid4().int % 10**9
        account = await conn.fetchval(
            "INSERT INTO super_agent.accounts (github_id, login, kind) VALUES ($1, $2, 'Organization') "
            "RETURNING id",
            github_id,
            f"org-{uuid.uuid4().hex[:6]}",
        )
        await conn.execute(
            "INSERT INTO super_agent.subscriptions (account_github_id, account_id, status, plan_key, state) "
            "VALUES ($1, $2, 'active', 'local', '{}'::jsonb)",
            github_id,
            account,
        )
        team_id = await conn.fetchval(
            "INSERT INTO super_agent.teams (account_id, slug, name, is_default) "
            "VALUES ($1, 'main', 'Main', true) RETURNING id::text",
            account,
        )
        _, token = await apikeys.create(
            conn,
            team_id=team_id,
            name="k",
            permissions=sorted(permissions_of_roles((role.value,))),
            created_by=None,
        )
    return Team(team_id, str(token))


async def call(
    env: Env,
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    body: bytes | None = None,
    json_body: Any = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http,
        http.request(
            method, f"{env.base}{path}", headers=headers, data=body, json=json_body, params=params
        ) as response,
    ):
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def import_archive(env: Env, archive: bytes, source: str) -> dict[str, Any]:
    status, info = await call(
        env, "POST", "/api/v1/operator/advisories/import", OPERATOR, body=archive, params={"source": source}
    )
    assert status == 200, info
    assert isinstance(info, dict)
    return info


def osv_archive(*records: dict[str, Any]) -> bytes:
    """A tar.gz of OSV JSON records, as a database export ships them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for record in records:
            data = json.dumps(record).encode()
            member = tarfile.TarInfo(f"osv/{record['id']}.json")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def mno(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `mno` CLI in a process of its own, from the repository, with no MNO_ variable set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")} | {"COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "mno.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=REPO,
    )


def pypa_archive() -> bytes:
    return PYPA_SNAPSHOT.read_bytes()


READ = [Permission.SUPPLY_CHAIN_READ]


async def file_url(env: Env, who: Team, project: str, filename: str) -> str:
    """The absolute URL the team's page gives the file."""
    page_url = URL(f"{env.base}/registry/{who.team_id}/pypi/simple/{project}/")
    async with (
        aiohttp.ClientSession(headers=who.headers) as http,
        http.get(page_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"}) as response,
    ):
        page = await response.json(content_type=None)
        assert response.status == 200, page
    [url] = [f["url"] for f in page["files"] if f["filename"] == filename]
    return str(page_url.join(URL(url)))


def pip_through(tmp: Path, env: Env, who: Team, *requirements: str) -> Any:
    """Real pip, in a fresh venv, installing from the team's index (no dependencies)."""
    python = fresh_venv(tmp)
    return pip_install(python, index_url(env.base, who.team_id, who.key), "--no-deps", *requirements)


def pip_version(tmp: Path, env: Env, who: Team, requirement: str) -> str:
    """The version pip installed of `requirement` (its module's VERSION), or pip's error."""
    python = fresh_venv(tmp)
    result = pip_install(python, index_url(env.base, who.team_id, who.key), "--no-deps", requirement)
    if result.returncode != 0:
        return result.stderr
    return installed_version(python, requirement.split("=")[0].replace("-", "_"))
