"""Routes of the supply chain (`SUPPLY_CHAIN_ROUTES`), served by the SupplyChainAgent: scans of
uploaded SBOMs and lockfiles, SBOM and VEX downloads, findings and their triage, the advisory import
(operator) and its status, attestations and their verification.

Uploads (an SBOM, a lockfile, an envelope, an advisory archive) are the raw request body, streamed
into the blob store here and handed to the agent by digest: NATS carries at most 1 MB, and an
SBOM of a thousand components is about that. Downloads are answered by the agent with the digest
of the document, streamed back from the blob store here. Triage is audited here once the agent
has answered (the audit log is the SuperAgent's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from agents.super_agent.edge_deps import acting, deps
from services.gateway.errors import HttpProblem
from services.gateway.route_table import Call, Forward, Local, RequestBody, Route
from shared.blobstore import BlobNotFound, BlobRef
from shared.messages.artifacts import BlobReference, FilenameText
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.registry import (
    SC_ADVISORY_IMPORT,
    SC_ADVISORY_STATUS,
    SC_ATTESTATION_ENVELOPE,
    SC_ATTESTATION_VERIFY,
    SC_ATTESTATIONS,
    SC_BLOCKED,
    SC_ENVELOPE_VERIFY,
    SC_FINDING,
    SC_FINDING_SUMMARY,
    SC_FINDINGS,
    SC_OVERRIDE_CREATE,
    SC_OVERRIDE_DELETE,
    SC_OVERRIDES,
    SC_POLICY,
    SC_POLICY_SET,
    SC_PUBLIC_KEYS,
    SC_SBOM,
    SC_SBOM_DOCUMENT,
    SC_SBOMS,
    SC_SCAN,
    SC_TRIAGE,
    SC_TRIAGE_WITHDRAW,
    SC_VEX,
)
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryImportRequest,
    AdvisorySource,
    AttestationRef,
    DocumentLocation,
    SbomDocumentRequest,
    ScanDocument,
    ScanResult,
    TriageInfo,
    TriageRequest,
    TriageWithdrawal,
    TriageWithdrawRequest,
    Verification,
    VerifyEnvelope,
    VexRequest,
)
from shared.messages.supply_chain_policy import (
    DownloadPolicy,
    DownloadPolicyQuery,
    DownloadPolicySet,
    OverrideCreate,
    OverrideInfo,
    OverrideRef,
)
from shared.principals import team_of

__all__ = ["SUPPLY_CHAIN_ROUTES"]

TAGS = ("supply chain",)
FEATURE = "supply_chain"
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
# A scan of a large SBOM writes two documents and signs them; an import re-scans stored SBOMs.
SCAN_TIMEOUT_SECONDS = 120.0
IMPORT_TIMEOUT_SECONDS = 900.0


async def _body_to_blob(call: Call, limit: int) -> BlobRef:
    """The raw body, streamed into the blob store (413 past `limit`, as it arrives)."""
    request = call.request
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the document is larger than {limit} bytes")

    async def chunks() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the document is larger than {limit} bytes")
            yield chunk

    stored = await deps(call).blobs.put(chunks())
    if stored.size == 0:
        raise HttpProblem(
            ErrorCode.BAD_REQUEST,
            "send the document as the request body",
            [{"loc": "body", "message": "the body is empty", "type": "missing_body"}],
        )
    return stored


class DocumentQuery(BaseModel):
    """An uploaded document's name, which tells a lockfile's format (an SBOM's may be any name)."""

    filename: FilenameText | None = None


class AdvisoryImportQuery(BaseModel):
    """Names the advisory archive's source (default `upload`)."""

    source: AdvisorySource | None = None


_SCANNED_BODY = RequestBody(
    "The document itself: a CycloneDX (1.2-1.7) or SPDX (2.2/2.3) JSON SBOM, or a lockfile as text.",
    {"application/json": {"type": "object"}, "text/plain": None, "application/octet-stream": None},
)


def _filename(call: Call, default: str | None) -> str:
    """The document's name (which tells a lockfile's format): `?filename=`, else the default."""
    name = call.request.query.get("filename") or default
    if not name:
        raise HttpProblem(
            ErrorCode.VALIDATION_FAILED,
            "name the file with ?filename= (requirements.txt, package-lock.json, go.sum, pom.xml, "
            "Cargo.lock, "
            "or any name for a CycloneDX or SPDX JSON SBOM)",
            [{"loc": ["query", "filename"], "message": "required", "type": "missing"}],
        )
    try:
        ScanDocument.model_validate({"filename": name, "blob": {"sha256": "0" * 64, "size": 0}})
    except ValidationError as error:
        raise HttpProblem(
            ErrorCode.VALIDATION_FAILED,
            "the file name is not one a document can have",
            [
                {
                    "loc": ["query", "filename"],
                    "message": str(error.errors()[0]["msg"]),
                    "type": "invalid_filename",
                }
            ],
        ) from None
    return name


async def _scan(call: Call, store: bool) -> BaseModel:
    filename = _filename(call, "sbom.json")
    stored = await _body_to_blob(call, deps(call).runtime.settings.supply_chain.max_document_bytes)
    request = ScanDocument(
        filename=filename, blob=BlobReference(sha256=stored.sha256, size=stored.size), store=store
    )
    result: ScanResult = await deps(call).bus.request(
        SC_SCAN, request, call.ctx, timeout=SCAN_TIMEOUT_SECONDS
    )
    return result


async def upload_sbom(call: Call) -> BaseModel:
    return await _scan(call, store=True)


async def scan_only(call: Call) -> BaseModel:
    return await _scan(call, store=False)


async def import_advisories(call: Call) -> BaseModel:
    source = call.request.query.get("source") or "upload"
    stored = await _body_to_blob(call, deps(call).runtime.settings.supply_chain.max_advisory_archive_bytes)
    try:
        request = AdvisoryImportRequest(
            source=source, blob=BlobReference(sha256=stored.sha256, size=stored.size)
        )
    except ValidationError as error:
        raise HttpProblem(ErrorCode.VALIDATION_FAILED, "source: " + str(error.errors()[0]["msg"])) from None
    info: AdvisoryImportInfo = await deps(call).bus.request(
        SC_ADVISORY_IMPORT, request, call.ctx, timeout=IMPORT_TIMEOUT_SECONDS
    )
    return info


async def verify_envelope(call: Call) -> BaseModel:
    stored = await _body_to_blob(call, MAX_ENVELOPE_BYTES)
    request = VerifyEnvelope(blob=BlobReference(sha256=stored.sha256, size=stored.size))
    verified: Verification = await deps(call).bus.request(SC_ENVELOPE_VERIFY, request, call.ctx)
    return verified


async def _stream(call: Call, location: DocumentLocation) -> web.StreamResponse:
    chunks = deps(call).blobs.open(location.sha256)
    try:
        first = await anext(chunks, b"")
    except BlobNotFound:
        raise HttpProblem(
            ErrorCode.NOT_FOUND, "the document's bytes are missing from the blob store"
        ) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": location.media_type,
            "Content-Length": str(location.size),
            "Content-Disposition": f'attachment; filename="{location.filename}"',
            "ETag": f'"{location.sha256}"',
        }
    )
    await response.prepare(call.request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


async def sbom_document(call: Call) -> web.StreamResponse:
    location: DocumentLocation = await deps(call).bus.request(SC_SBOM_DOCUMENT, call.input, call.ctx)
    return await _stream(call, location)


async def vex_export(call: Call) -> web.StreamResponse:
    location: DocumentLocation = await deps(call).bus.request(SC_VEX, call.input, call.ctx)
    return await _stream(call, location)


async def attestation_envelope(call: Call) -> web.StreamResponse:
    location: DocumentLocation = await deps(call).bus.request(SC_ATTESTATION_ENVELOPE, call.input, call.ctx)
    return await _stream(call, location)


async def triage(call: Call) -> BaseModel:
    request: TriageRequest = call.input
    info: TriageInfo = await deps(call).bus.request(SC_TRIAGE, request, call.ctx)
    # The scope is named on both sides: a product's decision replaces, for that product only, what
    # applied to it before (the team's, at first).
    scope = {"scope": "product", "product": info.product.model_dump(mode="json")} if info.product else {}
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn,
            team_of(call.ctx.principal),
            "supply_chain.triage",
            "finding",
            request.finding_id,
            before={"status": info.history[-2].status.value, **scope} if len(info.history) > 1 else None,
            after={
                "advisory_id": info.advisory_id,
                "purl": info.purl,
                "scope": "team",
                **scope,
                **_decision(info),
            },
        )
    return info


def _decision(info: TriageInfo) -> dict[str, Any]:
    return {
        "status": info.status.value,
        "justification": info.justification,
        "impact_statement": info.impact_statement,
        "action_statement": info.action_statement,
    }


async def withdraw_triage(call: Call) -> BaseModel:
    request: TriageWithdrawRequest = call.input
    done: TriageWithdrawal = await deps(call).bus.request(SC_TRIAGE_WITHDRAW, request, call.ctx)
    withdrawn, applies = done.withdrawn, done.applies
    # `before` carries the withdrawn decision's whole history: with it, the audit log alone tells what
    # was stated about the product and by whom, as the agent's own record does.
    await _audit(
        call,
        "supply_chain.triage_withdraw",
        "finding",
        request.finding_id,
        before={
            "scope": "product",
            "product": withdrawn.product.model_dump(mode="json") if withdrawn.product else None,
            **_decision(withdrawn),
            "note": withdrawn.note,
            "history": [t.model_dump(mode="json") for t in withdrawn.history],
        },
        after={
            "advisory_id": applies.advisory_id,
            "purl": applies.purl,
            "scope": "team",
            **_decision(applies),
        },
    )
    return done


async def _audit(call: Call, action: str, resource: str, resource_id: str | None, **change: Any) -> None:
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(conn, team_of(call.ctx.principal), action, resource, resource_id, **change)


def _policy_fields(policy: DownloadPolicy) -> dict[str, Any]:
    return {
        "block_severity": policy.block_severity.value,
        "block_unrated": policy.block_unrated,
        "quarantine_days": policy.quarantine_days,
    }


async def set_policy(call: Call) -> BaseModel:
    before: DownloadPolicy = await deps(call).bus.request(SC_POLICY, DownloadPolicyQuery(), call.ctx)
    after: DownloadPolicy = await deps(call).bus.request(SC_POLICY_SET, call.input, call.ctx)
    await _audit(
        call,
        "supply_chain.policy_set",
        "download_policy",
        None,
        before=_policy_fields(before),
        after=_policy_fields(after),
    )
    return after


def _override_fields(override: OverrideInfo) -> dict[str, Any]:
    return {
        "ecosystem": override.ecosystem.value,
        "name": override.name,
        "version": override.version,
        "reason": override.reason,
    }


async def create_override(call: Call) -> BaseModel:
    override: OverrideInfo = await deps(call).bus.request(SC_OVERRIDE_CREATE, call.input, call.ctx)
    await _audit(
        call,
        "supply_chain.override_create",
        "download_override",
        override.id,
        after=_override_fields(override),
    )
    return override


async def delete_override(call: Call) -> BaseModel:
    override: OverrideInfo = await deps(call).bus.request(SC_OVERRIDE_DELETE, call.input, call.ctx)
    await _audit(
        call,
        "supply_chain.override_delete",
        "download_override",
        override.id,
        before=_override_fields(override),
    )
    return override


def _read(path: str, summary: str, endpoint: Any, extra: tuple[int, ...] = (404, 503, 504)) -> Route:
    return Route(
        "GET",
        path,
        summary,
        Permission.SUPPLY_CHAIN_READ,
        Forward(endpoint),
        tags=TAGS,
        feature=FEATURE,
        extra_status=extra,
    )


def _upload(
    path: str,
    summary: str,
    permission: Permission,
    handler: Any,
    response: Any,
    body: RequestBody,
    **extra: Any,
) -> Route:
    return Route(
        "POST",
        path,
        summary,
        permission,
        Local(handler),
        response=response,
        tags=TAGS,
        raw_body=True,
        streamed_body=True,
        body=body,
        extra_status=(400, 413, 422, 503, 504),
        deadline=False,
        **extra,
    )


def _download(
    path: str,
    summary: str,
    handler: Any,
    request: type[BaseModel],
    media: str,
    extra_status: tuple[int, ...] = (404, 422, 503, 504),
) -> Route:
    return Route(
        "GET",
        path,
        summary,
        Permission.SUPPLY_CHAIN_READ,
        Local(handler),
        request=request,
        tags=TAGS,
        feature=FEATURE,
        media_type=media,
        extra_status=extra_status,
    )


SBOM = "/api/v1/sboms/{sbom_id}"
FINDING = "/api/v1/vulnerabilities/{finding_id}"
ATTESTATION = "/api/v1/attestations/{attestation_id}"
POLICY = "/api/v1/supply-chain/policy"
OVERRIDES = POLICY + "/overrides"

SUPPLY_CHAIN_ROUTES: list[Route] = [
    _read(
        POLICY,
        "Your team's download policy: the severity from which open findings (untriaged, or triaged "
        "affected) block a version's download, and the days new upstream versions stay hidden.",
        SC_POLICY,
        (503, 504),
    ),
    Route(
        "PUT",
        POLICY,
        "Set your team's download policy. `block_severity` (none, low, medium, high, critical; none blocks "
        "nothing): package clients get 403 naming the findings for a version with an open finding rated at "
        "least this, until it is triaged not_affected or fixed, or the version is overridden; your own "
        "versions and those your upstream proxy serves alike. `block_unrated` (default false; absent keeps "
        "the current setting): findings whose advisory gives no severity block too. "
        "`quarantine_days` (0 is off): upstream versions younger than this are left off the index pages "
        "and npm packuments (dist-tags moved to the newest remaining), and their files are a 403, unless "
        "overridden. Audited.",
        Permission.SUPPLY_CHAIN_POLICY,
        Local(set_policy),
        request=DownloadPolicySet,
        response=DownloadPolicy,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(422, 503, 504),
    ),
    _read(
        OVERRIDES,
        "Your team's overrides: versions whose downloads the policy does not block, whatever their findings.",
        SC_OVERRIDES,
        (503, 504),
    ),
    Route(
        "POST",
        OVERRIDES,
        "Allow a version's downloads despite its findings, and an upstream version through the "
        "quarantine (with the reason); audited.",
        Permission.SUPPLY_CHAIN_POLICY,
        Local(create_override),
        request=OverrideCreate,
        response=OverrideInfo,
        status=201,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(409, 422, 503, 504),
    ),
    Route(
        "DELETE",
        OVERRIDES + "/{override_id}",
        "Withdraw an override: the policy applies to the version again; audited.",
        Permission.SUPPLY_CHAIN_POLICY,
        Local(delete_override),
        request=OverrideRef,
        response=OverrideInfo,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 422, 503, 504),
    ),
    _read(
        "/api/v1/supply-chain/blocked",
        "Your team's versions whose downloads the policy blocks now, each with the findings that block it.",
        SC_BLOCKED,
        (503, 504),
    ),
    _upload(
        "/api/v1/sboms",
        "Upload an SBOM (CycloneDX 1.2-1.7 or SPDX 2.2/2.3 JSON) or a lockfile (requirements*.txt, "
        "package-lock.json, go.sum, pom.xml, Cargo.lock; named by `?filename=`) as the request body: it is "
        "stored, scanned against the imported advisories and signed. Answers its findings with severity, "
        "aliases, fixed versions and the path to each vulnerable component.",
        Permission.SUPPLY_CHAIN_WRITE,
        upload_sbom,
        ScanResult,
        _SCANNED_BODY,
        request=DocumentQuery,
        status=201,
        feature=FEATURE,
    ),
    _upload(
        "/api/v1/supply-chain/scan",
        "Scan an SBOM or lockfile (the request body, named by `?filename=`) without storing it: the findings "
        "only (what `mno scan` calls in CI; a read-only key may).",
        Permission.SUPPLY_CHAIN_READ,
        scan_only,
        ScanResult,
        _SCANNED_BODY,
        request=DocumentQuery,
        feature=FEATURE,
    ),
    _read(
        "/api/v1/sboms",
        "Your team's SBOMs, newest first, with open findings by severity; `source` and `subject_ecosystem`, "
        "`subject_name`, `subject_version` narrow them (a registry version's SBOM: `source=artifact` and its "
        "purl type, name and version).",
        SC_SBOMS,
        (503, 504),
    ),
    _read(SBOM, "One SBOM: its subject, components, open findings by severity and attestations.", SC_SBOM),
    _download(
        SBOM + "/document",
        "The SBOM as CycloneDX 1.6 JSON (`format=cyclonedx`, the default) or SPDX 2.3 JSON (`format=spdx`).",
        sbom_document,
        SbomDocumentRequest,
        "application/vnd.cyclonedx+json",
    ),
    _download(
        SBOM + "/vex",
        "Every open finding of the SBOM as a VEX statement, as OpenVEX 0.2.0 (`format=openvex`, the "
        "default) or CycloneDX 1.6 VEX (`format=cyclonedx`): its triage, or `under_investigation` "
        "(CycloneDX `in_triage`) while nobody has triaged it. An SBOM without open findings is a valid "
        "CycloneDX VEX with no vulnerabilities, but a 409 `no_open_findings` for OpenVEX, whose documents "
        "hold at least one statement (OpenVEX 0.2.0: `statements` has minItems 1).",
        vex_export,
        VexRequest,
        "application/json",
        (404, 409, 422, 503, 504),
    ),
    _read(
        "/api/v1/vulnerabilities",
        "Your team's findings, worst first: filter by SBOM, minimum severity and triage status; retired "
        "findings (withdrawn advisories) with `include_retired=true`.",
        SC_FINDINGS,
        (503, 504),
    ),
    _read(
        "/api/v1/supply-chain/summary",
        "Your team's findings counted over every row (not a page of the list): open ones (triage "
        "`under_investigation` or `affected`, not retired: what the download policy blocks on) by severity "
        "(`unrated` for advisories without one), every finding not retired by triage status, and how many "
        "vulnerable packages, package versions, SBOMs and advisories the open ones touch; `sbom_id` counts "
        "one SBOM's (another team's counts nothing).",
        SC_FINDING_SUMMARY,
        (503, 504),
    ),
    _read(FINDING, "One finding with its triage and the triage's history.", SC_FINDING),
    Route(
        "POST",
        FINDING + "/triage",
        "Triage a finding as VEX does: under_investigation, affected (with an action statement), "
        "not_affected (with a justification or an impact statement) or fixed. Kept for the advisory in that "
        "component version across re-scans and SBOMs, team-wide; with `product` (an SBOM by `sbom_id`, or a "
        "registry version by `ecosystem`, `name` and `version`) for that product only, where it wins over "
        "the team-wide decision: in the product's findings, its VEX exports and the download policy for "
        "that version. 404 for a product not in your team, 422 `not_in_product` for one without this "
        "finding's advisory in this component. Audited, naming the scope.",
        Permission.SUPPLY_CHAIN_TRIAGE,
        Local(triage),
        request=TriageRequest,
        response=TriageInfo,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 422, 503, 504),
    ),
    Route(
        "POST",
        FINDING + "/triage/withdraw",
        "Withdraw a product's own decision about a finding (`product` as the triage named it: `sbom_id`, or "
        "a registry version's `ecosystem`, `name` and `version`): the team-wide decision applies to that "
        "product again, in its findings, its VEX exports and the download policy. Answers the decision "
        "withdrawn (kept, with its history) and the one that applies now. 404 when the product has no "
        "decision of its own about this finding's advisory in this component, or the product or finding "
        "is not your team's; 422 without `product` (the team-wide decision is replaced, never withdrawn). "
        "Audited.",
        Permission.SUPPLY_CHAIN_TRIAGE,
        Local(withdraw_triage),
        request=TriageWithdrawRequest,
        response=TriageWithdrawal,
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 422, 503, 504),
    ),
    _read(
        "/api/v1/supply-chain/advisories",
        "The advisories held (OSV) and the latest imports: counts of new, modified, withdrawn and unchanged "
        "records, unreadable files, and the findings the re-scans changed.",
        SC_ADVISORY_STATUS,
        (503, 504),
    ),
    _upload(
        "/api/v1/operator/advisories/import",
        "Import OSV advisories (a zip or tar.gz of OSV JSON or YAML records, the request body; `?source=` "
        "names "
        "it). Incremental: records whose `modified` is unchanged are skipped; modified advisories update "
        "their "
        "findings and withdrawn ones retire them, in every team's stored SBOMs that name the packages. "
        "Operator only.",
        Permission.PLATFORM_OPERATE,
        import_advisories,
        AdvisoryImportInfo,
        RequestBody(
            "A zip or tar.gz archive of OSV records (JSON or YAML), as OSV's own exports are.",
            {"application/zip": None, "application/gzip": None, "application/octet-stream": None},
        ),
        request=AdvisoryImportQuery,
    ),
    _read(
        "/api/v1/attestations",
        "Your team's attestations (signed in-toto statements about SBOMs and scans), newest first.",
        SC_ATTESTATIONS,
        (503, 504),
    ),
    _download(
        ATTESTATION,
        "An attestation's DSSE envelope (an in-toto Statement v1, Ed25519-signed).",
        attestation_envelope,
        AttestationRef,
        "application/vnd.dsse.envelope.v1+json",
    ),
    Route(
        "POST",
        ATTESTATION + "/verify",
        "Verify a stored attestation against the current and previous signing keys.",
        Permission.SUPPLY_CHAIN_READ,
        Forward(SC_ATTESTATION_VERIFY),
        tags=TAGS,
        feature=FEATURE,
        extra_status=(404, 422, 503, 504),
    ),
    _upload(
        "/api/v1/attestations/verify",
        "Verify a DSSE envelope (the request body) against the current and previous signing keys: 200 with "
        "the key that verified it, 422 `invalid_attestation` for a tampered or foreign one.",
        Permission.SUPPLY_CHAIN_READ,
        verify_envelope,
        Verification,
        RequestBody(
            "A DSSE envelope as JSON (payloadType, payload in base64, signatures).",
            {"application/json": {"type": "object", "required": ["payloadType", "payload", "signatures"]}},
        ),
        feature=FEATURE,
    ),
    _read(
        "/api/v1/supply-chain/keys",
        "The public keys attestations verify with (PEM; the current one first).",
        SC_PUBLIC_KEYS,
        (503, 504),
    ),
]
