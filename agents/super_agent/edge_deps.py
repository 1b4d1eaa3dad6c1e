"""What the edge's local handlers need from the running agent, reachable from each request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.gateway.auth import ApiKeyAuthenticator
from services.gateway.blob_bytes import BlobBytes
from services.gateway.download_tally import DownloadTally
from services.gateway.route_table import Call
from services.gateway.team_cache import TeamCache
from services.identity.audit_api import Acting
from services.identity.login import LoginFlow
from services.identity.plans import PlanBook
from services.ingest.intake import Intake
from shared.blobstore import BlobStore
from shared.bus.client import Bus
from shared.messages.artifacts import FileLocation, NpmDocument, PythonPage
from shared.runtime import AgentRuntime

# An answer of the ArtifactManagerAgent the edge keeps for a team (one the agent marked `cacheable`).
RegistryRead = PythonPage | FileLocation | NpmDocument


@dataclass(frozen=True)
class CookiePolicy:
    session_name: str
    secure: bool
    session_max_age: int
    binding_max_age: int
    binding_name: str = "mno_oauth_binding"


@dataclass(frozen=True)
class EdgeDeps:
    runtime: AgentRuntime
    bus: Bus
    pool: Any
    webhook_secrets: dict[str, list[str]]
    cookies: CookiePolicy
    login: LoginFlow | None  # None when GitHub is not configured
    plans: PlanBook
    api_keys: ApiKeyAuthenticator  # revoking here forgets the key in its cache at once
    intake: Intake  # token events: plan limit, budgets, JetStream
    blobs: BlobStore  # package bytes: streamed in on upload and out on download, never over NATS
    # Prompt reads (name, label, version) → (JSON body, ETag), dropped per team on PROMPTS_CHANGED.
    prompt_reads: TeamCache[tuple[str, str]]
    # Registry reads (simple pages, packuments, file locations), dropped per team on REGISTRY_CHANGED.
    registry_reads: TeamCache[RegistryRead]
    # Downloads answered from `registry_reads`, counted in batches (services/gateway/download_tally.py).
    downloads: DownloadTally
    # Small blobs' bytes, checked against their digest once (services/gateway/blob_bytes.py).
    blob_bytes: BlobBytes


DEPS = web.AppKey("mno_edge_deps", EdgeDeps)


def deps(call: Call) -> EdgeDeps:
    return call.request.app[DEPS]


def acting(call: Call) -> Acting:
    """Who makes this write and from where, for its audit entry."""
    principal = call.ctx.principal
    assert principal is not None  # audited routes are not public
    return Acting(
        principal=principal,
        ip=call.request.remote,
        user_agent=call.request.headers.get("User-Agent"),
        correlation_id=call.ctx.correlation_id,
    )
