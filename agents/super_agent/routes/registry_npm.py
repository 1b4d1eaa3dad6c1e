"""The npm registry of each team, as the npm CLI uses it (`REGISTRY_NPM_ROUTES`), under
`/registry/{team}/npm/` (`.npmrc`: `registry=<edge>/registry/<team>/npm/` and that URL's
`:_authToken=<API key>`, which npm sends as `Authorization: Bearer`).

    GET    {name}                          packument (abbreviated by Accept); scoped as @scope%2fname
    GET    {scope}/{name}                  the same, scoped name unencoded
    PUT    {name}                          npm publish (with _attachments) or npm deprecate (without)
    GET    [{scope}/]{name}/-/{filename}   a tarball (ETag, Range)
    PUT    {name}/-rev/{rev}               npm unpublish of some versions (the packument without them)
    DELETE {name}/-rev/{rev}               npm unpublish of the whole package
    DELETE {name}/-/{filename}/-rev/{rev}  the tarball of a version unpublished
    GET/PUT/DELETE -/package/{name}/dist-tags[/{tag}]   npm dist-tag ls/add/rm
    GET    -/v1/search, -/whoami, -/ping

Thin wiring: `npm publish` sends one JSON document with the tarball in base64; it is read here with
a bound (4/3 of `registry.max_upload_bytes` plus the document), the tarball decoded into the blob
store, and the ArtifactManagerAgent gets the document without the base64 and the blob's reference
(bytes never cross NATS). Errors are npm's JSON `{"error": "<code>: <message>"}`, which npm prints.

A team behind an npm upstream (`registry.upstreams`) gets the upstream's packuments and tarballs for
names it does not publish through the same routes: the ArtifactManagerAgent decides and fetches
(services/registry/npm_upstream.py); a packument too large for a bus message comes back as a blob
reference and is streamed from the blob store here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agents.super_agent.edge_deps import acting, deps
from agents.super_agent.routes.registry_python import (
    check_team,
    locate,
    send_blob,
    storage_quota,
    stream_blob,
)
from services.gateway.edge import validate_input
from services.gateway.errors import HttpProblem
from services.gateway.json_body import JsonRefused, read_json
from services.gateway.route_table import Call, Local, RequestBody, Route
from shared.blobstore import BlobNotFound
from shared.messages.artifacts import (
    NPM_DOCUMENT_MAX_CHARS,
    BlobReference,
    DeletedArtifacts,
    Ecosystem,
    FileLocation,
    FilenameText,
    NameText,
    NpmDeprecated,
    NpmDeprecateRequest,
    NpmDistTagRequest,
    NpmDistTags,
    NpmDocument,
    NpmNameText,
    NpmPackageRequest,
    NpmPackumentRequest,
    NpmPublishRequest,
    NpmTagText,
    NpmTarballRequest,
    NpmUnpublishRequest,
    PackageSummary,
    PublishedArtifact,
    SearchQuery,
    SearchResults,
    TeamPath,
)
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.fields import Text
from shared.messages.permissions import Permission
from shared.messages.registry import (
    ARTIFACT_NPM_DEPRECATE,
    ARTIFACT_NPM_DIST_TAG_REMOVE,
    ARTIFACT_NPM_DIST_TAG_SET,
    ARTIFACT_NPM_DIST_TAGS,
    ARTIFACT_NPM_PACKUMENT,
    ARTIFACT_NPM_PUBLISH,
    ARTIFACT_NPM_TARBALL,
    ARTIFACT_NPM_UNPUBLISH,
    ARTIFACT_SEARCH,
)
from shared.metrics import EDGE_CACHE_TOTAL
from shared.principals import team_of

__all__ = ["REGISTRY_NPM_ROUTES"]

TAGS = ("registry",)
BASE = "/registry/{team}/npm"
ABBREVIATED = "application/vnd.npm.install-v1+json"
PUBLISH_TIMEOUT_SECONDS = 300.0
# A publish document beside its base64: package.json, readme (npmjs keeps 64K of it) and npm's fields.
DOCUMENT_OVERHEAD_BYTES = 2 * 1024 * 1024
README_MAX_CHARS = 65_536
# Base64 decoded a slice at a time (a multiple of 4 characters), so the decoded tarball is never
# held twice.
_DECODE_SLICE = 4 * 256 * 1024


class _Paths(BaseModel):
    model_config = ConfigDict(extra="forbid")


ScopeText = Annotated[str, StringConstraints(pattern=r"^@[^\x00-\x1f\x7f-\x9f/]+$", max_length=214)]
RevText = Annotated[Text, StringConstraints(max_length=100)]
# npm adds `?write=true` to the reads that precede a write (ping, unpublish): it changes nothing here.
WriteFlag = Annotated[Text, StringConstraints(max_length=10)] | None


class TeamPing(_Paths):
    team: TeamPath
    write: WriteFlag = None


class TeamOnly(_Paths):
    team: TeamPath


class SearchInput(_Paths):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    team: TeamPath
    text: Annotated[Text, StringConstraints(max_length=200)] | None = None
    size: Annotated[int, Field(ge=1, le=100)] = 20
    from_: Annotated[int, Field(ge=0, le=10_000, alias="from")] = 0
    # npm sends its ranking weights; the registry ranks by its own full-text search.
    quality: Annotated[Text, StringConstraints(max_length=20)] | None = None
    popularity: Annotated[Text, StringConstraints(max_length=20)] | None = None
    maintenance: Annotated[Text, StringConstraints(max_length=20)] | None = None


class PackagePath(_Paths):
    team: TeamPath
    name: NpmNameText
    write: WriteFlag = None


class ScopedPackagePath(_Paths):
    team: TeamPath
    scope: ScopeText
    name: NameText
    write: WriteFlag = None


class TarballPath(_Paths):
    team: TeamPath
    name: NpmNameText
    filename: FilenameText


class ScopedTarballPath(_Paths):
    team: TeamPath
    scope: ScopeText
    name: NameText
    filename: FilenameText


class DistTagsPath(_Paths):
    team: TeamPath
    name: NpmNameText


class DistTagPath(_Paths):
    team: TeamPath
    name: NpmNameText
    tag: NpmTagText


class RevPath(_Paths):
    team: TeamPath
    name: NpmNameText
    rev: RevText


class TarballRevPath(_Paths):
    team: TeamPath
    name: NpmNameText
    filename: FilenameText
    rev: RevText


class NpmOk(BaseModel):
    """npm's answer to a write it only checks for success."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = True
    id: Text | None = None
    rev: Text | None = None


class NpmWhoami(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text


def npm_error(error: ErrorBody, status: int) -> dict[str, Any]:
    """npm prints a failed request's `error` field: ours leads with the machine code (the registry's
    own, e.g. `version_exists`, which its message already starts with, or the edge's)."""
    registry_code = any(d.get("loc") == "registry" for d in error.details)
    text = error.message if registry_code else f"{error.code.value}: {error.message}"
    return {"error": text, "code": error.code.value, "details": error.details}


def _json(document: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(
        text=document if isinstance(document, str) else json.dumps(document),
        status=status,
        content_type=content_type,
    )


def _registry_url(call: Call, team: str) -> str:
    public = deps(call).runtime.settings.http.public_url
    origin = str(public).rstrip("/") if public else f"{call.request.scheme}://{call.request.host}"
    return f"{origin}/registry/{team}/npm"


def _path(call: Call, model: type[BaseModel]) -> Any:
    """The path of a route whose body the edge does not parse, validated as the edge would."""
    return validate_input(model, dict(call.request.match_info))


# --- reads ----------------------------------------------------------------------------------------------


async def _packument(call: Call, team: str, name: str) -> web.StreamResponse:
    check_team(call, team)
    abbreviated = ABBREVIATED in call.request.headers.get("Accept", "") and _prefers_abbreviated(
        call.request.headers.get("Accept", "")
    )
    edge = deps(call)
    team_id = team_of(call.ctx.principal)
    registry_url = _registry_url(call, team)
    key = ("npm-packument", name, abbreviated, registry_url)
    document = edge.registry_reads.get(team_id, key)
    EDGE_CACHE_TOTAL.labels("registry_reads", "hit" if document is not None else "miss").inc()
    if not isinstance(document, NpmDocument):
        generation = edge.registry_reads.generation(team_id)
        document = await edge.bus.request(
            ARTIFACT_NPM_PACKUMENT,
            NpmPackumentRequest(name=name, abbreviated=abbreviated, registry_url=registry_url),
            call.ctx,
        )
        if document.cacheable and document.blob is None:
            edge.registry_reads.put(team_id, key, document, generation)
    media = ABBREVIATED if abbreviated else "application/json"
    headers = {"Vary": "Accept, Authorization", "Cache-Control": "private, max-age=0"}
    if document.blob is not None:
        return await _stream_document(call, document.blob, media, headers)
    response = _json(document.body, content_type=media)
    response.headers.update(headers)
    return response


async def _stream_document(
    call: Call, blob: BlobReference, media: str, headers: dict[str, str]
) -> web.StreamResponse:
    """An upstream packument too large for a bus message, from the blob store the agent put it in."""
    chunks = deps(call).blobs.open(blob.sha256)
    try:
        head = await anext(chunks, b"")
    except BlobNotFound:
        raise HttpProblem(
            ErrorCode.UNAVAILABLE, "the package document was replaced meanwhile; ask again"
        ) from None
    response = web.StreamResponse(headers=headers)
    response.content_type = media
    response.content_length = blob.size
    await response.prepare(call.request)
    # Checked against its digest as it streams, as package files are (cut off if it does not match).
    span = (0, blob.size - 1)
    await send_blob(
        call.request, response, chunks, head, sha256=blob.sha256, size=blob.size, span=span, name="packument"
    )
    return response


def _prefers_abbreviated(accept: str) -> bool:
    """npm install sends `application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*`;
    `npm view` asks for `application/json`."""
    best: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best[media.lower()] = max(best.get(media.lower(), 0.0), q)
    full = max(best.get("application/json", 0.0), best.get("*/*", 0.0))
    return best.get(ABBREVIATED, 0.0) > 0 and best.get(ABBREVIATED, 0.0) >= full


async def packument(call: Call) -> web.StreamResponse:
    return await _packument(call, call.input.team, call.input.name)


async def scoped_packument(call: Call) -> web.StreamResponse:
    return await _packument(call, call.input.team, f"{call.input.scope}/{call.input.name}")


async def _tarball(call: Call, team: str, name: str, filename: str) -> web.StreamResponse:
    team_id = check_team(call, team)

    async def ask() -> FileLocation:
        answer: FileLocation = await deps(call).bus.request(
            ARTIFACT_NPM_TARBALL, NpmTarballRequest(name=name, filename=filename), call.ctx
        )
        return answer

    return await stream_blob(call, await locate(call, team_id, ("npm-tarball", name, filename), ask))


async def tarball(call: Call) -> web.StreamResponse:
    return await _tarball(call, call.input.team, call.input.name, call.input.filename)


async def scoped_tarball(call: Call) -> web.StreamResponse:
    path = call.input
    return await _tarball(call, path.team, f"{path.scope}/{path.name}", path.filename)


def _search_object(item: PackageSummary, registry_url: str) -> dict[str, Any]:
    return {
        "package": {
            "name": item.name,
            "version": item.latest or item.stable or "0.0.0",
            "description": item.summary or "",
            "keywords": item.keywords,
            "date": item.updated_at.isoformat().replace("+00:00", "Z"),
            "links": {"npm": f"{registry_url}/{item.name}"},
            "publisher": {"username": "team"},
            "maintainers": [],
            "license": item.license,
        },
        "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
        "searchScore": 1.0,
        "downloads": {"monthly": item.downloads, "weekly": item.downloads},
    }


async def search(call: Call) -> web.StreamResponse:
    """`npm search`: the registry's full-text search over the team's npm packages, in npm's shape."""
    query: SearchInput = call.input
    check_team(call, query.team)
    results: SearchResults = await deps(call).bus.request(
        ARTIFACT_SEARCH,
        SearchQuery(q=query.text, ecosystem=Ecosystem.NPM, limit=query.size, offset=query.from_),
        call.ctx,
    )
    url = _registry_url(call, query.team)
    return _json(
        {
            "objects": [_search_object(item, url) for item in results.items],
            "total": results.total,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
    )


async def whoami(call: Call) -> web.StreamResponse:
    """`npm whoami`: the signed-in user's GitHub login, or the API key's name for a key of no user."""
    check_team(call, call.input.team)
    principal = call.ctx.principal
    assert principal is not None
    async with deps(call).pool.acquire() as conn:
        username = None
        if principal.user_id is not None:
            username = await conn.fetchval(
                "SELECT login FROM super_agent.users WHERE id = $1::uuid", principal.user_id
            )
        if username is None and principal.api_key_id is not None:
            username = await conn.fetchval(
                "SELECT name FROM super_agent.api_keys WHERE key_id = $1", principal.api_key_id
            )
    return _json({"username": username or principal.api_key_id or "unknown"})


async def ping(call: Call) -> web.StreamResponse:
    check_team(call, call.input.team)
    return _json({})


async def dist_tags(call: Call) -> web.StreamResponse:
    check_team(call, call.input.team)
    found: NpmDistTags = await deps(call).bus.request(
        ARTIFACT_NPM_DIST_TAGS, NpmPackageRequest(name=call.input.name), call.ctx
    )
    return _json(found.tags)


# --- writes ---------------------------------------------------------------------------------------------


async def _audit(call: Call, team_id: str, action: str, resource: str, **change: Any) -> None:
    """A write the agent applied, on the audit log; it changed the team's registry, so this replica's
    cached registry reads go at once (read your writes; the others follow the agent's notice)."""
    deps(call).registry_reads.drop_team(team_id)
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(conn, team_id, action, "artifact", resource, **change)


async def dist_tag_set(call: Call) -> web.StreamResponse:
    """`npm dist-tag add name@version tag`: the body is the version as a JSON string."""
    path: DistTagPath = _path(call, DistTagPath)
    team_id = check_team(call, path.team)
    try:
        version = read_json(call.body or b"")
    except JsonRefused as error:
        raise HttpProblem(error.body.code, error.body.message, error.body.details) from None
    if not isinstance(version, str):
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the body must be the version as a JSON string")
    request = validate_input(NpmDistTagRequest, {"name": path.name, "tag": path.tag, "version": version})
    assert isinstance(request, NpmDistTagRequest)
    found: NpmDistTags = await deps(call).bus.request(ARTIFACT_NPM_DIST_TAG_SET, request, call.ctx)
    await _audit(
        call, team_id, "artifacts.dist_tag", f"npm:{path.name}", after={"tag": path.tag, "version": version}
    )
    return _json(found.tags)


async def dist_tag_remove(call: Call) -> web.StreamResponse:
    path: DistTagPath = call.input
    team_id = check_team(call, path.team)
    found: NpmDistTags = await deps(call).bus.request(
        ARTIFACT_NPM_DIST_TAG_REMOVE, NpmDistTagRequest(name=path.name, tag=path.tag), call.ctx
    )
    await _audit(call, team_id, "artifacts.dist_tag", f"npm:{path.name}", before={"tag": path.tag})
    return _json(found.tags)


async def _read_document(call: Call, limit: int) -> Any:
    """The PUT's JSON document, at most `limit` bytes (by Content-Length at once, else as read)."""
    request = call.request
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the document is larger than {limit} bytes")
    data = bytearray()
    while chunk := await request.content.read(1024 * 1024):
        data += chunk
        if len(data) > limit:
            raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the document is larger than {limit} bytes")
    if request.content_type not in ("application/json", "") and not request.content_type.endswith("+json"):
        raise HttpProblem(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the document as application/json")
    try:
        document = read_json(bytes(data))
    except JsonRefused as error:
        raise HttpProblem(error.body.code, error.body.message, error.body.details) from None
    if not isinstance(document, dict):
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    return document


def _document_text(document: dict[str, Any]) -> str:
    text = json.dumps(document)
    if len(text) > NPM_DOCUMENT_MAX_CHARS:
        raise HttpProblem(
            ErrorCode.PAYLOAD_TOO_LARGE,
            "the package document (package.json and readme) is larger than "
            f"{NPM_DOCUMENT_MAX_CHARS} characters",
        )
    return text


def _cut_readmes(document: dict[str, Any]) -> None:
    """npmjs keeps the first 64K of a readme: so do we, before the document travels."""
    places = [document, *(v for v in (document.get("versions") or {}).values() if isinstance(v, dict))]
    for place in places:
        if isinstance(place.get("readme"), str):
            place["readme"] = place["readme"][:README_MAX_CHARS]


async def _decoded(data: str) -> AsyncIterator[bytes]:
    for start in range(0, len(data), _DECODE_SLICE):
        try:
            yield base64.b64decode(data[start : start + _DECODE_SLICE], validate=True)
        except (binascii.Error, ValueError):
            raise HttpProblem(
                ErrorCode.BAD_REQUEST, "invalid_publish: attachment data is not valid base64"
            ) from None


async def put_package(call: Call) -> web.StreamResponse:
    """`npm publish` (a document with `_attachments`) or `npm deprecate` (the packument put back)."""
    path: PackagePath = _path(call, PackagePath)
    team_id = check_team(call, path.team)
    limit = deps(call).runtime.settings.registry.max_upload_bytes
    document = await _read_document(call, limit * 4 // 3 + 4 + DOCUMENT_OVERHEAD_BYTES)
    _cut_readmes(document)
    attachments = document.get("_attachments")
    if not attachments:
        return await _deprecate(call, team_id, path.name, document)
    if not isinstance(attachments, dict) or len(attachments) != 1:
        raise HttpProblem(
            ErrorCode.BAD_REQUEST, "invalid_publish: a publish carries exactly one tarball attachment"
        )
    ((attachment_name, attachment),) = attachments.items()
    if not isinstance(attachment, dict) or not isinstance(attachment.get("data"), str):
        raise HttpProblem(ErrorCode.BAD_REQUEST, "invalid_publish: the attachment has no base64 data")
    data: str = attachment["data"]
    if len(data) > 4 * (limit // 3 + 1):
        raise HttpProblem(
            ErrorCode.PAYLOAD_TOO_LARGE, f"archive_too_large: the tarball is larger than {limit} bytes"
        )
    document["_attachments"] = {attachment_name: {k: v for k, v in attachment.items() if k != "data"}}
    text = _document_text(document)  # checked before a byte is stored: a refusal leaves no blob
    quota = await storage_quota(call, team_id)
    stored = await deps(call).blobs.put(_decoded(data))
    del data, attachment, attachments
    published: PublishedArtifact = await deps(call).bus.request(
        ARTIFACT_NPM_PUBLISH,
        NpmPublishRequest(
            name=path.name,
            document=text,
            blob=BlobReference(sha256=stored.sha256, size=stored.size),
            quota=quota,
        ),
        call.ctx,
        timeout=PUBLISH_TIMEOUT_SECONDS,
    )
    version = published.version
    await _audit(
        call,
        team_id,
        "artifacts.publish",
        f"npm:{version.name}@{version.version}/{published.file.filename}",
        after={"sha256": published.file.sha256, "size": published.file.size},
    )
    return _json({"ok": True, "id": version.name}, status=201)


def _deprecations(document: dict[str, Any]) -> dict[str, Any]:
    """Of the packument `npm deprecate` PUTs back, what the agent reads: each version's `deprecated`
    (anything malformed kept as sent, for the agent to refuse). A package of many versions would
    otherwise pass NPM_DOCUMENT_MAX_CHARS (a 413) though the change is a few bytes."""
    versions = document.get("versions")
    if not isinstance(versions, dict):
        return {"versions": versions}
    return {
        "versions": {
            version: {k: v for k, v in entry.items() if k == "deprecated"}
            if isinstance(entry, dict)
            else entry
            for version, entry in versions.items()
        }
    }


def _kept_versions(document: dict[str, Any]) -> dict[str, Any]:
    """Of the packument `npm unpublish name@version` PUTs back, what the agent reads: the version
    numbers it keeps (the whole packument of a package of many versions would pass the bus' bound)."""
    versions = document.get("versions")
    if not isinstance(versions, dict):
        return {"versions": versions}
    return {"versions": {version: {} for version in versions}}


async def _deprecate(call: Call, team_id: str, name: str, document: dict[str, Any]) -> web.StreamResponse:
    changed: NpmDeprecated = await deps(call).bus.request(
        ARTIFACT_NPM_DEPRECATE,
        NpmDeprecateRequest(name=name, document=_document_text(_deprecations(document))),
        call.ctx,
    )
    if changed.changed:
        await _audit(call, team_id, "artifacts.deprecate", f"npm:{changed.name}", after=changed.changed)
    return _json({"ok": True, "id": changed.name}, status=201)


async def _unpublish(call: Call, request: NpmUnpublishRequest, team_id: str) -> web.StreamResponse:
    deleted: DeletedArtifacts = await deps(call).bus.request(ARTIFACT_NPM_UNPUBLISH, request, call.ctx)
    for version in deleted.versions:
        await _audit(
            call,
            team_id,
            "artifacts.delete",
            f"npm:{deleted.name}@{version}",
            before={"files": deleted.files},
        )
    return _json({"ok": True, "id": deleted.name})


async def unpublish_versions(call: Call) -> web.StreamResponse:
    """The PUT of `npm unpublish name@version`: the packument without the versions to remove."""
    path: RevPath = _path(call, RevPath)
    team_id = check_team(call, path.team)
    document = await _read_document(
        call, deps(call).runtime.settings.http.max_body_bytes + DOCUMENT_OVERHEAD_BYTES
    )
    request = NpmUnpublishRequest(
        name=path.name, rev=path.rev, document=_document_text(_kept_versions(document))
    )
    return await _unpublish(call, request, team_id)


async def unpublish_package(call: Call) -> web.StreamResponse:
    path: RevPath = call.input
    team_id = check_team(call, path.team)
    return await _unpublish(call, NpmUnpublishRequest(name=path.name, rev=path.rev), team_id)


async def unpublish_tarball(call: Call) -> web.StreamResponse:
    path: TarballRevPath = call.input
    team_id = check_team(call, path.team)
    request = NpmUnpublishRequest(name=path.name, rev=path.rev, filename=path.filename)
    return await _unpublish(call, request, team_id)


def _route(method: Any, path: str, summary: str, permission: Permission, handler: Any, **extra: Any) -> Route:
    return Route(
        method,
        BASE + path,
        summary,
        permission,
        Local(handler),
        tags=TAGS,
        feature="artifacts",
        error_shape=npm_error,
        **extra,
    )


_READ_STATUS = (404, 503, 504)
_WRITE_STATUS = (404, 409, 503, 504)

_PUBLISH_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "required": ["name", "versions"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "object", "additionalProperties": {"type": "object"}},
        "dist-tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "_attachments": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "content_type": {"type": "string"},
                    "data": {"type": "string", "contentEncoding": "base64"},
                    "length": {"type": "integer"},
                },
            },
        },
    },
}


# The `-/` routes come first: aiohttp tries routes in order, and `{scope}/{name}` would match them.
REGISTRY_NPM_ROUTES: list[Route] = [
    _route(
        "GET",
        "/-/ping",
        "npm ping: the registry answers `{}`.",
        Permission.ARTIFACTS_READ,
        ping,
        request=TeamPing,
        response=NpmOk,
        extra_status=(404,),
    ),
    _route(
        "GET",
        "/-/whoami",
        "npm whoami: the user (GitHub login) or API key behind the token.",
        Permission.ARTIFACTS_READ,
        whoami,
        request=TeamOnly,
        response=NpmWhoami,
        extra_status=(404,),
    ),
    _route(
        "GET",
        "/-/v1/search",
        "npm search: full-text search over the team's npm packages (npm's `objects`/`total` shape).",
        Permission.ARTIFACTS_READ,
        search,
        request=SearchInput,
        extra_status=_READ_STATUS,
    ),
    _route(
        "GET",
        "/-/package/{name}/dist-tags",
        "npm dist-tag ls: the package's tags and their versions.",
        Permission.ARTIFACTS_READ,
        dist_tags,
        request=DistTagsPath,
        extra_status=_READ_STATUS,
    ),
    _route(
        "PUT",
        "/-/package/{name}/dist-tags/{tag}",
        "npm dist-tag add: point a tag at a published version (the body is the version as a JSON string).",
        Permission.ARTIFACTS_PUBLISH,
        dist_tag_set,
        request=DistTagPath,
        raw_body=True,
        body=RequestBody("The version to tag, as a JSON string.", {"application/json": {"type": "string"}}),
        extra_status=_WRITE_STATUS,
    ),
    _route(
        "DELETE",
        "/-/package/{name}/dist-tags/{tag}",
        "npm dist-tag rm: remove a tag (not `latest`).",
        Permission.ARTIFACTS_PUBLISH,
        dist_tag_remove,
        request=DistTagPath,
        extra_status=_WRITE_STATUS,
    ),
    _route(
        "GET",
        "/{name}",
        "A package's packument (npm view, npm install): full, or abbreviated with "
        f"Accept: {ABBREVIATED}. A scoped name is `@scope%2fname`. Authenticate with the API key as "
        "npm's _authToken (a Bearer token).",
        Permission.ARTIFACTS_READ,
        packument,
        request=PackagePath,
        other_media_types=(ABBREVIATED,),
        extra_status=_READ_STATUS,
    ),
    _route(
        "PUT",
        "/{name}",
        "npm publish (the document with its tarball in `_attachments`, base64; "
        "checked against the tarball's digests and package.json; a published version is never "
        "replaced), or npm deprecate (the packument put back without attachments; needs "
        "artifacts:yank too).",
        Permission.ARTIFACTS_PUBLISH,
        put_package,
        request=PackagePath,
        response=NpmOk,
        status=201,
        raw_body=True,
        streamed_body=True,
        body=RequestBody(
            "npm's publish document (name, versions with each package.json, dist-tags, and "
            "`_attachments` holding the tarball in base64), or for npm deprecate the packument without "
            "attachments.",
            {"application/json": _PUBLISH_DOCUMENT},
        ),
        deadline=False,
        extra_status=(402, 404, 409, 413, 415, 503, 504),
    ),
    _route(
        "GET",
        "/{scope}/{name}",
        "A scoped package's packument, its name unencoded (`@scope/name`).",
        Permission.ARTIFACTS_READ,
        scoped_packument,
        request=ScopedPackagePath,
        other_media_types=(ABBREVIATED,),
        extra_status=_READ_STATUS,
    ),
    _route(
        "GET",
        "/{name}/-/{filename}",
        "Download a tarball (ETag, Range, Content-Length); its integrity is in the packument.",
        Permission.ARTIFACTS_READ,
        tarball,
        request=TarballPath,
        media_type="application/octet-stream",
        extra_status=(206, 304, 404, 416, 503, 504),
        deadline=False,
    ),
    _route(
        "GET",
        "/{scope}/{name}/-/{filename}",
        "Download a scoped package's tarball.",
        Permission.ARTIFACTS_READ,
        scoped_tarball,
        request=ScopedTarballPath,
        media_type="application/octet-stream",
        extra_status=(206, 304, 404, 416, 503, 504),
        deadline=False,
    ),
    _route(
        "PUT",
        "/{name}/-rev/{rev}",
        "npm unpublish name@version: the packument without the versions "
        "to remove, at the revision npm read. Within the unpublish policy (72 h, or no dependents, "
        "few downloads); refused otherwise.",
        Permission.ARTIFACTS_DELETE,
        unpublish_versions,
        request=RevPath,
        response=NpmOk,
        raw_body=True,
        streamed_body=True,
        body=RequestBody(
            "The packument as npm read it, without the versions to remove.",
            {"application/json": {"type": "object", "required": ["name", "versions"]}},
        ),
        extra_status=(404, 409, 413, 415, 503, 504),
    ),
    _route(
        "DELETE",
        "/{name}/-rev/{rev}",
        "npm unpublish of a whole package (every version), within the unpublish policy.",
        Permission.ARTIFACTS_DELETE,
        unpublish_package,
        request=RevPath,
        response=NpmOk,
        extra_status=_WRITE_STATUS,
    ),
    _route(
        "DELETE",
        "/{name}/-/{filename}/-rev/{rev}",
        "The tarball of an unpublished version (npm "
        "unpublish's last step; unpublishes the version if it is still there).",
        Permission.ARTIFACTS_DELETE,
        unpublish_tarball,
        request=TarballRevPath,
        response=NpmOk,
        extra_status=_WRITE_STATUS,
    ),
]
