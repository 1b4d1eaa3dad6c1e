"""The Supply chain page's routes: the team's download policy (and changing it), the versions it
blocks with the findings that block each, overrides (add with a reason, withdraw), the open
vulnerability findings by severity with their triage, and the advisories held with their last imports.

Every read and write is one of the supply chain API's routes called in-process (`EdgeApi`), so the
same permissions, plan gate (`supply_chain`: a plan without it shows each panel's refusal) and team
scoping apply as for any client. Every write answers the page's body whole: a policy, an override
or a triage changes which versions are blocked, so the panels are read again together.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from agents.super_agent.routes.dashboard import attempt, page_chrome, page_route
from services.dashboard import render
from services.dashboard import supply_chain as view
from services.dashboard.answers import Unavailable
from services.dashboard.pages import SUPPLY_CHAIN
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.messages.identity import ApiKeyList
from shared.messages.permissions import Permission
from shared.messages.supply_chain import AdvisoryStatus, FindingList, TriageInfo
from shared.messages.supply_chain_policy import BlockedList, DownloadPolicy, OverrideInfo, OverrideList
from shared.messages.teams import MAX_PAGE, MemberList

POLICY = "/api/v1/supply-chain/policy"
OVERRIDES = POLICY + "/overrides"
BLOCKED = "/api/v1/supply-chain/blocked"
FINDINGS = "/api/v1/vulnerabilities"
ADVISORIES = "/api/v1/supply-chain/advisories"


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


async def _context(api: EdgeApi) -> dict[str, Any]:
    """What the page's body shows: each panel its API answer in rows, or why it has none."""
    frame, policy, blocked, overrides, findings, ((people, keys), advisories) = await asyncio.gather(
        page_chrome(api, SUPPLY_CHAIN),
        attempt(api.get(POLICY, DownloadPolicy)),
        attempt(api.get(BLOCKED, BlockedList)),
        attempt(api.get(OVERRIDES, OverrideList)),
        attempt(api.get(FINDINGS, FindingList, limit=view.FINDINGS_ASKED)),
        asyncio.gather(_names(api), attempt(api.get(ADVISORIES, AdvisoryStatus, limit=view.IMPORTS_SHOWN))),
    )
    groups = None if isinstance(findings, Unavailable) else view.finding_groups(findings)
    return {
        "chrome": frame,
        "policy": policy if isinstance(policy, Unavailable) else view.policy_view(policy, people, keys),
        "blocked": blocked if isinstance(blocked, Unavailable) else view.blocked_rows(blocked),
        "overrides": (
            overrides if isinstance(overrides, Unavailable) else view.override_rows(overrides, people, keys)
        ),
        "findings": findings if isinstance(findings, Unavailable) else groups,
        "open_findings": view.open_count(groups) if groups is not None else 0,
        "findings_limited": not isinstance(findings, Unavailable) and findings.next_offset is not None,
        "findings_asked": view.FINDINGS_ASKED,
        "advisories": advisories if isinstance(advisories, Unavailable) else view.advisory_view(advisories),
        "block_choices": view.BLOCK_CHOICES,
        "triage_choices": view.TRIAGE_CHOICES,
        "justifications": view.JUSTIFICATIONS,
        "Permission": Permission,
    }


async def supply_chain_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    context = await _context(api)
    return render.html("supply_chain.html", panel=None, problem=None, done=None, **context)


async def _body(
    call: Call, panel: str, *, problem: Unavailable | None = None, done: str | None = None
) -> web.StreamResponse:
    context = await _context(EdgeApi(call.request, call.ctx))
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
    made = await attempt(api.call("PUT", POLICY, DownloadPolicy, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "policy", problem=made)
    return await _body(
        call,
        "policy",
        done=f"Policy saved: blocking from {made.block_severity.value}, "
        f"quarantine {made.quarantine_days} day{'s' if made.quarantine_days != 1 else ''}.",
    )


async def create_override(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: view.OverrideForm = call.input
    made = await attempt(api.post(OVERRIDES, OverrideInfo, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "blocked", problem=made)
    return await _body(
        call, "overrides", done=f"{made.ecosystem.value}/{made.name} {made.version} allowed: {made.reason}"
    )


async def delete_override(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    ref: view.OverrideRef = call.input
    gone = await attempt(
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
    made = await attempt(api.post(FINDINGS + "/{finding_id}/triage", TriageInfo, form.body()))
    if isinstance(made, Unavailable):
        return await _body(call, "findings", problem=made)
    return await _body(
        call,
        "findings",
        done=f"{made.advisory_id} in {made.purl}: {view.TRIAGE_WORDS[made.status]}.",
    )


SUPPLY_CHAIN_PAGE_ROUTES: list[Route] = [
    page_route(
        "GET",
        SUPPLY_CHAIN.path,
        "Supply chain page: the team's download policy, the versions it blocks with the findings that "
        "block them, overrides, the open vulnerability findings by severity, and the advisory imports.",
        SUPPLY_CHAIN.permission,
        supply_chain_page,
    ),
    page_route(
        "POST",
        SUPPLY_CHAIN.path + "/policy",
        "Supply chain fragment: set the download policy (PUT /api/v1/supply-chain/policy); answers the "
        "page's body.",
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
        "Supply chain fragment: triage a finding (POST /api/v1/vulnerabilities/{finding_id}/triage); "
        "answers the page's body.",
        Permission.SUPPLY_CHAIN_TRIAGE,
        triage,
        request=view.TriageForm,
    ),
]
