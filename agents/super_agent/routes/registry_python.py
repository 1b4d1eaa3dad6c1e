"""The Python package index of each team, as pip, uv and twine use it (`REGISTRY_PYTHON_ROUTES`).

    /registry/{team}/pypi/simple/                         PEP 503/691 project list
    /registry/{team}/pypi/simple/{project}/               a project's files
    /registry/{team}/pypi/files/{sha256}/{filename}       a file (and `<filename>.metadata`, PEP 658)
    /registry/{team}/pypi/legacy/                         twine's upload URL

Thin wiring: bytes are streamed between the client and the blob store here (never over NATS); the
ArtifactManagerAgent checks and records uploads, resolves downloads and renders the pages. Clients
authenticate with HTTP Basic (`__token__` and an API key); `{team}` must be the key's team (404
otherwise: whether another team exists is not for the caller to learn). Errors are plain text with
the problem in the status line too, which is what twine prints.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Annotated, Any

import structlog
from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from agents.super_agent.edge_deps import acting, deps
from services.gateway.errors import HttpProblem
from services.gateway.route_table import Call, Local, RequestBody, Route
from shared.blobstore import BlobNotFound, BlobRef
from shared.bus.codec import validation_details
from shared.messages.artifacts import (
    BlobReference,
    Ecosystem,
    FileLocation,
    FilenameText,
    FileRequest,
    NameText,
    NpmDocument,
    PublishArtifact,
    PublishedArtifact,
    PythonPage,
    PythonPageRequest,
    PythonUploadFields,
    Sha256,
    StorageQuota,
    TeamPath,
)
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.permissions import Permission
from shared.messages.registry import ARTIFACT_FILE, ARTIFACT_PUBLISH, ARTIFACT_PYTHON_PAGE
from shared.metrics import EDGE_BLOB_DIGEST_MISMATCHES_TOTAL, EDGE_CACHE_TOTAL
from shared.principals import team_of
from shared.simple_api import TEXT_HTML, negotiate

__all__ = [
    "BLOB_BYTES_KEPT",
    "REGISTRY_PYTHON_ROUTES",
    "REGISTRY_READS_BYTES",
    "REGISTRY_READS_KEPT",
    "SMALL_BLOB_BYTES",
    "check_team",
    "locate",
    "registry_read_weight",
    "send_blob",
    "storage_quota",
    "stream_blob",
]

log = structlog.get_logger("mno.edge.registry")

TAGS = ("registry",)
REALM = 'Basic realm="MachineNativeOps package registry"'
# A form field other than the file: twine's longest is the description (a readme), which is not read.
MAX_FIELD_BYTES = 64 * 1024
# Publishing reads the file back and inspects it: more than an ordinary request's time.
PUBLISH_TIMEOUT_SECONDS = 300.0
_CHUNK = 256 * 1024
_UPLOAD_FIELDS = {(field.alias or name): name for name, field in PythonUploadFields.model_fields.items()}
# How many registry reads the edge keeps (least recently read go first), every team's together, and
# how much text they hold at most (a large project's page runs to hundreds of kB); each at most
# `registry.edge_cache_ttl_seconds`, and a team's dropped when the ArtifactManagerAgent announces a
# change of its registry (REGISTRY_CHANGED).
REGISTRY_READS_KEPT = 20_000
REGISTRY_READS_BYTES = 64 * 1024 * 1024
# Files up to this size are answered whole from memory once read (services/gateway/blob_bytes.py),
# up to this much of them in all.
SMALL_BLOB_BYTES = 256 * 1024
BLOB_BYTES_KEPT = 32 * 1024 * 1024
_SIMPLE_MEDIA = (
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.v1+html",
)


class TwineUploadForm(PythonUploadFields):
    """twine's `file_upload` form as the OpenAPI document shows it: the protocol fields, then the file
    (`content`, last). twine's metadata fields (summary, description, ...) are accepted and ignored:
    metadata is read from the file."""

    model_config = ConfigDict(extra="allow")

    content: bytes


class _Paths(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamIndex(_Paths):
    team: TeamPath


class ProjectPath(_Paths):
    team: TeamPath
    project: NameText


class FilePath(_Paths):
    team: TeamPath
    sha256: Sha256
    filename: Annotated[FilenameText, StringConstraints(max_length=270)]


def _reason(text: str) -> str:
    # A status line carries Latin-1 without line breaks; keep it short and printable.
    return re.sub(r"[^\x20-\x7e]", "?", text)[:300]


def text_error(request: web.Request, error: ErrorBody, status: int, correlation_id: str) -> web.Response:
    """Errors as pip and twine show them: the status line names the problem, the body says it again."""
    headers = {"X-Request-Id": correlation_id}
    if status == 401:
        headers["WWW-Authenticate"] = REALM
    return web.Response(
        status=status,
        reason=_reason(error.message),
        text=f"{error.code.value}: {error.message}\n",
        content_type="text/plain",
        headers=headers,
    )


def registry_read_weight(read: PythonPage | FileLocation | NpmDocument) -> int:
    """About what an answer kept at the edge takes in memory: its text, and a little for the rest."""
    return 256 + (len(read.body) if isinstance(read, PythonPage | NpmDocument) else 0)


def check_team(call: Call, team: str) -> str:
    """The principal's team, if it is the one in the path; 404 otherwise."""
    team_id = team_of(call.ctx.principal)
    if team.lower() != team_id.lower():
        raise HttpProblem(ErrorCode.NOT_FOUND, "no such package index")
    return team_id


async def _page(call: Call, project: str | None) -> web.StreamResponse:
    edge = deps(call)
    team_id = team_of(call.ctx.principal)
    accept = call.request.headers.get("Accept")
    # The agent answers by the negotiated media type: keyed by it, the cache holds one entry per form.
    key = ("pypi-page", project, negotiate(accept) or TEXT_HTML)
    page = edge.registry_reads.get(team_id, key)
    EDGE_CACHE_TOTAL.labels("registry_reads", "hit" if page is not None else "miss").inc()
    if not isinstance(page, PythonPage):
        generation = edge.registry_reads.generation(team_id)
        page = await edge.bus.request(
            ARTIFACT_PYTHON_PAGE, PythonPageRequest(project=project, accept=accept), call.ctx
        )
        if page.cacheable:
            edge.registry_reads.put(team_id, key, page, generation)
    if page.canonical is not None:
        # PEP 503: a project asked for by another spelling is redirected to its normalised name.
        raise web.HTTPMovedPermanently(f"../{page.canonical}/")
    return web.Response(
        text=page.body,
        content_type=page.media_type,
        headers={"Vary": "Accept", "Cache-Control": "private, max-age=60"},
    )


async def simple_index(call: Call) -> web.StreamResponse:
    check_team(call, call.input.team)
    return await _page(call, None)


async def simple_project(call: Call) -> web.StreamResponse:
    check_team(call, call.input.team)
    return await _page(call, call.input.project)


async def locate(
    call: Call, team_id: str, key: Hashable, ask: Callable[[], Awaitable[FileLocation]]
) -> FileLocation:
    """Where the file's bytes are: from the edge's cache of the team's registry reads, or the agent's
    answer (`ask`), kept when the agent allows. A download answered from the cache is counted here
    (the agent counted the one it answered itself) and reaches the agent in a batch."""
    edge = deps(call)
    location = edge.registry_reads.get(team_id, key)
    EDGE_CACHE_TOTAL.labels("registry_reads", "hit" if location is not None else "miss").inc()
    if isinstance(location, FileLocation):
        if location.file_id is not None:
            edge.downloads.add(team_id, location.file_id)
        return location
    generation = edge.registry_reads.generation(team_id)
    location = await ask()
    if location.cacheable:
        edge.registry_reads.put(team_id, key, location, generation)
    return location


async def download(call: Call) -> web.StreamResponse:
    """A file (or its core metadata) from the blob store: ETag (its SHA-256), Range, Content-Length.
    A small file is checked against its digest before it is sent (and kept in memory); a larger one
    is hashed as it streams and cut off if the bytes are not the digest's. Where the bytes are comes
    from the edge's cache of the team's registry reads when it has it (`locate`)."""
    path: FilePath = call.input
    team_id = check_team(call, path.team)
    metadata = path.filename.endswith(".metadata")
    request = FileRequest(
        ecosystem=Ecosystem.PYPI,
        filename=path.filename.removesuffix(".metadata") if metadata else path.filename,
        sha256=path.sha256,
        core_metadata=metadata,
    )

    async def ask() -> FileLocation:
        answer: FileLocation = await deps(call).bus.request(ARTIFACT_FILE, request, call.ctx)
        return answer

    location = await locate(call, team_id, ("pypi-file", path.filename, path.sha256), ask)
    return await stream_blob(call, location)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range, None for the whole file; 416 when unsatisfiable."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or match.group(1) == match.group(2) == "":
        return None  # several ranges or another unit: answered with the whole file, as RFC 9110 allows
    first_text, last_text = match.groups()
    if first_text == "":
        length = int(last_text)
        if length == 0:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return first, last


async def _read_small(call: Call, location: FileLocation) -> bytes:
    """A small blob's bytes, checked against its digest before any is sent (and then kept)."""
    kept = deps(call).blob_bytes
    data = bytearray()
    try:
        async for chunk in deps(call).blobs.open(location.blob_sha256):
            data += chunk
            if len(data) > kept.max_blob:
                break
    except BlobNotFound:
        raise HttpProblem(ErrorCode.NOT_FOUND, "the file's bytes are missing from the blob store") from None
    if hashlib.sha256(data).hexdigest() != location.blob_sha256:
        # The store's bytes are not what was published: the client gets none of them.
        _digest_mismatch("memory", location.blob_sha256, location.filename, len(data), location.size)
        raise HttpProblem(ErrorCode.INTERNAL, "the file's bytes in the blob store are not the published ones")
    kept.put(location.blob_sha256, bytes(data))
    return bytes(data)


def _digest_mismatch(path: str, sha256: str, name: str, read: int, size: int) -> None:
    """Bytes in the blob store that are not their digest's (altered or corrupted on the disk or
    bucket): an operator's problem, which no client retry fixes, so it is an error and counted."""
    EDGE_BLOB_DIGEST_MISMATCHES_TOTAL.labels(path).inc()
    log.error(
        "blob store bytes are not the published digest; the download was refused",
        path=path,
        sha256=sha256,
        file=name,
        bytes_read=read,
        size=size,
    )


async def stream_blob(call: Call, location: FileLocation) -> web.StreamResponse:
    request = call.request
    etag = f'"{location.blob_sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        # Files are immutable under their digest: caches may keep them (privately: indexes are per team).
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Disposition": f'attachment; filename="{location.filename}"',
    }
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers=headers)
    wanted = _byte_range(request.headers.get("Range"), location.size)
    kept = deps(call).blob_bytes
    if wanted is None and location.size <= kept.max_blob:
        # A small file whole (core metadata, most wheels): from memory once it was read and checked.
        data = kept.get(location.blob_sha256) or await _read_small(call, location)
        small = web.Response(body=data, headers=headers)
        small.content_type = location.content_type.split(";")[0]
        return small
    first, last = wanted or (0, location.size - 1)
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    response.content_type = location.content_type.split(";")[0]
    response.content_length = max(last - first + 1, 0)
    if wanted:
        response.headers["Content-Range"] = f"bytes {first}-{last}/{location.size}"
    chunks = deps(call).blobs.open(location.blob_sha256)
    try:
        head = await anext(chunks, b"")
    except BlobNotFound:
        raise HttpProblem(ErrorCode.NOT_FOUND, "the file's bytes are missing from the blob store") from None
    await response.prepare(request)
    await send_blob(
        request,
        response,
        chunks,
        head,
        sha256=location.blob_sha256,
        size=location.size,
        span=(first, last),
        name=location.filename,
    )
    return response


async def send_blob(
    request: web.Request,
    response: web.StreamResponse,
    chunks: AsyncIterator[bytes],
    head: bytes,
    *,
    sha256: str,
    size: int,
    span: tuple[int, int],
    name: str,
) -> None:
    """Bytes `span` (first, last, inclusive) of a blob, read from `head` then `chunks`, written to
    the prepared `response`, then its end.

    The blob is read from its start (the store has no offsets) and hashed as it streams, and the last
    piece to send is held back until the digest is known: bytes that are not the digest's (a blob
    corrupted in the store) never make a complete answer. The connection is aborted short of the
    Content-Length instead (abort, not close: close would still flush what is buffered), so pip and
    npm fail with a short read, never install them; it is logged as an error and counted. That holds
    for a range reaching the end of the file too (a resumed download: `bytes=N-`), whose prefix was
    read anyway. A range ending before the end of the file cannot be checked: the digest covers the
    whole file, and reading on to its end only to check would cost such a request the rest of the
    file; its bytes are sent as stored, and the installer checks the file it reassembles against the
    index's digest (the page's sha256, npm's dist.integrity)."""
    first, last = span
    whole = last == size - 1
    digest = hashlib.sha256()
    position = 0  # how much of the blob was read before `chunk`
    held = b""
    chunk: bytes | None = head
    while chunk:
        if whole:
            digest.update(chunk)
        start, stop = max(first - position, 0), min(last + 1 - position, len(chunk))
        position += len(chunk)
        if stop > start:
            if held:
                await response.write(held)
            held = chunk[start:stop]
        if not whole and position > last:
            break
        chunk = await anext(chunks, None)
    if whole and (position != size or digest.hexdigest() != sha256):
        _digest_mismatch("stream", sha256, name, position, size)
        if request.transport is not None:
            request.transport.abort()
        return
    if held:
        await response.write(held)
    await response.write_eof()


async def _field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(16 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"form field {part.name} is too long")
    return data.decode("utf-8", errors="replace")


async def _drain(part: BodyPartReader) -> None:
    while await part.read_chunk(_CHUNK):
        pass


async def _content(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    size = 0
    while chunk := await part.read_chunk(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the file is larger than {limit} bytes")
        yield chunk


async def storage_quota(call: Call, team_id: str) -> StorageQuota:
    """The plan's artifact_storage_bytes of the team's account (plans are this agent's), for the
    ArtifactManagerAgent, which knows what is stored, to enforce in the publish transaction."""
    edge = deps(call)
    async with edge.pool.acquire() as conn:
        account = await conn.fetchrow(
            "SELECT t.account_id::text AS account_id, "
            "array(SELECT o.id::text FROM super_agent.teams o WHERE o.account_id = t.account_id "
            "ORDER BY o.id) AS team_ids "
            "FROM super_agent.teams t WHERE t.id = $1::uuid",
            team_id,
        )
        plan, entitlements = await edge.plans.plan_of_account(conn, account["account_id"])
    return StorageQuota(
        account_id=account["account_id"],
        team_ids=list(account["team_ids"]),
        max_bytes=entitlements.artifact_storage_bytes,
        plan=plan,
    )


def _form(fields: dict[str, str], filename: str | None) -> tuple[PythonUploadFields, str]:
    if not filename:
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the file part (`content`) has no file name")
    try:
        form = PythonUploadFields.model_validate({_UPLOAD_FIELDS[k]: v for k, v in fields.items()})
        PublishArtifact.model_validate(
            {"ecosystem": "pypi", "filename": filename, "blob": {"sha256": "0" * 64, "size": 0}}
        )
    except ValidationError as error:
        raise HttpProblem(
            ErrorCode.VALIDATION_FAILED, "the upload form does not match twine's", validation_details(error)
        ) from error
    return form, filename


def _publish_request(
    filename: str, stored: BlobRef, form: PythonUploadFields, quota: StorageQuota
) -> PublishArtifact:
    return PublishArtifact(
        ecosystem=Ecosystem.PYPI,
        filename=filename,
        blob=BlobReference(sha256=stored.sha256, size=stored.size),
        python=form,
        quota=quota,
    )


async def upload(call: Call) -> web.StreamResponse:
    """twine's `file_upload`: the file streams into the blob store (hashed and size-capped as it
    arrives), then the ArtifactManagerAgent checks and publishes it, or refuses it and removes it."""
    team_id = check_team(call, call.request.match_info["team"])
    limit = deps(call).runtime.settings.registry.max_upload_bytes
    if call.request.content_length is not None and call.request.content_length > limit + 1024 * 1024:
        raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the upload is larger than {limit} bytes")
    if not call.request.content_type.startswith("multipart/form-data"):
        raise HttpProblem(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "upload with multipart/form-data (as twine does)")
    fields: dict[str, str] = {}
    stored: BlobRef | None = None
    request: PublishArtifact | None = None
    try:
        reader = await call.request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise HttpProblem(ErrorCode.BAD_REQUEST, "nested multipart bodies are not accepted")
            if stored is not None:
                await _drain(part)  # the file comes last (as twine sends it): nothing after it is read
            elif part.name == "content":
                # Everything is checked before the bytes are stored, so a refused form leaves no blob.
                form, filename = _form(fields, part.filename)
                quota = await storage_quota(call, team_id)
                stored = await deps(call).blobs.put(_content(part, limit))
                request = _publish_request(filename, stored, form, quota)
            elif part.name in _UPLOAD_FIELDS:
                if part.name in fields:
                    raise HttpProblem(ErrorCode.BAD_REQUEST, f"form field {part.name} given twice")
                fields[part.name] = await _field(part)
            else:
                await _drain(part)
    except ValueError as error:  # aiohttp's refusal of a malformed multipart body
        raise HttpProblem(ErrorCode.BAD_REQUEST, f"unreadable multipart body: {error}") from None
    if request is None:
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the upload has no file (form field `content`)")
    published: PublishedArtifact = await deps(call).bus.request(
        ARTIFACT_PUBLISH, request, call.ctx, timeout=PUBLISH_TIMEOUT_SECONDS
    )
    # Read your writes on this replica at once; the others follow the agent's notice.
    deps(call).registry_reads.drop_team(team_id)
    version = published.version
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn,
            team_id,
            "artifacts.publish",
            "artifact",
            f"pypi:{version.name}@{version.version}/{published.file.filename}",
            after={"sha256": published.file.sha256, "size": published.file.size},
        )
    return web.Response(text=published.model_dump_json(), content_type="application/json")


def _route(method: Any, path: str, summary: str, permission: Permission, handler: Any, **extra: Any) -> Route:
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        tags=TAGS,
        feature="artifacts",
        error_page=text_error,
        error_page_media_type="text/plain",
        **extra,
    )


REGISTRY_PYTHON_ROUTES: list[Route] = [
    _route(
        "GET",
        "/registry/{team}/pypi/simple/",
        "Your team's Python index (PEP 503 HTML, or PEP 691 JSON by Accept): pip's --index-url. "
        "Authenticate with HTTP Basic: user __token__, an API key as password.",
        Permission.ARTIFACTS_READ,
        simple_index,
        request=TeamIndex,
        media_type="text/html",
        other_media_types=_SIMPLE_MEDIA,
        extra_status=(404, 503, 504),
    ),
    _route(
        "GET",
        "/registry/{team}/pypi/simple/{project}/",
        "A project's files with hashes, Requires-Python, yanked state and core-metadata (PEP 503/691, "
        "592, 658/714, 700); another spelling of the name redirects to the normalised one.",
        Permission.ARTIFACTS_READ,
        simple_project,
        request=ProjectPath,
        media_type="text/html",
        other_media_types=_SIMPLE_MEDIA,
        extra_status=(301, 404, 503, 504),
    ),
    _route(
        "GET",
        "/registry/{team}/pypi/files/{sha256}/{filename}",
        "Download a file (ETag, Range, Content-Length), or `<filename>.metadata`, its core metadata.",
        Permission.ARTIFACTS_READ,
        download,
        request=FilePath,
        media_type="application/octet-stream",
        other_media_types=("text/plain",),
        extra_status=(206, 304, 404, 416, 503, 504),
        deadline=False,  # a large file streams for as long as the client reads
    ),
    _route(
        "POST",
        "/registry/{team}/pypi/legacy/",
        "Upload a wheel or sdist the way twine does (multipart `file_upload`, `--repository-url` "
        "this URL, user __token__, an API key as password). The file is checked against its "
        "metadata and digests; a published file name is never accepted again.",
        Permission.ARTIFACTS_PUBLISH,
        upload,
        request=TeamIndex,
        response=PublishedArtifact,
        raw_body=True,
        streamed_body=True,
        body=RequestBody(
            "twine's multipart form: `:action` file_upload, name, version, filetype and the digests, "
            "then the file as `content`.",
            {"multipart/form-data": TwineUploadForm},
        ),
        deadline=False,
        extra_status=(402, 404, 409, 413, 415, 503, 504),
    ),
]
