"""The Supply chain page's routes: the team's findings counted by severity and triage, the download
policy (and changing it), the versions it blocks with the findings that block each, overrides (add
with a reason, withdraw), the open vulnerability findings by severity with their triage (the team's,
or one SBOM's with its VEX exports: `?sbom=`, where a triage may be that product's only and a
product's own decision withdrawn), the SBOMs and lockfiles uploaded through the API, and the
advisories held with their last imports.

Every read and write is one of the supply chain API's routes called in-process (`EdgeApi`), so the
same permissions, plan gate (`supply_chain`: a plan without it shows each panel's refusal) and team
scoping apply as for any client. Every write answers the page's body whole: a policy, an override
or a triage changes which versions are blocked, so the panels are read again together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from services.dashboard import render
from services.dashboard import supply_chain as view
from services.dashboard.answers import Unavailable
from services.dashboard.pages import SUPPLY_CHAIN
from services.gateway.errors import HttpProblem
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.bus.errors import AgentError, BusError
from shared.messages.identity import ApiKeyList
from shared.messages.permissions import Permission
from shared.messages.supply_chain import (
    AdvisoryStatus,
    FindingList,
    FindingSummary,
    SbomInfo,
    SbomList,
    TriageInfo,
    TriageWithdrawal,
)
from shared.messages.supply_chain_policy import BlockedList, DownloadPolicy, OverrideInfo, OverrideList
from shared.messages.teams import MAX_PAGE, MemberList

POLICY = "/api/v1/supply-chain/policy"
OVERRIDES = POLICY + "/overrides"
BLOCKED = "/api/v1/supply-chain/blocked"
FINDINGS = "/api/v1/vulnerabilities"
SUMMARY = "/api/v1/supply-chain/summary"
SBOMS = "/api/v1/sboms"
ADVISORIES = "/api/v1/supply-chain/advisories"

T = TypeVar("T")


def _status(answer: object) -> int:
    """A refused write answers the body with 200 (htmx swaps only 2xx) saying why; a refusal of the
    role answers 403, so no client can take it for success."""
    return 403 if isinstance(answer, Unavailable) and answer.reason == "role" else 200


async def _names(api: EdgeApi) -> tuple[dict[str, str], dict[str, str]]:
    """Members' logins and API keys' names by id, for "who" columns (ids stay ids where the reader may
    not list them)."""
    members, keys = await asyncio.gather(
        attempt(api.get("/api/v1/members", MemberList, limit=MAX_PAGE)),
        attempt(api.get("/api/v1/apikeys", ApiKeyList, include_revoked=True)),
    )
    people = {} if isinstance(members, Unavailable) else {m.user_id: m.login for m in members.members}
    named = {} if isinstance(keys, Unavailable) else {k.key_id: k.name for k in keys.keys}
    return people, named


async def _write(answer: Awaitable[T]) -> T | Unavailable:
    """A write's answer, or its refusal in words for the panel (a field the API refused by name)."""
    try:
        return await answer
    except (HttpProblem, AgentError, BusError) as error:
        return view.refused(error.body)


async def _uploaded(api: EdgeApi) -> view.SbomTable | Unavailable:
    """The newest SBOMs and lockfiles uploaded through the API (one list per source)."""
    found = await asyncio.gather(
        *(
            attempt(api.get(SBOMS, SbomList, source=source, limit=view.SBOMS_SHOWN))
            for source in view.UPLOADED_SOURCES
        )
    )
    refused = next((f for f in found if isinstance(f, Unavailable)), None)
    if refused is not None:
        return refused
    return view.uploaded_sboms(*(f for f in found if not isinstance(f, Unavailable)))


async def _findings(
    api: EdgeApi, sbom_id: str | None
) -> tuple[FindingList | Unavailable, FindingSummary | Unavailable, SbomInfo | Unavailable | None]:
    """The open findings read (the worst), their counts (every one), and the SBOM they are narrowed
    to: another team's is the API's 404, which then stands for the findings and counts too."""
    findings, summary, scope = await asyncio.gather(
        attempt(api.get(FINDINGS, FindingList, sbom_id=sbom_id, limit=view.FINDINGS_ASKED)),
        attempt(api.get(SUMMARY, FindingSummary, sbom_id=sbom_id)),
        attempt(api.get(SBOMS + "/{sbom_id}", SbomInfo, sbom_id=sbom_id)) if sbom_id else _nothing(),
    )
    if isinstance(scope, Unavailable):
        return scope, scope, scope
    return findings, summary, scope


async def _nothing() -> None:
    return None


async def _context(api: EdgeApi, sbom_id: str | None = None) -> dict[str, Any]:
    """What the page's body shows: each panel its API answer in rows, or why it has none."""
    (
        frame,
        (policy, blocked, overrides),
        (findings, summary, scope),
        sboms,
        (people, keys),
        advisories,
    ) = await asyncio.gather(
        page_chrome(api, SUPPLY_CHAIN),
        asyncio.gather(
            attempt(api.get(POLICY, DownloadPolicy)),
            attempt(api.get(BLOCKED, BlockedList)),
            attempt(api.get(OVERRIDES, OverrideList)),
        ),
        _findings(api, sbom_id),
        _uploaded(api),
        _names(api),
        attempt(api.get(ADVISORIES, AdvisoryStatus, limit=view.IMPORTS_SHOWN)),
    )
    counted = None if isinstance(summary, Unavailable) else summary
    groups = (
        None
        if isinstance(findings, Unavailable)
        else view.finding_groups(
            findings,
            counted.by_severity if counted else None,
            sbom_links=sbom_id is None,
            narrowed=sbom_id is not None,
        )
    )
    return {
        "chrome": frame,
        "summary": summary if isinstance(summary, Unavailable) else view.summary_view(summary),
        "scope": view.sbom_row(scope) if isinstance(scope, SbomInfo) else scope,
        "policy": policy if isinstance(policy, Unavailable) else view.policy_view(policy, people, keys),
        "blocked": blocked if isinstance(blocked, Unavailable) else view.blocked_rows(blocked),
        "overrides": (
            overrides if isinstance(overrides, Unavailable) else view.override_rows(overrides, people, keys)
        ),
        "findings": findings if isinstance(findings, Unavailable) else groups,
        # On one SBOM's page: what its own decisions closed, which the open list leaves out.
        "closed_by_product": (
            view.closed_by_product(findings) if sbom_id and not isinstance(findings, Unavailable) else []
        ),
        "open_findings": (
            counted.open if counted is not None else view.open_count(groups) if groups is not None else 0
        ),
        "findings_note": (
            None
            if groups is None or isinstance(findings, Unavailable)
            else view.listed_note(groups, counted, findings.next_offset is not None)
        ),
        "sboms": sboms,
        "no_openvex": view.NO_OPENVEX,
        "advisories": advisories if isinstance(advisories, Unavailable) else view.advisory_view(advisories),
        "block_choices": view.BLOCK_CHOICES,
        "triage_choices": view.TRIAGE_CHOICES,
        "scope_choices": view.SCOPE_CHOICES,
        "justifications": view.JUSTIFICATIONS,
        "Permission": Permission,
    }


async def supply_chain_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: view.PageQuery = call.input
    context = await _context(api, query.sbom)
    return render.html("supply_chain.html", panel=None, problem=None, done=None, **context)


async def _body(
    call: Call, panel: str, *, problem: Unavailable | None = None, done: str | None = None
) -> web.StreamResponse:
    """The page's body after a write, as narrow as the page it replaces (`HX-Current-URL`)."""
    scope = view.scope_of(call.request.headers.get("HX-Current-URL"))
    context = await _context(EdgeApi(call.request, call.ctx), scope)
    return render.html(
        "partials/supply_chain_body.html",
        status=_status(problem),
        panel=panel,
        problem=problem,
        done=done,
        **context,
    )


async def set_policy(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: view.PolicyForm = call.input
    made = await _write(api.call("PUT", POLICY, DownloadPolicy, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "policy", problem=made)
    return await _body(call, "policy", done=view.policy_saved(made))


async def create_override(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: view.OverrideForm = call.input
    made = await _write(api.post(OVERRIDES, OverrideInfo, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "blocked", problem=made)
    return await _body(
        call, "overrides", done=f"{made.ecosystem.value}/{made.name} {made.version} allowed: {made.reason}"
    )


async def delete_override(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    ref: view.OverrideRef = call.input
    gone = await _write(
        api.call("DELETE", OVERRIDES + "/{override_id}", OverrideInfo, {"override_id": ref.override_id})
    )
    if isinstance(gone, Unavailable):
        return await _body(call, "overrides", problem=gone)
    return await _body(
        call,
        "overrides",
        done=f"Override of {gone.ecosystem.value}/{gone.name} {gone.version} withdrawn: the policy "
        "applies to it again.",
    )


async def triage(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: view.TriageForm = call.input
    made = await _write(api.post(FINDINGS + "/{finding_id}/triage", TriageInfo, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "findings", problem=made)
    return await _body(call, "findings", done=view.triage_saved(made))


async def withdraw_triage(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: view.WithdrawForm = call.input
    done = await _write(api.post(FINDINGS + "/{finding_id}/triage/withdraw", TriageWithdrawal, form.body()))
    if isinstance(done, Unavailable):
        return await _body(call, "findings", problem=done)
    return await _body(call, "findings", done=view.withdrawal_done(done))


SUPPLY_CHAIN_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        SUPPLY_CHAIN.path,
        "Supply chain page: the team's findings counted by severity and triage, the download policy, the "
        "versions it blocks with the findings that block them, overrides, the open vulnerability findings "
        "by severity (`?sbom=`: one SBOM's, with its VEX exports), the uploaded SBOMs and lockfiles, and "
        "the advisory imports.",
        SUPPLY_CHAIN.permission,
        supply_chain_page,
        request=view.PageQuery,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/policy",
        "Supply chain fragment: set the download policy (PUT /api/v1/supply-chain/policy: the severity "
        "that blocks, whether unrated findings block too, the quarantine); answers the page's body.",
        Permission.SUPPLY_CHAIN_POLICY,
        set_policy,
        request=view.PolicyForm,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/overrides/create",
        "Supply chain fragment: allow a blocked version with a reason (POST "
        "/api/v1/supply-chain/policy/overrides); answers the page's body.",
        Permission.SUPPLY_CHAIN_POLICY,
        create_override,
        request=view.OverrideForm,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/overrides/delete",
        "Supply chain fragment: withdraw an override (DELETE /api/v1/supply-chain/policy/overrides/"
        "{override_id}); answers the page's body.",
        Permission.SUPPLY_CHAIN_POLICY,
        delete_override,
        request=view.OverrideRef,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/triage",
        "Supply chain fragment: triage a finding (POST /api/v1/vulnerabilities/{finding_id}/triage), "
        "team-wide or, on a page narrowed to one SBOM, for that product only; answers the page's body.",
        Permission.SUPPLY_CHAIN_TRIAGE,
        triage,
        request=view.TriageForm,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/triage/withdraw",
        "Supply chain fragment: withdraw an SBOM's own decision about a finding, so the team-wide one "
        "applies to it again (POST /api/v1/vulnerabilities/{finding_id}/triage/withdraw); answers the "
        "page's body.",
        Permission.SUPPLY_CHAIN_TRIAGE,
        withdraw_triage,
        request=view.WithdrawForm,
    ),
]
