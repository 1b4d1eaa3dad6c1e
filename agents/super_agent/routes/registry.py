"""The registry's ecosystem-neutral REST API (`REGISTRY_ROUTES`): search, a package's versions, a
version, yank/unyank and delete, served by the ArtifactManagerAgent. Writes are audited here once
the agent has answered (the audit log is the SuperAgent's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.errors import HttpProblem
from services.gateway.route_table import Call, Forward, Local, Route
from shared.messages.artifacts import (
    DeletedArtifacts,
    DeletePackageRequest,
    DeleteVersionRequest,
    VersionInfo,
    VersionRef,
    YankRequest,
)
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission, allows
from shared.messages.registry import (
    ARTIFACT_DELETE,
    ARTIFACT_DELETE_PACKAGE,
    ARTIFACT_SEARCH,
    ARTIFACT_UNYANK,
    ARTIFACT_VERSION,
    ARTIFACT_VERSIONS,
    ARTIFACT_YANK,
)
from shared.principals import team_of

__all__ = ["REGISTRY_ROUTES"]

TAGS = ("registry",)
PACKAGE = "/api/v1/registry/packages/{ecosystem}/{name}"
VERSION = PACKAGE + "/versions/{version}"


async def _audit(call: Call, action: str, resource_id: str, *, before: Any = None, after: Any = None) -> None:
    """A write the agent applied, on the audit log; it changed the team's registry, so this replica's
    cached registry reads go at once (read your writes; the others follow the agent's notice)."""
    team_id = team_of(call.ctx.principal)
    deps(call).registry_reads.drop_team(team_id)
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(conn, team_id, action, "artifact", resource_id, before=before, after=after)


async def yank(call: Call) -> BaseModel:
    info: VersionInfo = await deps(call).bus.request(ARTIFACT_YANK, call.input, call.ctx)
    await _audit(
        call,
        "artifacts.yank",
        f"{info.ecosystem.value}:{info.name}@{info.version}",
        after={"yanked": True, "reason": info.yanked_reason},
    )
    return info


async def unyank(call: Call) -> BaseModel:
    info: VersionInfo = await deps(call).bus.request(ARTIFACT_UNYANK, call.input, call.ctx)
    await _audit(
        call,
        "artifacts.unyank",
        f"{info.ecosystem.value}:{info.name}@{info.version}",
        after={"yanked": False},
    )
    return info


def _may_force(call: Call) -> None:
    """`force` needs its own grant: refused here, before the agent is asked (it checks again)."""
    if call.input.force and not allows(call.ctx.principal, Permission.ARTIFACTS_DELETE_OVERRIDE):
        raise HttpProblem(
            ErrorCode.FORBIDDEN,
            "force=true overrides the delete policy: it needs the "
            f"{Permission.ARTIFACTS_DELETE_OVERRIDE.value} permission (owners and admins)",
        )


async def _audit_delete(
    call: Call, request: DeleteVersionRequest | DeletePackageRequest, deleted: DeletedArtifacts, resource: str
) -> None:
    """A delete on the audit log; one that overrode the delete policy as `artifacts.delete.override`
    (still found by a filter on `artifacts.delete`), naming each rule it overrode and the reason given."""
    before: dict[str, Any] = {"files": deleted.files}
    if isinstance(request, DeletePackageRequest):
        before = {"versions": deleted.versions, **before}
    if not deleted.overridden:
        after: dict[str, Any] | None = {"forced": True, "reason": request.reason} if request.force else None
        await _audit(call, "artifacts.delete", resource, before=before, after=after)
        return
    overrode = [o.model_dump(exclude_none=True) for o in deleted.overridden]
    after = {"forced": True, "overrode": overrode, "reason": request.reason}
    await _audit(call, "artifacts.delete.override", resource, before=before, after=after)


async def delete_version(call: Call) -> BaseModel:
    _may_force(call)
    deleted: DeletedArtifacts = await deps(call).bus.request(ARTIFACT_DELETE, call.input, call.ctx)
    resource = f"{deleted.ecosystem.value}:{deleted.name}@{deleted.versions[0]}"
    await _audit_delete(call, call.input, deleted, resource)
    return deleted


async def delete_package(call: Call) -> BaseModel:
    _may_force(call)
    deleted: DeletedArtifacts = await deps(call).bus.request(ARTIFACT_DELETE_PACKAGE, call.input, call.ctx)
    await _audit_delete(call, call.input, deleted, f"{deleted.ecosystem.value}:{deleted.name}")
    return deleted


def _forward(path: str, summary: str, endpoint: Any, extra: tuple[int, ...] = (503, 504)) -> Route:
    return Route(
        "GET",
        path,
        summary,
        Permission.ARTIFACTS_READ,
        Forward(endpoint),
        tags=TAGS,
        feature="artifacts",
        extra_status=extra,
    )


def _write(
    method: Any,
    path: str,
    summary: str,
    permission: Permission,
    handler: Any,
    request: Any,
    response: Any,
    extra: tuple[int, ...] = (404, 503, 504),
) -> Route:
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        request=request,
        response=response,
        tags=TAGS,
        feature="artifacts",
        extra_status=extra,
    )


REGISTRY_ROUTES: list[Route] = [
    _forward(
        "/api/v1/registry/packages",
        "Search your team's packages: full text over names (first), keywords and summaries, then "
        "descriptions; filters by ecosystem, licence and `depends_on` (reverse dependencies); pages "
        "by offset. `license` is an SPDX id or expression, any case (`MIT`, `MIT OR Apache-2.0`: "
        "either; `AND`, `WITH`: all of them), matched against the SPDX ids each package's licence "
        "names (`MIT OR Apache-2.0` is found by `MIT` and by `Apache-2.0`, never by `MIT-0`), read "
        "from its expression, its free-text licence or Python's licence classifiers; other text is "
        "compared with the licence as written.",
        ARTIFACT_SEARCH,
    ),
    _forward(
        PACKAGE,
        "A package with its latest and stable versions (by the ecosystem's ordering) and every "
        "version, newest first.",
        ARTIFACT_VERSIONS,
        (404, 503, 504),
    ),
    _forward(
        VERSION,
        "One version: metadata, dependencies, files with their digests and download counts, purl.",
        ARTIFACT_VERSION,
        (404, 503, 504),
    ),
    _write(
        "POST",
        VERSION + "/yank",
        "Yank a version (PEP 592): installers skip it unless it is pinned exactly; its files stay.",
        Permission.ARTIFACTS_YANK,
        yank,
        YankRequest,
        VersionInfo,
    ),
    _write(
        "POST",
        VERSION + "/unyank",
        "Undo a version's yank.",
        Permission.ARTIFACTS_YANK,
        unyank,
        VersionRef,
        VersionInfo,
    ),
    _write(
        "DELETE",
        VERSION,
        "Delete a version and its files. Their names are never accepted again (a pinned hash keeps "
        "its meaning): publish a new version instead. Past 72 h a version other packages of the team "
        "depend on is refused (409 `delete_refused`; npm: its unpublish policy, `unpublish_refused`); "
        "`force=true` overrides that (needs `artifacts:delete_override`: owners and admins), audited "
        "as `artifacts.delete.override` with the rule overridden and the optional `reason`.",
        Permission.ARTIFACTS_DELETE,
        delete_version,
        DeleteVersionRequest,
        DeletedArtifacts,
        (403, 404, 409, 503, 504),
    ),
    _write(
        "DELETE",
        PACKAGE,
        "Delete a package with every version and file; the delete policy and `force` as for a version.",
        Permission.ARTIFACTS_DELETE,
        delete_package,
        DeletePackageRequest,
        DeletedArtifacts,
        (403, 404, 409, 503, 504),
    ),
]
