"""Team download policies end to end: the edge, the ArtifactManagerAgent and the SupplyChainAgent as
real processes (real NATS, PostgreSQL, blob store), real pip against the team's index, a real
pypiserver as the upstream behind it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.messages.permissions import Role
from tests.registry.npmpackages import (
    NPM,
    npm,
    package_tarball,
    publish_document,
    put_document,
    registry_url,
    write_npmrc,
)
from tests.registry.peers import pypiserver
from tests.registry.pypackages import (
    minimal_wheel,
    upload_bytes,
)
from tests.supply_chain.mesh_support import (
    REGISTRY_MESH,
    Env,
    Team,
    call,
    file_url,
    import_archive,
    osv_archive,
    pip_through,
    pip_version,
    start,
    team,
)

# CVSS 3.1 base 7.5: high.
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
ADVISORY = {
    "schema_version": "1.6.0",
    "id": "MNO-POLICY-1",
    "modified": "2030-01-01T00:00:00Z",
    "summary": "acme-vuln trusts its input",
    "severity": [{"type": "CVSS_V3", "score": HIGH}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "acme-vuln"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
        }
    ],
}


NPM_ADVISORY = {
    "schema_version": "1.6.0",
    "id": "MNO-POLICY-NPM-1",
    "modified": "2030-01-01T00:00:00Z",
    "severity": [{"type": "CVSS_V3", "score": HIGH}],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "acme-vuln-js"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "2.0.0"}]}],
        }
    ],
}


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """Edge, registry and supply chain with one advisory imported, and pypiserver (upstream-lib 1.0
    and 2.0) behind every team's index."""
    work = tmp_path_factory.mktemp("download-policy")
    packages = work / "upstream"
    packages.mkdir()
    for version in ("1.0", "2.0"):
        filename, content = minimal_wheel("upstream-lib", version)
        (packages / filename).write_bytes(content)
    with pypiserver(packages, fallback=False) as upstream:
        upstreams = {"public": {"kind": "pypi", "url": f"{upstream}/simple/", "teams": ["*"]}}
        async for running in start(
            work,
            postgres_dsn,
            overrides={"registry": {"upstreams": upstreams}},
            agents=REGISTRY_MESH,
        ):
            info = await import_archive(running, osv_archive(ADVISORY, NPM_ADVISORY), "policy-test")
            assert info["status"] == "finished", info
            yield running


def _wheel(name: str, version: str, requires: str) -> tuple[str, bytes]:
    """A minimal wheel whose METADATA requires `requires` (pinned, so the SBOM resolves it)."""
    filename, content = minimal_wheel(name, version)
    stem = f"{name.replace('-', '_')}-{version}"
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as wheel:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == f"{stem}.dist-info/METADATA":
                data += f"Requires-Dist: {requires}\n".encode()
            wheel.writestr(item, data)
    return filename, out.getvalue()


async def _publish(env: Env, who: Team, name: str, version: str) -> str:
    filename, content = _wheel(name, version, "acme-vuln==1.0")
    status, text = await upload_bytes(env.base, who.team_id, who.key, name, version, filename, content)
    assert status == 200, text
    return filename


async def _set_policy(env: Env, who: Team, **policy: Any) -> dict[str, Any]:
    status, answer = await call(env, "PUT", "/api/v1/supply-chain/policy", who.headers, json_body=policy)
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


async def _download_status(env: Env, who: Team, url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(headers=who.headers) as http, http.get(url) as response:
        return response.status, (await response.text(errors="replace"))[:2000]


async def _until_download(env: Env, who: Team, url: str, status: int, seconds: float = 120) -> str:
    """The download's answer once it is `status` (blocks travel as events: they land soon, not at once)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        got, text = await _download_status(env, who, url)
        if got == status:
            return text
        assert asyncio.get_running_loop().time() < deadline, f"still {got} ({text[:300]}), wanted {status}"
        await asyncio.sleep(0.2)


async def test_a_high_finding_blocks_pip_until_triaged_and_only_in_its_team(env: Env, tmp_path: Path) -> None:
    """A version with an open high finding is refused to pip with 403 naming the finding while the page
    still lists it; triage to not_affected lets it through; the other team's download is never blocked."""
    strict, lax = await team(env), await team(env)
    policy = await _set_policy(env, strict, block_severity="high", quarantine_days=0)
    assert (policy["block_severity"], policy["updated_by"] is not None) == ("high", True)
    filename = await _publish(env, strict, "acme-app", "1.0")
    await _publish(env, lax, "acme-app", "1.0")
    url = await file_url(env, strict, "acme-app", filename)
    refusal = await _until_download(env, strict, url, 403)
    assert "MNO-POLICY-1 (high, acme-vuln@1.0" in refusal, refusal
    assert "/triage" in refusal, refusal

    result = await asyncio.to_thread(pip_through, tmp_path / "blocked", env, strict, "acme-app==1.0")
    assert result.returncode != 0
    assert "403" in result.stderr, result.stderr
    assert "blocked by your team's supply-chain policy" in result.stderr, result.stderr
    lax_result = await asyncio.to_thread(pip_through, tmp_path / "lax", env, lax, "acme-app==1.0")
    assert lax_result.returncode == 0, lax_result.stderr

    status, blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", strict.headers)
    assert status == 200, blocked
    [version] = blocked["items"]
    assert (version["name"], version["version"]) == ("acme-app", "1.0")
    [finding] = version["findings"]
    assert (finding["advisory_id"], finding["severity"], finding["package"]) == (
        "MNO-POLICY-1",
        "high",
        "acme-vuln@1.0",
    )
    _, lax_blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", lax.headers)
    assert lax_blocked["items"] == []

    status, triaged = await call(
        env,
        "POST",
        f"/api/v1/vulnerabilities/{finding['finding_id']}/triage",
        strict.headers,
        json_body={"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    )
    assert status == 200, triaged
    await _until_download(env, strict, url, 200)
    result = await asyncio.to_thread(pip_through, tmp_path / "triaged", env, strict, "acme-app==1.0")
    assert result.returncode == 0, result.stderr


async def test_an_override_allows_a_version_and_is_audited(env: Env, tmp_path: Path) -> None:
    """An override lets pip download a blocked version; withdrawing it blocks it again; both audited."""
    owner = await team(env)
    await _set_policy(env, owner, block_severity="medium")
    filename = await _publish(env, owner, "acme-app", "1.1")
    url = await file_url(env, owner, "acme-app", filename)
    await _until_download(env, owner, url, 403)

    status, override = await call(
        env,
        "POST",
        "/api/v1/supply-chain/policy/overrides",
        owner.headers,
        json_body={"ecosystem": "pypi", "name": "ACME_App", "version": "v1.1", "reason": "not reachable"},
    )
    assert status == 201, override
    assert (override["name"], override["version"]) == ("acme-app", "1.1")
    status, again = await call(
        env,
        "POST",
        "/api/v1/supply-chain/policy/overrides",
        owner.headers,
        json_body={"ecosystem": "pypi", "name": "acme-app", "version": "1.1", "reason": "twice"},
    )
    assert status == 409, again
    await _until_download(env, owner, url, 200)
    result = await asyncio.to_thread(pip_through, tmp_path / "allowed", env, owner, "acme-app==1.1")
    assert result.returncode == 0, result.stderr

    status, _ = await call(
        env, "DELETE", f"/api/v1/supply-chain/policy/overrides/{override['id']}", owner.headers
    )
    assert status == 200
    await _until_download(env, owner, url, 403)
    actions = await env.pool.fetch(
        "SELECT action FROM super_agent.audit_entries WHERE team_id = $1::uuid "
        "AND action LIKE 'supply_chain.%' ORDER BY seq",
        owner.team_id,
    )
    assert [r["action"] for r in actions] == [
        "supply_chain.policy_set",
        "supply_chain.override_create",
        "supply_chain.override_delete",
    ]


async def test_policy_routes_refuse_bad_input_and_readers(env: Env) -> None:
    """A severity or quarantine outside the lists is a 422; a read-only key reads but cannot change;
    a member's key cannot change the policy or its overrides either, though it may scan and upload."""
    owner = await team(env)
    for body in ({"block_severity": "severe"}, {"quarantine_days": -1}, {"quarantine_days": 10_000}):
        status, answer = await call(env, "PUT", "/api/v1/supply-chain/policy", owner.headers, json_body=body)
        assert status == 422, (body, answer)
    viewer = await team(env, Role.VIEWER)
    status, policy = await call(env, "GET", "/api/v1/supply-chain/policy", viewer.headers)
    assert (status, policy["block_severity"], policy["quarantine_days"]) == (200, "none", 0)
    status, _ = await call(
        env, "PUT", "/api/v1/supply-chain/policy", viewer.headers, json_body={"block_severity": "low"}
    )
    assert status == 403
    status, missing = await call(
        env,
        "DELETE",
        "/api/v1/supply-chain/policy/overrides/00000000-0000-0000-0000-000000000000",
        owner.headers,
    )
    assert status == 404, missing
    member = await team(env, Role.MEMBER)
    override = {"ecosystem": "PyPI", "name": "jinja2", "version": "2.10", "reason": "we need it"}
    for method, path, body in (
        ("PUT", "/api/v1/supply-chain/policy", {"block_severity": "none"}),
        ("POST", "/api/v1/supply-chain/policy/overrides", override),
    ):
        status, refused = await call(env, method, path, member.headers, json_body=body)
        assert status == 403, (path, refused)
        assert refused["error"]["code"] == "forbidden", refused
    # Scanning without storing is a read (CI keys); storing an SBOM is a member's write.
    lockfile = {"filename": "requirements.txt"}
    for who, expected in ((viewer, 200), (member, 200)):
        status, scanned = await call(
            env, "POST", "/api/v1/supply-chain/scan", who.headers, body=b"jinja2==2.10\n", params=lockfile
        )
        assert status == expected, scanned
    status, _ = await call(
        env, "POST", "/api/v1/sboms", viewer.headers, body=b"jinja2==2.10\n", params=lockfile
    )
    assert status == 403
    status, stored = await call(
        env, "POST", "/api/v1/sboms", member.headers, body=b"jinja2==2.10\n", params=lockfile
    )
    assert status == 201, stored


async def test_quarantine_hides_young_upstream_versions(env: Env, tmp_path: Path) -> None:
    """With a 3-day quarantine the team's page leaves off upstream versions first seen less than 3 days
    ago (pypiserver gives no upload time) and refuses their files; pip then gets the older version;
    a team without quarantine gets the newest."""
    careful, other = await team(env), await team(env)
    await _set_policy(env, careful, quarantine_days=3)
    for _ in range(600):
        status, text = await call(
            env, "GET", f"/registry/{careful.team_id}/pypi/simple/upstream-lib/", careful.headers
        )
        if status == 404:
            break
        await asyncio.sleep(0.2)
    assert status == 404, text
    assert "quarantine" in str(text), text
    # Time passes for 1.0 only: its first sighting moves 4 days back.
    await env.pool.execute(
        "UPDATE artifact_manager.upstream_versions SET first_seen = now() - interval '4 days' "
        "WHERE name = 'upstream-lib' AND version = '1.0'"
    )
    assert await asyncio.to_thread(pip_version, tmp_path / "careful", env, careful, "upstream-lib") == "1.0"
    result = await asyncio.to_thread(pip_through, tmp_path / "pinned", env, careful, "upstream-lib==2.0")
    assert result.returncode != 0
    assert await asyncio.to_thread(pip_version, tmp_path / "other", env, other, "upstream-lib") == "2.0"
    # The file itself, asked for by the URL another team's page gives: refused, saying why.
    url = await file_url(env, other, "upstream-lib", "upstream_lib-2.0-py3-none-any.whl")
    status, text = await _download_status(env, careful, url.replace(other.team_id, careful.team_id))
    assert status == 403, text
    assert "quarantined" in text, text


async def test_npm_gets_a_json_403_naming_the_finding(env: Env, tmp_path: Path) -> None:
    """A blocked npm tarball is a 403 whose `error` names the finding (what npm prints); real npm
    fails to fetch it; the packument still lists the version."""
    owner = await team(env)
    await _set_policy(env, owner, block_severity="high")
    content = package_tarball("acme-app-js", "1.0.0")
    document = publish_document("acme-app-js", "1.0.0", content, dependencies={"acme-vuln-js": "1.0.0"})
    status, answer = await put_document(env.base, owner.team_id, owner.key, "acme-app-js", document)
    assert status in (200, 201), answer
    url = f"{registry_url(env.base, owner.team_id)}acme-app-js/-/acme-app-js-1.0.0.tgz"
    text = await _until_download(env, owner, url, 403)
    error = json.loads(text)["error"]
    assert "MNO-POLICY-NPM-1 (high, acme-vuln-js@1.0.0" in error, error
    _, packument = await call(env, "GET", f"/registry/{owner.team_id}/npm/acme-app-js", owner.headers)
    assert "1.0.0" in packument["versions"]
    if NPM is not None:
        rc = write_npmrc(tmp_path, env.base, owner.team_id, owner.key)
        result = await asyncio.to_thread(npm, ["pack", "acme-app-js@1.0.0"], tmp_path, rc)
        assert result.returncode != 0
        assert "403" in result.stderr, result.stderr


def _mno(*args: str) -> Any:
    """The `mno` command line, as a user runs it (no MNO_ variables of this process; a wide terminal,
    so tables are not cut)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")} | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mno.cli", *args], env=clean, capture_output=True, text=True, timeout=60
    )


async def test_mno_supply_chain_policy_and_blocked(env: Env) -> None:
    """`mno supply-chain policy` shows the defaults, changes only the part it is given (the API then
    answers both), a reader's key is refused with exit 2; `mno supply-chain blocked` lists the blocked
    version with its finding (table and --json) and says when none is blocked."""
    owner, reader = await team(env), await team(env, Role.VIEWER)
    edge = ["--url", env.base, "--api-key", owner.key]
    shown = await asyncio.to_thread(_mno, "supply-chain", "policy", *edge)
    assert shown.returncode == 0, shown.stderr
    assert "block_severity: none" in shown.stdout
    assert "never" in shown.stdout
    none = await asyncio.to_thread(_mno, "supply-chain", "blocked", *edge)
    assert (none.returncode, none.stdout.strip()) == (0, "no version is blocked"), none.stderr

    days = await asyncio.to_thread(_mno, "supply-chain", "policy", "--quarantine-days", "4", *edge)
    assert days.returncode == 0, days.stderr
    high = await asyncio.to_thread(
        _mno, "supply-chain", "policy", "--block-severity", "high", "--json", *edge
    )
    assert high.returncode == 0, high.stderr
    assert (json.loads(high.stdout)["block_severity"], json.loads(high.stdout)["quarantine_days"]) == (
        "high",
        4,
    )
    status, policy = await call(env, "GET", "/api/v1/supply-chain/policy", owner.headers)
    assert (status, policy["block_severity"], policy["quarantine_days"]) == (200, "high", 4)
    wrong = await asyncio.to_thread(_mno, "supply-chain", "policy", "--block-severity", "severe", *edge)
    assert wrong.returncode == 2
    refused = await asyncio.to_thread(
        _mno, "supply-chain", "policy", "--block-severity", "low", "--url", env.base, "--api-key", reader.key
    )
    assert refused.returncode == 2
    assert "403" in refused.stderr, refused.stderr

    await _publish(env, owner, "acme-app", "3.0")

    async def listed() -> Any:
        result = await asyncio.to_thread(_mno, "supply-chain", "blocked", "--json", *edge)
        assert result.returncode == 0, result.stderr
        items = json.loads(result.stdout)["items"]
        return items if items else None

    deadline = asyncio.get_running_loop().time() + 90
    while (items := await listed()) is None:
        assert asyncio.get_running_loop().time() < deadline, "acme-app 3.0 was never blocked"
        await asyncio.sleep(0.5)
    [version] = items
    assert (version["name"], version["version"]) == ("acme-app", "3.0")
    assert version["findings"][0]["advisory_id"] == "MNO-POLICY-1"
    table = await asyncio.to_thread(_mno, "supply-chain", "blocked", *edge)
    assert table.returncode == 0, table.stderr
    assert "MNO-POLICY-1" in table.stdout
    assert "1 versions blocked" in table.stdout
