"""Triage per product, end to end (edge, registry and supply chain as real processes, real pip-format
uploads): two applications pin the same vulnerable version; a decision scoped to one of them (its
registry version, or an uploaded SBOM by id) changes that product's findings, VEX exports and download
block only, wins over the team-wide decision there whatever the team-wide one becomes, and is audited
with its scope; products of another team, or without the finding, are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.registry.pypackages import upload_bytes
from tests.supply_chain.mesh_support import (
    REGISTRY_MESH,
    Env,
    Team,
    call,
    file_url,
    import_archive,
    osv_archive,
    start,
    team,
)
from tests.supply_chain.test_download_policy import ADVISORY, _wheel

NOT_REACHABLE = {"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}
AFFECTED = {"status": "affected", "action_statement": "upgrade acme-vuln to 2.0"}
VULN = "pkg:pypi/acme-vuln@1.0"


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """Edge, registry and supply chain of the module's own, with a high advisory on acme-vuln < 2.0."""
    async for running in start(tmp_path_factory.mktemp("product-triage"), postgres_dsn, agents=REGISTRY_MESH):
        info = await import_archive(running, osv_archive(ADVISORY), "product-triage-test")
        assert info["status"] == "finished", info
        yield running


async def _publish(env: Env, who: Team, name: str) -> str:
    filename, content = _wheel(name, "1.0", "acme-vuln==1.0")
    status, text = await upload_bytes(env.base, who.team_id, who.key, name, "1.0", filename, content)
    assert status == 200, text
    return filename


async def _finding_of(env: Env, who: Team, name: str) -> dict[str, Any]:
    """The acme-vuln finding of the app's version SBOM, once the SupplyChainAgent has made it."""
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        status, sboms = await call(
            env, "GET", "/api/v1/sboms", who.headers, params={"source": "artifact", "subject_name": name}
        )
        assert status == 200, sboms
        if sboms["items"]:
            status, findings = await call(
                env,
                "GET",
                "/api/v1/vulnerabilities",
                who.headers,
                params={"sbom_id": sboms["items"][0]["id"]},
            )
            assert status == 200, findings
            [finding] = findings["items"]
            assert isinstance(finding, dict)
            return finding
        assert asyncio.get_running_loop().time() < deadline, f"no SBOM of {name}"
        await asyncio.sleep(0.3)


async def _triage(env: Env, who: Team, finding: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    return await call(
        env, "POST", f"/api/v1/vulnerabilities/{finding['id']}/triage", who.headers, json_body=body
    )


async def _listed(env: Env, who: Team, finding: dict[str, Any]) -> tuple[str, str]:
    status, findings = await call(
        env, "GET", "/api/v1/vulnerabilities", who.headers, params={"sbom_id": finding["sbom_id"]}
    )
    assert status == 200, findings
    [listed] = findings["items"]
    return listed["triage"], listed["triage_scope"]


async def _openvex(env: Env, who: Team, finding: dict[str, Any]) -> dict[str, Any]:
    status, document = await call(env, "GET", f"/api/v1/sboms/{finding['sbom_id']}/vex", who.headers)
    assert status == 200, document
    [statement] = document["statements"]
    assert isinstance(statement, dict)
    return statement


async def _until_download(who: Team, url: str, wanted: int) -> None:
    deadline = asyncio.get_running_loop().time() + 120
    async with aiohttp.ClientSession(headers=who.headers) as http:
        while True:
            async with http.get(url) as response:
                await response.read()
                if response.status == wanted:
                    return
            assert asyncio.get_running_loop().time() < deadline, f"still {response.status}, wanted {wanted}"
            await asyncio.sleep(0.2)


async def test_a_product_scoped_triage_changes_only_that_product(env: Env) -> None:
    """App X's own not_affected wins over the team-wide affected for X alone: X's finding, finding detail,
    OpenVEX and CycloneDX VEX say not_affected and its download is released, while app Y keeps the
    team-wide affected and its block; a later team-wide change leaves X's decision be; audited with
    the scope of each."""
    owner = await team(env)
    status, policy = await call(
        env, "PUT", "/api/v1/supply-chain/policy", owner.headers, json_body={"block_severity": "high"}
    )
    assert status == 200, policy
    x_file, y_file = await _publish(env, owner, "acme-app-x"), await _publish(env, owner, "acme-app-y")
    x, y = await _finding_of(env, owner, "acme-app-x"), await _finding_of(env, owner, "acme-app-y")
    assert (x["purl"], y["purl"]) == (VULN, VULN)
    x_url = await file_url(env, owner, "acme-app-x", x_file)
    y_url = await file_url(env, owner, "acme-app-y", y_file)
    await _until_download(owner, x_url, 403)
    await _until_download(owner, y_url, 403)

    status, team_wide = await _triage(env, owner, y, AFFECTED)
    assert status == 200, team_wide
    assert (team_wide["status"], team_wide["product"]) == ("affected", None)
    product = {"ecosystem": "pypi", "name": "ACME_App_X", "version": "1.0"}  # normalised as the registry does
    status, scoped = await _triage(env, owner, x, {**NOT_REACHABLE, "product": product})
    assert status == 200, scoped
    assert scoped["product"] == {"sbom_id": None, "ecosystem": "pypi", "name": "acme-app-x", "version": "1.0"}
    # The product's record starts from the team-wide decision it replaces.
    assert [(t["previous"], t["status"]) for t in scoped["history"]] == [
        (None, "affected"),
        ("affected", "not_affected"),
    ]

    assert await _listed(env, owner, x) == ("not_affected", "product")
    assert await _listed(env, owner, y) == ("affected", "team")
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{x['id']}", owner.headers)
    assert status == 200, detail
    assert (detail["triage"]["status"], detail["triage"]["product"]["name"]) == ("not_affected", "acme-app-x")
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{y['id']}", owner.headers)
    assert (detail["triage"]["status"], detail["triage"]["product"]) == ("affected", None)

    x_statement, y_statement = await _openvex(env, owner, x), await _openvex(env, owner, y)
    assert (x_statement["status"], x_statement["justification"]) == (
        "not_affected",
        "vulnerable_code_not_in_execute_path",
    )
    assert x_statement["products"][0]["@id"] == "pkg:pypi/acme-app-x@1.0"
    assert (y_statement["status"], y_statement["action_statement"]) == (
        "affected",
        AFFECTED["action_statement"],
    )
    status, cdx = await call(
        env, "GET", f"/api/v1/sboms/{x['sbom_id']}/vex", owner.headers, params={"format": "cyclonedx"}
    )
    assert status == 200, cdx
    [vulnerability] = cdx["vulnerabilities"]
    assert (vulnerability["analysis"]["state"], vulnerability["analysis"]["justification"]) == (
        "not_affected",
        "code_not_reachable",
    )

    await _until_download(owner, x_url, 200)
    await _until_download(owner, y_url, 403)
    status, blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", owner.headers)
    assert [v["name"] for v in blocked["items"]] == ["acme-app-y"], blocked

    # A team-wide decision changes every product without one of its own, not X.
    status, _ = await _triage(env, owner, y, {"status": "under_investigation"})
    assert status == 200
    assert await _listed(env, owner, x) == ("not_affected", "product")
    assert await _listed(env, owner, y) == ("under_investigation", "team")
    await _until_download(owner, x_url, 200)

    entries = await env.pool.fetch(
        "SELECT before, after FROM super_agent.audit_entries WHERE team_id = $1::uuid "
        "AND action = 'supply_chain.triage' ORDER BY seq",
        owner.team_id,
    )
    scopes = [
        (e["after"]["scope"], e["after"]["status"], (e["after"].get("product") or {}).get("name"))
        for e in entries
    ]
    assert scopes == [
        ("team", "affected", None),
        ("product", "not_affected", "acme-app-x"),
        ("team", "under_investigation", None),
    ]
    assert entries[1]["before"] == {"status": "affected", "scope": "product", "product": scoped["product"]}


async def test_an_uploaded_sbom_is_a_product_by_its_id(env: Env) -> None:
    """An uploaded lockfile's SBOM takes a decision of its own by `sbom_id`; a version's SBOM named by id
    is its version; the other SBOM naming the same component keeps the team's decision."""
    owner = await team(env)
    uploaded = []
    for name in ("service-a", "service-b"):
        status, scanned = await call(
            env,
            "POST",
            "/api/v1/sboms",
            owner.headers,
            body=b"acme-vuln==1.0\n",
            params={"filename": f"requirements-{name}.txt"},
        )
        assert status == 201, scanned
        uploaded.append(scanned)
    a, b = (u["findings"][0] for u in uploaded)
    status, scoped = await _triage(env, owner, a, {"status": "fixed", "product": {"sbom_id": a["sbom_id"]}})
    assert status == 200, scoped
    assert scoped["product"] == {"sbom_id": a["sbom_id"], "ecosystem": None, "name": None, "version": None}
    assert await _listed(env, owner, a) == ("fixed", "product")
    assert await _listed(env, owner, b) == ("under_investigation", "team")

    await _publish(env, owner, "acme-app-z")
    z = await _finding_of(env, owner, "acme-app-z")
    status, by_id = await _triage(env, owner, z, {**NOT_REACHABLE, "product": {"sbom_id": z["sbom_id"]}})
    assert status == 200, by_id
    assert by_id["product"] == {"sbom_id": None, "ecosystem": "pypi", "name": "acme-app-z", "version": "1.0"}


async def test_products_of_another_team_or_without_the_finding_are_refused(env: Env) -> None:
    """Another team's SBOM as the product is a 404 that changes nothing of theirs; an SBOM of the team
    without the finding's advisory in that component is a 422 `not_in_product`; a product named half
    (or an npm scope outside npm) is a 422 before anything is looked up."""
    owner, other = await team(env), await team(env)
    status, theirs = await call(
        env,
        "POST",
        "/api/v1/sboms",
        other.headers,
        body=b"acme-vuln==1.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, theirs
    status, mine = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=b"acme-vuln==1.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, mine
    finding = mine["findings"][0]
    status, refused = await _triage(
        env, owner, finding, {**NOT_REACHABLE, "product": {"sbom_id": theirs["sbom"]["id"]}}
    )
    assert status == 404, refused
    assert refused["error"]["code"] == "not_found", refused
    held = await env.pool.fetchval(
        "SELECT count(*) FROM supply_chain.product_triage WHERE team_id = ANY($1::uuid[])",
        [owner.team_id, other.team_id],
    )
    assert held == 0
    status, missing = await _triage(
        env,
        owner,
        finding,
        {**NOT_REACHABLE, "product": {"ecosystem": "pypi", "name": "nothing", "version": "1"}},
    )
    assert status == 404, missing

    status, clean = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=b"acme-vuln==2.0\n",
        params={"filename": "requirements.txt"},
    )
    assert status == 201, clean
    status, unrelated = await _triage(
        env, owner, finding, {**NOT_REACHABLE, "product": {"sbom_id": clean["sbom"]["id"]}}
    )
    assert status == 422, unrelated
    assert unrelated["error"]["details"][0]["type"] == "not_in_product", unrelated

    for product in (
        {"ecosystem": "pypi", "name": "acme-app"},
        {"sbom_id": clean["sbom"]["id"], "ecosystem": "pypi", "name": "acme-app", "version": "1.0"},
        {"ecosystem": "pypi", "name": "@scope/acme", "version": "1.0"},
        {"sbom_id": "not-an-id"},
    ):
        status, invalid = await _triage(env, owner, finding, {**NOT_REACHABLE, "product": product})
        assert status == 422, (product, invalid)


async def _withdraw(env: Env, who: Team, finding: dict[str, Any], body: dict[str, Any]) -> tuple[int, Any]:
    return await call(
        env, "POST", f"/api/v1/vulnerabilities/{finding['id']}/triage/withdraw", who.headers, json_body=body
    )


async def test_withdrawing_a_products_decision_restores_the_team_wide_one(env: Env) -> None:
    """Withdrawing app W's own not_affected puts the team-wide affected back for W: its finding, finding
    detail, OpenVEX and CycloneDX VEX say affected and its download is blocked again; the answer, the
    audit entry (before: the product's decision with its history; after: the team's) and the withdrawn
    record keep what W had; a second withdrawal is a 404, and a new product decision starts afresh from
    the team's."""
    owner = await team(env)
    status, policy = await call(
        env, "PUT", "/api/v1/supply-chain/policy", owner.headers, json_body={"block_severity": "high"}
    )
    assert status == 200, policy
    w_file = await _publish(env, owner, "acme-app-w")
    w = await _finding_of(env, owner, "acme-app-w")
    w_url = await file_url(env, owner, "acme-app-w", w_file)
    status, team_wide = await _triage(env, owner, w, AFFECTED)
    assert status == 200, team_wide
    product = {"sbom_id": w["sbom_id"]}
    status, scoped = await _triage(env, owner, w, {**NOT_REACHABLE, "note": "only in W", "product": product})
    assert status == 200, scoped
    assert await _listed(env, owner, w) == ("not_affected", "product")
    await _until_download(owner, w_url, 200)

    status, done = await _withdraw(env, owner, w, {"product": product})
    assert status == 200, done
    assert done["withdrawn"]["status"] == "not_affected"
    assert done["withdrawn"]["product"] == scoped["product"]
    assert [(t["previous"], t["status"]) for t in done["withdrawn"]["history"]] == [
        (None, "affected"),
        ("affected", "not_affected"),
    ]
    assert (done["applies"]["status"], done["applies"]["product"]) == ("affected", None)
    assert done["applies"]["action_statement"] == AFFECTED["action_statement"]

    assert await _listed(env, owner, w) == ("affected", "team")
    status, detail = await call(env, "GET", f"/api/v1/vulnerabilities/{w['id']}", owner.headers)
    assert status == 200, detail
    assert (detail["triage"]["status"], detail["triage"]["product"]) == ("affected", None)
    statement = await _openvex(env, owner, w)
    assert (statement["status"], statement["action_statement"]) == ("affected", AFFECTED["action_statement"])
    status, cdx = await call(
        env, "GET", f"/api/v1/sboms/{w['sbom_id']}/vex", owner.headers, params={"format": "cyclonedx"}
    )
    assert status == 200, cdx
    assert [v["analysis"]["state"] for v in cdx["vulnerabilities"]] == ["exploitable"]
    await _until_download(owner, w_url, 403)
    status, blocked = await call(env, "GET", "/api/v1/supply-chain/blocked", owner.headers)
    assert [v["name"] for v in blocked["items"]] == ["acme-app-w"], blocked

    [entry] = await env.pool.fetch(
        "SELECT resource_type, resource_id, before, after FROM super_agent.audit_entries "
        "WHERE team_id = $1::uuid AND action = 'supply_chain.triage_withdraw'",
        owner.team_id,
    )
    assert (entry["resource_type"], entry["resource_id"]) == ("finding", w["id"])
    before, after = entry["before"], entry["after"]
    assert (before["scope"], before["product"], before["status"], before["note"]) == (
        "product",
        scoped["product"],
        "not_affected",
        "only in W",
    )
    assert before["justification"] == NOT_REACHABLE["justification"]
    assert [t["status"] for t in before["history"]] == ["affected", "not_affected"]
    assert (after["scope"], after["status"], after["purl"]) == ("team", "affected", VULN)
    kept = await env.pool.fetchrow(
        "SELECT status, note, history, withdrawn_by FROM supply_chain.product_triage_withdrawn "
        "WHERE team_id = $1::uuid",
        owner.team_id,
    )
    assert (kept["status"], kept["note"], len(kept["history"])) == ("not_affected", "only in W", 2)
    assert kept["withdrawn_by"].startswith("apikey:")

    status, again = await _withdraw(env, owner, w, {"product": product})
    assert status == 404, again
    assert again["error"]["code"] == "not_found", again
    status, anew = await _triage(env, owner, w, {"status": "fixed", "product": product})
    assert status == 200, anew
    assert [(t["previous"], t["status"]) for t in anew["history"]] == [
        (None, "affected"),
        ("affected", "fixed"),
    ]


async def test_withdrawing_needs_a_products_own_decision_of_the_team(env: Env) -> None:
    """Without `product` the withdrawal is a 422 (the team-wide decision is not withdrawn); a product
    that follows the team-wide decision has nothing to withdraw (404); another team's finding, or
    another team's SBOM as the product, is a 404 that leaves their decision in place."""
    owner, other = await team(env), await team(env)
    scans = []
    for who in (owner, other):
        status, scanned = await call(
            env,
            "POST",
            "/api/v1/sboms",
            who.headers,
            body=b"acme-vuln==1.0\n",
            params={"filename": "requirements.txt"},
        )
        assert status == 201, scanned
        scans.append(scanned)
    mine, theirs = (s["findings"][0] for s in scans)
    status, held = await _triage(
        env, other, theirs, {"status": "fixed", "product": {"sbom_id": theirs["sbom_id"]}}
    )
    assert status == 200, held

    for body in ({}, {"product": None}):
        status, refused = await _withdraw(env, owner, mine, body)
        assert status == 422, (body, refused)
        assert refused["error"]["details"][0]["loc"] == "product", refused
    status, nothing = await _withdraw(env, owner, mine, {"product": {"sbom_id": mine["sbom_id"]}})
    assert status == 404, nothing
    for finding, product in (
        (theirs, theirs["sbom_id"]),
        (mine, theirs["sbom_id"]),
        (theirs, mine["sbom_id"]),
    ):
        status, refused = await _withdraw(env, owner, finding, {"product": {"sbom_id": product}})
        assert status == 404, refused
        assert refused["error"]["code"] == "not_found", refused
    assert await _listed(env, other, theirs) == ("fixed", "product")
    assert (
        await env.pool.fetchval(
            "SELECT count(*) FROM supply_chain.product_triage_withdrawn WHERE team_id = ANY($1::uuid[])",
            [owner.team_id, other.team_id],
        )
        == 0
    )
    audited = await env.pool.fetchval(
        "SELECT count(*) FROM super_agent.audit_entries WHERE action = 'supply_chain.triage_withdraw' "
        "AND team_id = ANY($1::uuid[])",
        [owner.team_id, other.team_id],
    )
    assert audited == 0
