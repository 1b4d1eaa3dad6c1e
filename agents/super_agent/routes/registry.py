"""The registry's ecosystem-neutral REST API (`REGISTRY_ROUTES`): search, a package's versions, a
version, yank/unyank and delete, served by the ArtifactManagerAgent. Writes are audited here once
the agent has answered (the audit log is the SuperAgent's)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Forward, Local, Route
from shared.messages.artifacts import (
    DeletedArtifacts,
    PackageRef,
    VersionInfo,
    VersionRef,
    YankRequest,
)
from shared.messages.permissions import Permission
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


async def delete_version(call: Call) -> BaseModel:
    deleted: DeletedArtifacts = await deps(call).bus.request(ARTIFACT_DELETE, call.input, call.ctx)
    await _audit(
        call,
        "artifacts.delete",
        f"{deleted.ecosystem.value}:{deleted.name}@{deleted.versions[0]}",
        before={"files": deleted.files},
    )
    return deleted


async def delete_package(call: Call) -> BaseModel:
    deleted: DeletedArtifacts = await deps(call).bus.request(ARTIFACT_DELETE_PACKAGE, call.input, call.ctx)
    await _audit(
        call,
        "artifacts.delete",
        f"{deleted.ecosystem.value}:{deleted.name}",
        before={"versions": deleted.versions, "files": deleted.files},
    )
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
    method: Any, path: str, summary: str, permission: Permission, handler: Any, request: Any, response: Any
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
        extra_status=(404, 503, 504),
    )


REGISTRY_ROUTES: list[Route] = [
    _forward(
        "/api/v1/registry/packages",
        "Search your team's packages: full text over names (first), keywords and summaries, then "
        "descriptions; filters by ecosystem, licence and `depends_on` (reverse dependencies); pages "
        "by offset.",
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
        "its meaning): publish a new version instead.",
        Permission.ARTIFACTS_DELETE,
        delete_version,
        VersionRef,
        DeletedArtifacts,
    ),
    _write(
        "DELETE",
        PACKAGE,
        "Delete a package with every version and file.",
        Permission.ARTIFACTS_DELETE,
        delete_package,
        PackageRef,
        DeletedArtifacts,
    ),
]
