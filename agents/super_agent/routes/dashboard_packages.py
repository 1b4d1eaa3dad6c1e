"""The Packages pages' routes: search the team's registry, a package page (versions, files and their
digests, dependencies and dependents, upload history, the readme rendered safely), yank / unyank /
delete for those who may, the version's SBOM (CycloneDX and SPDX downloads) with its findings and their
triage, and the client configuration of pip, twine and npm.

Every read and write is one of the registry API's routes called in-process (`EdgeApi`), so the same
permissions, plan gate and team scoping apply as for any client: another team's package is a 404
here as there. These routes sell with the registry (plan feature `artifacts`, which the table asks
of everything under /dashboard/packages) and are dashboard pages too, so each also checks the
`dashboard` feature before it answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from agents.super_agent.edge_deps import deps
from agents.super_agent.routes.dashboard import attempt, edge_origin, page_chrome, page_route
from services.dashboard import packages, render
from services.dashboard.answers import Unavailable
from services.dashboard.pages import FEATURE, PACKAGES
from services.dashboard.readme import render as render_readme
from services.gateway.edge import PLAN_GATE
from services.gateway.errors import HttpProblem
from services.gateway.inprocess import EdgeApi
from services.gateway.route_table import Call, Route
from shared.bus.errors import AgentError, BusError
from shared.messages.artifacts import DeletedArtifacts, Ecosystem, PackageVersions, SearchResults, VersionInfo
from shared.messages.envelope import ErrorCode
from shared.messages.identity import ApiKeyList
from shared.messages.permissions import Permission
from shared.messages.supply_chain import FindingList, SbomList
from shared.messages.teams import MAX_PAGE, MemberList

SEARCH = "/api/v1/registry/packages"
PACKAGE = SEARCH + "/{ecosystem}/{name}"
VERSION = PACKAGE + "/versions/{version}"
FINDINGS = "/api/v1/vulnerabilities"
ARTIFACTS = "artifacts"
Handler = Callable[[Call], Awaitable[web.StreamResponse]]


def _dashboard_too(handler: Handler) -> Handler:
    """The route's own gate is `artifacts`; a page also needs the plan's `dashboard`."""

    async def gated(call: Call) -> web.StreamResponse:
        gate = call.request.app[PLAN_GATE]
        if gate is not None and call.ctx.principal is not None:
            await gate.require_feature(call.ctx.principal, FEATURE)
        return await handler(call)

    return gated


def _status(answer: object) -> int:
    """A refused write answers its panel with 200 (htmx swaps only 2xx) saying why; a refusal of the
    role answers 403, so no client can take it for success."""
    return 403 if isinstance(answer, Unavailable) and answer.reason == "role" else 200


# What a route of the table raises for a refusal: the edge's own, a handler's in this process, or the
# owner agent's answer over the bus (RemoteError).
_REFUSALS = (HttpProblem, AgentError, BusError)


def _not_found(error: Exception) -> bool:
    return isinstance(error, _REFUSALS) and error.body.code == ErrorCode.NOT_FOUND


def base_url(call: Call) -> str:
    """The URL clients reach this edge at: the configured public one, else the page's own origin."""
    public = deps(call).runtime.settings.http.public_url
    return str(public).rstrip("/") if public else edge_origin(call.request)


# -- search ------------------------------------------------------------------------------------


async def packages_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: packages.SearchForm = call.input
    frame, found = await asyncio.gather(
        page_chrome(api, PACKAGES), attempt(api.get(SEARCH, SearchResults, **form.query()))
    )
    return render.html(
        "packages.html",
        chrome=frame,
        form=form,
        results=found if isinstance(found, Unavailable) else packages.result_rows(found),
        pager=None if isinstance(found, Unavailable) else packages.pager(form, found),
        ecosystems=[(e.value, packages.ECOSYSTEM_WORDS[e]) for e in packages.OFFERED_ECOSYSTEMS],
        config=packages.client_config(base_url(call), frame.team_id or "TEAM_ID"),
        setup=packages.SETUP_PATH,
        Permission=Permission,
    )


async def setup_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    frame = await page_chrome(api, PACKAGES)
    return render.html(
        "packages_setup.html",
        chrome=frame,
        config=packages.client_config(base_url(call), frame.team_id or "TEAM_ID"),
        placeholder=packages.KEY_PLACEHOLDER,
        Permission=Permission,
    )


# -- a package ---------------------------------------------------------------------------------


async def _names(api: EdgeApi) -> tuple[dict[str, str], dict[str, str]]:
    """Members' logins and API keys' names by id, for the uploader column (each list only when the
    reader may read it: ids stay ids otherwise)."""
    members, keys = await asyncio.gather(
        attempt(api.get("/api/v1/members", MemberList, limit=MAX_PAGE)),
        attempt(api.get("/api/v1/apikeys", ApiKeyList, include_revoked=True)),
    )
    people = {} if isinstance(members, Unavailable) else {m.user_id: m.login for m in members.members}
    named = {} if isinstance(keys, Unavailable) else {k.key_id: k.name for k in keys.keys}
    return people, named


async def _package_context(
    api: EdgeApi, ecosystem: Ecosystem, name: str, wanted: str | None
) -> dict[str, Any]:
    """What the package body shows; the package's 404 (another team's, or gone) is raised."""
    found = await api.get(PACKAGE, PackageVersions, ecosystem=ecosystem.value, name=name)
    package = found.package
    selected = packages.chosen_version(found, wanted)
    newest = [v.version for v in found.versions[: packages.HISTORY_VERSIONS]]
    others = [v for v in newest if v != selected]

    def version(v: str) -> Awaitable[VersionInfo]:
        return api.get(VERSION, VersionInfo, ecosystem=ecosystem.value, name=package.name, version=v)

    async def chosen() -> VersionInfo | None:
        # Not a panel's note: a version the URL names that does not exist is the page's 404.
        return await version(selected) if selected is not None else None

    async def sbom() -> packages.VersionSbom | Unavailable | None:
        """The version's SBOM and its findings (the supply chain's routes: a plan without
        `supply_chain` or a role without `supply_chain:read` gets the refusal, not the page's)."""
        if selected is None:
            return None
        found = await attempt(
            api.get(packages.SBOMS, SbomList, **packages.sbom_query(ecosystem, package.name, selected))
        )
        if isinstance(found, Unavailable) or not found.items:
            return found if isinstance(found, Unavailable) else None
        findings = await attempt(
            api.get(FINDINGS, FindingList, sbom_id=found.items[0].id, limit=packages.VERSION_FINDINGS)
        )
        if isinstance(findings, Unavailable):
            return findings
        return packages.version_sbom(found, findings)

    info, infos, dependents, (people, keys), version_sbom = await asyncio.gather(
        chosen(),
        asyncio.gather(*(attempt(version(v)) for v in others)),
        attempt(
            api.get(
                SEARCH,
                SearchResults,
                ecosystem=ecosystem.value,
                depends_on=package.name,
                limit=packages.DEPENDENTS_SHOWN,
            )
        ),
        _names(api),
        sbom(),
    )
    history = [i for i in infos if isinstance(i, VersionInfo)]
    if info is not None and selected in newest:
        history.append(info)
    return {
        "package": package,
        "versions": packages.version_rows(found, selected),
        "selected": selected,
        "detail": info,
        "files": packages.file_rows(info, people, keys) if info else [],
        "dependencies": packages.dependency_rows(info) if info else [],
        "readme": render_readme(info.description, info.description_content_type) if info else None,
        "dependents": dependents if isinstance(dependents, Unavailable) else packages.result_rows(dependents),
        "dependents_total": 0 if isinstance(dependents, Unavailable) else dependents.total,
        "dependents_href": packages.dependents_href(ecosystem, package.name),
        "uploads": packages.upload_rows(history, people, keys),
        "history_limited": len(found.versions) > packages.HISTORY_VERSIONS,
        "history_versions": packages.HISTORY_VERSIONS,
        "package_href": packages.package_href(ecosystem, package.name),
        "sbom": version_sbom,
    }


async def package_page(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    query: packages.PackageQuery = call.input
    frame, context = await asyncio.gather(
        page_chrome(api, PACKAGES), _package_context(api, query.ecosystem, query.name, query.version)
    )
    return render.html(
        "package.html",
        chrome=frame,
        problem=None,
        done=None,
        setup=packages.SETUP_PATH,
        Permission=Permission,
        **context,
    )


async def _body(
    call: Call,
    ecosystem: Ecosystem,
    name: str,
    *,
    selected: str | None,
    problem: Unavailable | None = None,
    done: str | None = None,
    override: dict[str, Any] | None = None,
) -> web.StreamResponse:
    """The package body after a write: every panel again (a yank changes latest/stable, a delete the
    files and history), or off to the search page when the package is gone. `override`: a delete the
    policy refused, offered again as forced to whoever may override it."""
    api = EdgeApi(call.request, call.ctx)
    try:
        frame, context = await asyncio.gather(
            page_chrome(api, PACKAGES), _package_context(api, ecosystem, name, selected)
        )
    except _REFUSALS as error:
        if not _not_found(error) or problem is not None:
            raise
        if selected is not None:  # that version went (deleted): the package's default version
            return await _body(call, ecosystem, name, selected=None, done=done)
        return web.Response(status=204, headers={"HX-Redirect": packages.PATH, **render.SECURITY_HEADERS})
    return render.html(
        "partials/package_body.html",
        status=_status(problem),
        chrome=frame,
        problem=problem,
        done=done,
        override=override,
        setup=packages.SETUP_PATH,
        Permission=Permission,
        **context,
    )


async def yank(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: packages.VersionForm = call.input
    made = await attempt(api.post(VERSION + "/yank", VersionInfo, {**form.ref(), "reason": form.reason}))
    if isinstance(made, Unavailable):
        return await _body(call, form.ecosystem, form.name, selected=form.version, problem=made)
    return await _body(
        call, form.ecosystem, form.name, selected=form.version, done=f"Version {made.version} yanked."
    )


async def unyank(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: packages.VersionForm = call.input
    made = await attempt(api.post(VERSION + "/unyank", VersionInfo, form.ref()))
    if isinstance(made, Unavailable):
        return await _body(call, form.ecosystem, form.name, selected=form.version, problem=made)
    return await _body(
        call, form.ecosystem, form.name, selected=form.version, done=f"Version {made.version} un-yanked."
    )


async def delete_version(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: packages.VersionForm = call.input
    gone = await attempt(api.call("DELETE", VERSION, DeletedArtifacts, form.delete_fields()))
    if isinstance(gone, Unavailable):
        return await _body(
            call,
            form.ecosystem,
            form.name,
            selected=form.version,
            problem=gone,
            override=packages.override_offer(gone, form),
        )
    files = len(gone.files)
    return await _body(
        call,
        form.ecosystem,
        form.name,
        selected=None,
        done=f"Version {form.version} deleted ({files} file{'s' if files != 1 else ''}).",
    )


async def delete_package(call: Call) -> web.StreamResponse:
    api = EdgeApi(call.request, call.ctx)
    form: packages.PackageForm = call.input
    gone = await attempt(api.call("DELETE", PACKAGE, DeletedArtifacts, form.delete_fields()))
    if isinstance(gone, Unavailable):
        return await _body(
            call,
            form.ecosystem,
            form.name,
            selected=None,
            problem=gone,
            override=packages.override_offer(gone, form),
        )
    return web.Response(status=204, headers={"HX-Redirect": packages.PATH, **render.SECURITY_HEADERS})


# -- the table ---------------------------------------------------------------------------------


def _route(
    method: Any, path: str, summary: str, permission: Permission, handler: Handler, **extra: Any
) -> Route:
    return page_route(method, path, summary, permission, _dashboard_too(handler), feature=ARTIFACTS, **extra)


PACKAGE_PAGE_ROUTES: list[Route] = [
    _route(
        "GET",
        PACKAGES.path,
        "Packages page: search your team's registry (text, ecosystem, licence, depends on), paged; "
        "with none published yet, how to publish.",
        PACKAGES.permission,
        packages_page,
        request=packages.SearchForm,
    ),
    _route(
        "GET",
        packages.SETUP_PATH,
        "Packages page: the configuration of pip, twine and npm for your team's registry (a "
        "placeholder where the API key goes).",
        Permission.ARTIFACTS_READ,
        setup_page,
    ),
    _route(
        "GET",
        packages.PATH + "/{ecosystem}/{name}",
        "Package page: versions (latest, stable, yanked), a version's files with their digests, its "
        "dependencies, the packages depending on it, upload history, the readme, sanitised, and the "
        "version's SBOM (CycloneDX and SPDX downloads) with its findings and their triage.",
        Permission.ARTIFACTS_READ,
        package_page,
        request=packages.PackageQuery,
        extra_status=(404,),
    ),
    _route(
        "POST",
        packages.PATH + "/yank",
        "Package fragment: yank a version (POST /api/v1/registry/.../yank); answers the package body.",
        Permission.ARTIFACTS_YANK,
        yank,
        request=packages.VersionForm,
        extra_status=(404,),
    ),
    _route(
        "POST",
        packages.PATH + "/unyank",
        "Package fragment: undo a version's yank; answers the package body.",
        Permission.ARTIFACTS_YANK,
        unyank,
        request=packages.VersionForm,
        extra_status=(404,),
    ),
    _route(
        "POST",
        packages.PATH + "/delete-version",
        "Package fragment: delete a version and its files (`force` with a `reason`: an owner's or admin's "
        "override of the delete policy, offered after its refusal); answers the package body.",
        Permission.ARTIFACTS_DELETE,
        delete_version,
        request=packages.VersionForm,
        extra_status=(204, 404),
    ),
    _route(
        "POST",
        packages.PATH + "/delete",
        "Delete a package with every version and file (`force` with a `reason`: an owner's or admin's "
        "override of the delete policy); the browser goes back to the search page.",
        Permission.ARTIFACTS_DELETE,
        delete_package,
        request=packages.PackageForm,
        status=204,
        extra_status=(200, 404),
    ),
]
