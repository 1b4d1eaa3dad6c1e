"""Download policies over the versions a team's index serves from its upstreams, end to end: the edge,
the ArtifactManagerAgent and the SupplyChainAgent as real processes (real NATS, PostgreSQL, blob
store), a real pypiserver and a real Verdaccio as the public indexes behind every team's, real pip
and npm against the team's index, and test advisories naming upstream versions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from services.registry.upstream_matching import UpstreamMatching
from shared.bus.client import Bus
from shared.bus.codec import decode_message
from shared.bus.context import MessageContext
from shared.bus.errors import RemoteError
from shared.db.outbox import Outbox
from shared.messages.artifacts import Ecosystem, RegistryChanged, UpstreamVersion
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.registry import REGISTRY_CHANGED, SC_UPSTREAM_VERSION
from tests.registry.npmpackages import NPM, npm, package_tarball, publish_document, registry_url, write_npmrc
from tests.registry.peers import pypiserver, verdaccio
from tests.registry.pypackages import minimal_wheel
from tests.supply_chain.mesh_support import (
    REGISTRY_MESH,
    Env,
    Team,
    call,
    file_url,
    import_archive,
    mno,
    osv_archive,
    pip_through,
    pip_version,
    start,
    team,
)

# CVSS 3.1 base 7.5: high.
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"


def _advisory(
    advisory_id: str, ecosystem: str, name: str, fixed: str, *, rated: bool = True
) -> dict[str, Any]:
    """An OSV record naming every version of `name` before `fixed`; rated high, or with no severity."""
    kind = "ECOSYSTEM" if ecosystem == "PyPI" else "SEMVER"
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": "2030-01-01T00:00:00Z",
        "summary": f"{name} trusts its input",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": kind, "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }
    if rated:
        record["severity"] = [{"type": "CVSS_V3", "score": HIGH}]
    return record


ADVISORIES = (
    _advisory("MNO-UPSTREAM-1", "PyPI", "vuln-up", "2.0"),
    _advisory("MNO-UPSTREAM-UNRATED", "PyPI", "unrated-up", "2.0", rated=False),
    _advisory("MNO-UPSTREAM-NPM-1", "npm", "vuln-up-js", "2.0.0"),
)
# Imported by a test, after the version was taken.
LATE_ADVISORY = _advisory("MNO-UPSTREAM-LATE", "PyPI", "late-up", "2.0")
# On the upstreams: (name, version).
PYTHON_PACKAGES = [
    ("vuln-up", "1.0"),
    ("vuln-up", "2.0"),
    ("unrated-up", "1.0"),
    ("late-up", "1.0"),
    ("young-up", "1.0"),
    ("young-up", "2.0"),
]
NPM_PACKAGES = [("vuln-up-js", "1.0.0"), ("vuln-up-js", "2.0.0")]


async def _seed_verdaccio(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for name, version in NPM_PACKAGES:
            document = publish_document(name, version, package_tarball(name, version))
            async with http.put(f"{url}/{name}", json=document) as response:
                assert response.status in (200, 201), await response.text()


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """Edge, registry and supply chain of this module's own, with ADVISORIES imported; pypiserver and
    Verdaccio (PYTHON_PACKAGES, NPM_PACKAGES) behind every team's index."""
    work = tmp_path_factory.mktemp("upstream-policy")
    packages = work / "pypi"
    packages.mkdir()
    for name, version in PYTHON_PACKAGES:
        filename, content = minimal_wheel(name, version)
        (packages / filename).write_bytes(content)
    (work / "verdaccio").mkdir()
    with pypiserver(packages, fallback=False) as pypi, verdaccio(work / "verdaccio") as npm_upstream:
        await _seed_verdaccio(npm_upstream)
        upstreams = {
            "pypi-public": {"kind": "pypi", "url": f"{pypi}/simple/", "teams": ["*"]},
            "npm-public": {"kind": "npm", "url": npm_upstream, "teams": ["*"]},
        }
        async for running in start(
            work,
            postgres_dsn,
            overrides={"registry": {"upstreams": upstreams}},
            agents=REGISTRY_MESH,
        ):
            info = await import_archive(running, osv_archive(*ADVISORIES), "upstream-policy")
            assert info["status"] == "finished", info
            yield running


# --- helpers -------------------------------------------------------------------------------------


async def _until(check: Any, what: str, seconds: float = 90) -> Any:
    """`check()`'s first truthy answer (decisions travel as events: they land soon, not at once)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        answer = await check()
        if answer:
            return answer
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)


async def _set_policy(env: Env, who: Team, **policy: Any) -> dict[str, Any]:
    """The policy set through the API, once the registry applies it (it learns by an event whether the
    team blocks downloads and how long its quarantine is)."""
    status, answer = await call(env, "PUT", "/api/v1/supply-chain/policy", who.headers, json_body=policy)
    assert status == 200, answer
    assert isinstance(answer, dict)

    async def applied() -> bool:
        row = await env.pool.fetchrow(
            "SELECT block_severity, quarantine_days FROM artifact_manager.download_policies "
            "WHERE team_id = $1::uuid",
            who.team_id,
        )
        return row is not None and (row["block_severity"], row["quarantine_days"]) == (
            answer["block_severity"],
            answer["quarantine_days"],
        )

    await _until(applied, f"the registry never applied {answer}")
    return answer


async def _get(who: Team, url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(headers=who.headers) as http, http.get(url) as response:
        return response.status, (await response.text(errors="replace"))[:3000]


async def _until_status(who: Team, url: str, status: int) -> str:
    async def reached() -> str | None:
        got, text = await _get(who, url)
        return text or "(empty)" if got == status else None

    answer: str = await _until(reached, f"{url} never answered {status}")
    return answer


async def _findings(env: Env, who: Team, advisory_id: str) -> list[dict[str, Any]]:
    status, found = await call(env, "GET", "/api/v1/vulnerabilities", who.headers, params={"limit": "500"})
    assert status == 200, found
    return [f for f in found["items"] if f["advisory_id"] == advisory_id]


async def _audit(env: Env, who: Team) -> list[tuple[str, Any]]:
    """The team's supply-chain audit entries: (action, what it changed to)."""
    rows = await env.pool.fetch(
        "SELECT action, after FROM super_agent.audit_entries WHERE team_id = $1::uuid "
        "AND action LIKE 'supply_chain.%' ORDER BY seq",
        who.team_id,
    )
    return [(r["action"], r["after"]) for r in rows]


class Notices:
    """The `registry_changed` notices every edge hears (the edge drops a team's cached reads on one)."""

    def __init__(self) -> None:
        self.heard: list[RegistryChanged] = []

    async def receive(self, msg: Any) -> None:
        self.heard.append(decode_message(msg.data, RegistryChanged)[1])

    def about(self, who: Team, name: str) -> int:
        return sum(1 for n in self.heard if n.team_id == who.team_id and n.name == name)


@pytest.fixture
async def notices(env: Env) -> AsyncIterator[Notices]:
    client = await nats.connect(env.nats_url)
    heard = Notices()
    try:
        await client.subscribe(REGISTRY_CHANGED.subject, cb=heard.receive)
        await client.flush()
        yield heard
    finally:
        await client.close()


# --- tests ---------------------------------------------------------------------------------------


async def test_pip_gets_the_403_for_a_vulnerable_upstream_version_until_triaged_and_only_in_its_team(
    env: Env, tmp_path: Path, notices: Notices
) -> None:
    """Under `high`, pip's first install of a named upstream version is a 403 until triaged; its team only."""
    strict, lax = await team(env), await team(env)
    await _set_policy(env, strict, block_severity="high")

    refused = await asyncio.to_thread(pip_through, tmp_path / "strict", env, strict, "vuln-up==1.0")
    assert refused.returncode != 0
    assert "403" in refused.stderr, refused.stderr
    assert "blocked by your team's supply-chain policy" in refused.stderr, refused.stderr
    assert "MNO-UPSTREAM-1" in refused.stderr, refused.stderr
    assert await asyncio.to_thread(pip_version, tmp_path / "lax", env, lax, "vuln-up==1.0") == "1.0"
    assert await asyncio.to_thread(pip_version, tmp_path / "fixed", env, strict, "vuln-up==2.0") == "2.0"

    [finding] = await _findings(env, strict, "MNO-UPSTREAM-1")
    assert (finding["package"], finding["version"], finding["severity"]["rating"]) == (
        "vuln-up",
        "1.0",
        "high",
    )
    assert finding["triage"] == "under_investigation"
    status, sboms = await call(
        env, "GET", "/api/v1/sboms", strict.headers, params={"source": "upstream", "subject_name": "vuln-up"}
    )
    assert status == 200, sboms
    assert {(s["subject_name"], s["subject_version"]) for s in sboms["items"]} == {
        ("vuln-up", "1.0"),
        ("vuln-up", "2.0"),
    }
    status, blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", strict.headers)
    assert status == 200, blocked
    [version] = blocked["items"]
    assert (version["ecosystem"], version["name"], version["version"]) == ("pypi", "vuln-up", "1.0")
    assert [f["finding_id"] for f in version["findings"]] == [finding["id"]]
    # The lax team holds the finding too (its version was matched), and nothing of it is blocked.
    assert [f["version"] for f in await _findings(env, lax, "MNO-UPSTREAM-1")] == ["1.0"]
    _, lax_blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", lax.headers)
    assert lax_blocked["items"] == []

    # The block reached the registry, which told the edges to drop the team's cached reads.
    url = await file_url(env, strict, "vuln-up", "vuln_up-1.0-py3-none-any.whl")
    text = await _until_status(strict, url, 403)
    assert f"MNO-UPSTREAM-1 (high, vuln-up@1.0, finding {finding['id']})" in text, text

    async def told() -> bool:
        return notices.about(strict, "vuln-up") > 0

    await _until(told, "no registry_changed notice for the block")
    before = notices.about(strict, "vuln-up")

    status, triaged = await call(
        env,
        "POST",
        f"/api/v1/vulnerabilities/{finding['id']}/triage",
        strict.headers,
        json_body={"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    )
    assert status == 200, triaged
    await _until_status(strict, url, 200)
    assert notices.about(strict, "vuln-up") > before  # the release dropped the edges' reads too
    assert await asyncio.to_thread(pip_version, tmp_path / "triaged", env, strict, "vuln-up==1.0") == "1.0"
    actions = [action for action, _ in await _audit(env, strict)]
    assert actions == ["supply_chain.policy_set", "supply_chain.triage"]


async def test_an_override_lets_a_blocked_upstream_version_through_and_is_audited(
    env: Env, tmp_path: Path
) -> None:
    """An audited override lets pip install a blocked upstream version; withdrawn, it is a 403 again."""
    owner = await team(env)
    await _set_policy(env, owner, block_severity="medium")
    refused = await asyncio.to_thread(pip_through, tmp_path / "refused", env, owner, "vuln-up==1.0")
    assert refused.returncode != 0
    assert "MNO-UPSTREAM-1" in refused.stderr, refused.stderr

    status, override = await call(
        env,
        "POST",
        "/api/v1/supply-chain/policy/overrides",
        owner.headers,
        json_body={"ecosystem": "pypi", "name": "Vuln_Up", "version": "1.0", "reason": "sandboxed"},
    )
    assert status == 201, override
    assert (override["name"], override["version"]) == ("vuln-up", "1.0")
    url = await file_url(env, owner, "vuln-up", "vuln_up-1.0-py3-none-any.whl")
    await _until_status(owner, url, 200)
    assert await asyncio.to_thread(pip_version, tmp_path / "allowed", env, owner, "vuln-up==1.0") == "1.0"

    status, _ = await call(
        env, "DELETE", f"/api/v1/supply-chain/policy/overrides/{override['id']}", owner.headers
    )
    assert status == 200
    text = await _until_status(owner, url, 403)
    assert "MNO-UPSTREAM-1" in text, text
    audit = await _audit(env, owner)
    assert [action for action, _ in audit] == [
        "supply_chain.policy_set",
        "supply_chain.override_create",
        "supply_chain.override_delete",
    ]
    assert audit[1][1] == {
        "ecosystem": "pypi",
        "name": "vuln-up",
        "version": "1.0",
        "reason": "sandboxed",
    }


async def test_an_advisory_imported_later_blocks_an_upstream_version_already_taken(
    env: Env, tmp_path: Path
) -> None:
    """An advisory imported after an upstream version was taken re-matches it and blocks its files."""
    owner = await team(env)
    await _set_policy(env, owner, block_severity="high")
    assert await asyncio.to_thread(pip_version, tmp_path / "before", env, owner, "late-up==1.0") == "1.0"
    url = await file_url(env, owner, "late-up", "late_up-1.0-py3-none-any.whl")
    assert (await _get(owner, url))[0] == 200

    info = await import_archive(env, osv_archive(LATE_ADVISORY), "upstream-policy-late")
    assert (info["status"], info["new"]) == ("finished", 1), info
    text = await _until_status(owner, url, 403)
    assert "MNO-UPSTREAM-LATE (high, late-up@1.0" in text, text
    [finding] = await _findings(env, owner, "MNO-UPSTREAM-LATE")
    assert (finding["package"], finding["version"]) == ("late-up", "1.0")
    refused = await asyncio.to_thread(pip_through, tmp_path / "after", env, owner, "late-up==1.0")
    assert refused.returncode != 0
    assert "403" in refused.stderr, refused.stderr


async def test_unrated_findings_block_only_when_the_policy_says_so(env: Env, tmp_path: Path) -> None:
    """Unrated findings block only under `block_unrated`, kept when a change omits it, switched by the CLI."""
    owner = await team(env)
    policy = await _set_policy(env, owner, block_severity="high")
    assert policy["block_unrated"] is False
    assert await asyncio.to_thread(pip_version, tmp_path / "off", env, owner, "unrated-up==1.0") == "1.0"
    [finding] = await _findings(env, owner, "MNO-UPSTREAM-UNRATED")
    assert finding["severity"]["rating"] is None

    policy = await _set_policy(env, owner, block_severity="high", block_unrated=True)
    assert policy["block_unrated"] is True
    url = await file_url(env, owner, "unrated-up", "unrated_up-1.0-py3-none-any.whl")
    text = await _until_status(owner, url, 403)
    assert f"MNO-UPSTREAM-UNRATED (unrated, unrated-up@1.0, finding {finding['id']})" in text, text
    _, blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", owner.headers)
    [version] = blocked["items"]
    assert [(f["advisory_id"], f["severity"]) for f in version["findings"]] == [
        ("MNO-UPSTREAM-UNRATED", None)
    ]

    kept = await _set_policy(env, owner, block_severity="critical")
    assert kept["block_unrated"] is True
    assert (await _get(owner, url))[0] == 403

    # From a terminal: `--ignore-unrated` changes that part only; the version is served again.
    edge = ["--url", env.base, "--api-key", owner.key]
    shown = await asyncio.to_thread(mno, "supply-chain", "policy", "--ignore-unrated", "--json", *edge)
    assert shown.returncode == 0, shown.stderr
    assert (json.loads(shown.stdout)["block_severity"], json.loads(shown.stdout)["block_unrated"]) == (
        "critical",
        False,
    )
    await _until_status(owner, url, 200)
    plain = await asyncio.to_thread(mno, "supply-chain", "policy", *edge)
    assert "block_unrated: false" in plain.stdout, plain.stdout
    audit = await _audit(env, owner)
    assert [after["block_unrated"] for _, after in audit] == [False, True, True, False]


async def test_an_override_lets_a_quarantined_upstream_version_through_in_its_team_only(
    env: Env, tmp_path: Path
) -> None:
    """An audited override lets a quarantined upstream version through for its team only, until withdrawn."""
    careful, other = await team(env), await team(env)
    await _set_policy(env, careful, quarantine_days=3)
    await _set_policy(env, other, quarantine_days=3)
    page = f"/registry/{careful.team_id}/pypi/simple/young-up/"
    status, text = await call(env, "GET", page, careful.headers)
    assert status == 404, text  # every version is new: first seen just now
    # Time passes for 1.0 only: its first sighting moves 4 days back.
    await env.pool.execute(
        "UPDATE artifact_manager.upstream_versions SET first_seen = now() - interval '4 days' "
        "WHERE name = 'young-up' AND version = '1.0'"
    )
    assert await asyncio.to_thread(pip_version, tmp_path / "aged", env, careful, "young-up") == "1.0"
    refused = await asyncio.to_thread(pip_through, tmp_path / "young", env, careful, "young-up==2.0")
    assert refused.returncode != 0

    status, override = await call(
        env,
        "POST",
        "/api/v1/supply-chain/policy/overrides",
        careful.headers,
        json_body={"ecosystem": "pypi", "name": "young-up", "version": "2.0", "reason": "reviewed the diff"},
    )
    assert status == 201, override

    async def listed() -> bool:
        status, found = await call(env, "GET", page, careful.headers)
        return status == 200 and "young_up-2.0-py3-none-any.whl" in str(found)

    await _until(listed, "the override never let young-up 2.0 through the quarantine")
    assert await asyncio.to_thread(pip_version, tmp_path / "allowed", env, careful, "young-up") == "2.0"
    assert await asyncio.to_thread(pip_version, tmp_path / "other", env, other, "young-up") == "1.0"
    url = await file_url(env, careful, "young-up", "young_up-2.0-py3-none-any.whl")
    status, text = await _get(other, url.replace(careful.team_id, other.team_id))
    assert status == 403, text
    assert "quarantined" in text, text

    status, _ = await call(
        env, "DELETE", f"/api/v1/supply-chain/policy/overrides/{override['id']}", careful.headers
    )
    assert status == 200
    text = await _until_status(careful, url, 403)
    assert "quarantined" in text, text
    assert [action for action, _ in await _audit(env, careful)] == [
        "supply_chain.policy_set",
        "supply_chain.override_create",
        "supply_chain.override_delete",
    ]


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
async def test_npm_gets_the_json_403_for_a_vulnerable_upstream_version(env: Env, tmp_path: Path) -> None:
    """npm gets the JSON 403 naming the finding for a blocked upstream tarball; other teams are served."""
    strict, lax = await team(env), await team(env)
    await _set_policy(env, strict, block_severity="high")
    url = f"{registry_url(env.base, strict.team_id)}vuln-up-js/-/vuln-up-js-1.0.0.tgz"
    status, text = await _get(strict, url)
    assert status == 403, text
    error = json.loads(text)["error"]
    assert "MNO-UPSTREAM-NPM-1 (high, vuln-up-js@1.0.0" in error, error
    _, packument = await call(env, "GET", f"/registry/{strict.team_id}/npm/vuln-up-js", strict.headers)
    assert sorted(packument["versions"]) == ["1.0.0", "2.0.0"]
    rc = write_npmrc(tmp_path, env.base, strict.team_id, strict.key)
    result = await asyncio.to_thread(npm, ["pack", "vuln-up-js@1.0.0"], tmp_path, rc)
    assert result.returncode != 0
    assert "403" in result.stderr, result.stderr
    fixed = await asyncio.to_thread(npm, ["pack", "vuln-up-js@2.0.0"], tmp_path, rc)
    assert fixed.returncode == 0, fixed.stderr
    lax_url = url.replace(strict.team_id, lax.team_id)
    assert (await _get(lax, lax_url))[0] == 200
    [finding] = await _findings(env, strict, "MNO-UPSTREAM-NPM-1")
    assert (finding["package"], finding["version"]) == ("vuln-up-js", "1.0.0")


async def test_only_agents_may_ask_whether_an_upstream_version_is_blocked(env: Env) -> None:
    """A team's principal cannot ask `upstream_version` (it names its team): 403, nothing stored."""
    owner, victim = await team(env), await team(env)
    client = await nats.connect(env.nats_url)
    try:
        bus = Bus(client, source="test", request_timeout=15)
        asked = UpstreamVersion(
            team_id=victim.team_id,
            ecosystem=Ecosystem.PYPI,
            upstream="pypi-public",
            name="vuln-up",
            version="1.0",
            filename="vuln_up-1.0-py3-none-any.whl",
            sha256="0" * 64,
        )
        principal = Principal(team_id=owner.team_id, roles=("owner",), api_key_id=str(uuid.uuid4()))
        with pytest.raises(RemoteError) as refused:
            await bus.request(SC_UPSTREAM_VERSION, asked, MessageContext(principal=principal))
        assert refused.value.body.code == ErrorCode.FORBIDDEN
    finally:
        await client.close()
    assert await _findings(env, victim, "MNO-UPSTREAM-1") == []


async def test_files_cached_before_matching_existed_are_announced_and_matched(env: Env) -> None:
    """Upstream files cached before matching existed are announced, matched, and blocked under a policy."""
    owner = await team(env)
    await _set_policy(env, owner, block_severity="high")
    await env.pool.execute(
        "INSERT INTO artifact_manager.upstream_files (team_id, ecosystem, upstream, name, version, filename, "
        "sha256, size, upstream_digest) VALUES ($1::uuid, 'pypi', 'pypi-public', 'vuln-up', '1.0', "
        "'vuln_up-1.0-py3-none-any.whl', $2, 1, $2)",
        owner.team_id,
        "ab" * 32,
    )
    client = await nats.connect(env.nats_url)
    try:
        bus = Bus(client, source="test", request_timeout=15)
        outbox = Outbox(env.pool, bus, agent="artifact_manager", schema="artifact_manager")
        # The agent's own pass (every minute) may take the row first: either announces it once.
        await UpstreamMatching(env.pool, bus, outbox).announce_pending()
        await outbox.close()
    finally:
        await client.close()

    async def matched() -> list[dict[str, Any]]:
        return await _findings(env, owner, "MNO-UPSTREAM-1")

    [finding] = await _until(matched, "the cached file's version was never matched")
    assert (finding["package"], finding["version"]) == ("vuln-up", "1.0")
    assert await env.pool.fetchval(
        "SELECT announced FROM artifact_manager.upstream_files WHERE team_id = $1::uuid", owner.team_id
    )

    async def blocked() -> list[Any]:
        _, found = await call(env, "GET", "/api/v1/supply-chain/blocked", owner.headers)
        return list(found["items"])

    [version] = await _until(blocked, "the matched version was never blocked")
    assert (version["name"], version["version"]) == ("vuln-up", "1.0")
