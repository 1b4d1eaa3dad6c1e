"""Wiring of the SuperAgent: the mesh endpoints every agent has, webhooks, sign-in, the HTTP edge."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from agents.super_agent.edge_deps import DEPS, CookiePolicy, EdgeDeps, RegistryRead
from agents.super_agent.routes import ROUTES
from agents.super_agent.routes.prompts import PROMPT_READ_TTL_SECONDS, PROMPT_READS_KEPT
from agents.super_agent.routes.proxy import PROXY, ProxyState
from agents.super_agent.routes.registry_python import (
    BLOB_BYTES_KEPT,
    REGISTRY_READS_BYTES,
    REGISTRY_READS_KEPT,
    SMALL_BLOB_BYTES,
    registry_read_weight,
)
from services.audit import store as audit_store
from services.gateway.auth import (
    ApiKeyAuthenticator,
    BootstrapTokenAuthenticator,
    FirstMatch,
    SessionAuthenticator,
)
from services.gateway.blob_bytes import BlobBytes
from services.gateway.download_tally import FLUSH_SECONDS, DownloadTally
from services.gateway.edge import build_app
from services.gateway.http_server import EdgeRunner
from services.gateway.team_cache import TeamCache
from services.github.client import GitHubClient
from services.github.config import GitHubAppCredentials
from services.github.oauth import GitHubOAuth
from services.identity import lifecycle
from services.identity.authorizations import register_authorization_handlers
from services.identity.installation_tokens import PostgresTokenStore
from services.identity.installations import register_installation_handlers
from services.identity.login import LoginFlow
from services.identity.plan_features import serve_teams_with_feature
from services.identity.plans import PlanBook
from services.identity.reconcile import reconcile_marketplace
from services.identity.subscriptions import SubscriptionBook, register_subscription_handlers
from services.ingest import id_ledger, span_drops
from services.ingest.budget_gate import BudgetGate
from services.ingest.intake import Intake
from services.prompt_sync import store as prompt_sync_store
from services.prompt_sync.sync import PromptSync
from services.webhooks.processing import WebhookDispatcher, WebhookProcessor
from shared.blobstore.from_settings import blob_store_from_settings
from shared.config import Settings
from shared.crypto import SecretBox
from shared.mesh import install_mesh
from shared.messages.agents import AgentName
from shared.messages.artifacts import RegistryChanged
from shared.messages.prompts import PromptsChanged
from shared.messages.registry import (
    GITHUB_WEBHOOK_RECEIVED,
    PROMPTS_CHANGED,
    REGISTRY_CHANGED,
    TEAM_DATA_PURGED,
    TEAMS_WITH_FEATURE,
)
from shared.runtime import AgentRuntime, StartupError

AGENT = AgentName.SUPER_AGENT
USER_AGENT = "MachineNativeOps"


def edge_url(settings: Settings) -> str:
    if settings.http.public_url:
        return str(settings.http.public_url).rstrip("/")
    return f"http://{settings.http.host}:{settings.http.port}"


async def github_login(runtime: AgentRuntime, pool: Any, plans: PlanBook) -> LoginFlow | None:
    """The sign-in flow, when GitHub is configured; its HTTP session closes at shutdown."""
    settings = runtime.settings
    keyring = settings.auth.keyring()
    if not settings.github.enabled or keyring is None:
        return None
    credentials = GitHubAppCredentials.from_settings(settings.github)
    if not credentials.client_id or not credentials.client_secret:
        return None
    keys, primary = keyring
    box = SecretBox.from_base64(keys, primary=primary)
    session = aiohttp.ClientSession()
    runtime.on_shutdown(session.close)
    return LoginFlow(
        pool=pool,
        box=box,
        oauth=GitHubOAuth(
            session,
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            web_url=credentials.web_url,
            user_agent=USER_AGENT,
        ),
        github=GitHubClient(
            session,
            credentials.signer(),
            secret_box=box,
            token_store=PostgresTokenStore(pool),
            api_url=credentials.api_url,
            user_agent=USER_AGENT,
        ),
        redirect_uri=f"{edge_url(settings)}/auth/github/callback",
        state_ttl=timedelta(seconds=settings.auth.oauth_state_ttl_seconds),
        session_ttl=timedelta(hours=settings.auth.session_ttl_hours),
        plans=plans,
    )


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    accounts = runtime.settings.accounts
    # A team's plan is remembered as long as a verified API key is (auth.api_key_cache_seconds): every
    # feature-gated request (the package registry's, say) would otherwise read it from PostgreSQL.
    plans = PlanBook(
        runtime.settings.plans,
        accounts.default_plan,
        pool,
        cache_seconds=runtime.settings.auth.api_key_cache_seconds,
    )
    # Other agents' scheduled work for teams (forecast alerts, anomaly checks) asks who is entitled.
    runtime.service.add(TEAMS_WITH_FEATURE, serve_teams_with_feature(pool, plans))
    subscriptions = SubscriptionBook(
        accounts.marketplace_plans, accounts.default_plan, timedelta(days=accounts.purge_retention_days)
    )
    # The plan mapping may have changed since the records were written: existing subscribers follow it.
    await subscriptions.remap(pool)
    login = await github_login(runtime, pool, plans)
    wire_accounts(runtime, pool, subscriptions, login)
    wire_webhooks(runtime, pool, subscriptions, plans, login)
    await serve_http(runtime, pool, plans, login)


def wire_accounts(
    runtime: AgentRuntime, pool: Any, subscriptions: SubscriptionBook, login: LoginFlow | None
) -> None:
    """The mesh endpoints, team-data purges, and the periodic work on accounts and subscriptions."""
    mesh = install_mesh(runtime, pool)
    mesh.purge.register(lifecycle.purge_own_team_data)
    mesh.purge.register(audit_store.purge_team)
    mesh.purge.register(id_ledger.purge_teams)
    mesh.purge.register(span_drops.purge_teams)
    mesh.purge.register(prompt_sync_store.purge_teams)
    runtime.consume(TEAM_DATA_PURGED, partial(lifecycle.record_confirmation, pool))
    accounts = runtime.settings.accounts
    github_tokens = lifecycle.GitHubTokens(login.github, login.box) if login is not None else None

    async def account_lifecycle() -> None:
        await subscriptions.tick_due(pool)
        await lifecycle.announce_deactivations(pool, runtime.bus, github_tokens)
        await lifecycle.request_due_purges(pool, runtime.bus)

    runtime.every("account-lifecycle", accounts.lifecycle_check_interval_seconds, account_lifecycle)
    if login is not None:
        runtime.every(
            "marketplace-reconcile",
            accounts.marketplace_reconcile_interval_seconds,
            partial(
                reconcile_marketplace, pool, login.github, subscriptions, stubbed=accounts.marketplace_stubbed
            ),
        )


def wire_webhooks(
    runtime: AgentRuntime,
    pool: Any,
    subscriptions: SubscriptionBook,
    plans: PlanBook,
    login: LoginFlow | None,
) -> None:
    dispatcher = WebhookDispatcher()
    register_installation_handlers(dispatcher)
    register_authorization_handlers(dispatcher)
    register_subscription_handlers(dispatcher, subscriptions)
    # Pushes to teams' prompt repositories: read through the App's installation tokens (the client
    # exists only when GitHub is configured; without it pushes are recorded and ignored).
    PromptSync(login.github if login is not None else None, runtime.bus, plans).register(dispatcher)
    # Applying deliveries is background work: bounded so that intake (which must answer GitHub
    # within 10 s) always finds a free database connection.
    runtime.consume(GITHUB_WEBHOOK_RECEIVED, WebhookProcessor(pool, dispatcher).handle, max_concurrency=4)


async def _prompt_reads(runtime: AgentRuntime) -> TeamCache[tuple[str, str]]:
    """The edge's cache of prompt reads, following the LearningAgent's change notices (listened to
    before the first read is stored) and forgotten whole when the bus reconnects."""
    cache: TeamCache[tuple[str, str]] = TeamCache(PROMPT_READ_TTL_SECONDS, PROMPT_READS_KEPT)

    async def changed(notice: PromptsChanged) -> None:
        cache.drop_team(notice.team_id)

    subscription = await runtime.bus.listen(PROMPTS_CHANGED, changed)
    runtime.on_reconnect(cache.clear)
    runtime.on_shutdown(subscription.unsubscribe)
    return cache


async def registry_reads(
    runtime: AgentRuntime, clock: Callable[[], float] = time.monotonic
) -> TeamCache[RegistryRead]:
    """The edge's cache of registry reads (simple pages, packuments, file locations), following the
    ArtifactManagerAgent's change notices (listened to before the first read is stored), forgotten
    whole when the bus reconnects, each entry at most `registry.edge_cache_ttl_seconds` old."""
    cache: TeamCache[RegistryRead] = TeamCache(
        runtime.settings.registry.edge_cache_ttl_seconds,
        REGISTRY_READS_KEPT,
        clock,
        weigh=registry_read_weight,
        max_weight=REGISTRY_READS_BYTES,
    )

    async def changed(notice: RegistryChanged) -> None:
        cache.drop_team(notice.team_id)

    subscription = await runtime.bus.listen(REGISTRY_CHANGED, changed)
    runtime.on_reconnect(cache.clear)
    runtime.on_shutdown(subscription.unsubscribe)
    return cache


async def serve_http(runtime: AgentRuntime, pool: Any, plans: PlanBook, login: LoginFlow | None) -> None:
    """The HTTP edge: authentication (operator token, API keys, sessions), the route table, the server."""
    settings = runtime.settings
    http, github, auth = settings.http, settings.github, settings.auth
    api_keys = ApiKeyAuthenticator(pool, cache_seconds=auth.api_key_cache_seconds)
    budget_gate = BudgetGate(runtime.bus)
    prompt_reads = await _prompt_reads(runtime)
    registry_cache = await registry_reads(runtime)
    # Downloads answered from the registry cache reach the ArtifactManagerAgent in batches; the last
    # one is sent after the HTTP server stopped (cleanups run last-registered first).
    downloads = DownloadTally(runtime.bus)
    runtime.every("download-counts-flush", FLUSH_SECONDS, downloads.run)
    runtime.on_shutdown(downloads.close)
    blobs = blob_store_from_settings(settings)
    runtime.on_shutdown(blobs.close)
    app = build_app(
        ROUTES,
        bus=runtime.bus,
        authenticator=FirstMatch(
            [
                BootstrapTokenAuthenticator(
                    auth.bootstrap_token.get_secret_value() if auth.bootstrap_token else None
                ),
                api_keys,
                SessionAuthenticator(pool, auth.session_cookie_name),
            ]
        ),
        max_body_bytes=http.max_body_bytes,
        request_timeout=http.request_timeout_seconds,
        plan_gate=plans,
    )
    app[DEPS] = EdgeDeps(
        runtime=runtime,
        bus=runtime.bus,
        pool=pool,
        webhook_secrets={
            "app": [secret.get_secret_value() for secret in github.webhook_secrets],
            "marketplace": [secret.get_secret_value() for secret in github.marketplace_webhook_secrets],
        },
        cookies=CookiePolicy(
            session_name=auth.session_cookie_name,
            secure=auth.session_cookie_secure,
            session_max_age=auth.session_ttl_hours * 3600,
            binding_max_age=auth.oauth_state_ttl_seconds,
        ),
        login=login,
        plans=plans,
        api_keys=api_keys,
        intake=Intake(pool, plans, runtime.bus, budget_gate),
        blobs=blobs,
        prompt_reads=prompt_reads,
        registry_reads=registry_cache,
        downloads=downloads,
        blob_bytes=BlobBytes(BLOB_BYTES_KEPT, SMALL_BLOB_BYTES),
    )
    # Which teams have budgets: a replicated set, so no ingest asks the MonitoringAgent whether.
    await budget_gate.start()
    runtime.every("budget-teams-refresh", budget_gate.refresh_seconds, budget_gate.refresh)
    runtime.on_shutdown(budget_gate.stop)
    # Accepted event ids are remembered for the duplicate window, then forgotten.
    runtime.every(
        "ingest-id-ledger-prune",
        settings.ingest.duplicate_prune_interval_seconds,
        partial(id_ledger.prune, pool, timedelta(days=settings.ingest.duplicate_window_days)),
    )
    # Per-team counts of OTLP spans that became no event are kept for 30 days.
    runtime.every(
        "otlp-span-drops-prune",
        settings.ingest.duplicate_prune_interval_seconds,
        partial(span_drops.prune, pool),
    )
    app[PROXY] = ProxyState.open(settings.proxy)
    runtime.on_shutdown(partial(app[PROXY].close, runtime.agent_settings.drain_timeout_seconds))
    runner = EdgeRunner(app, access_log=None, shutdown_timeout=runtime.agent_settings.drain_timeout_seconds)
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise StartupError(
            f"cannot listen on {http.host}:{http.port} ({error.strerror}): is another copy running? "
            "Set MNO_HTTP_PORT to use another port."
        ) from error
    # Stop taking HTTP requests before the bus is drained: in-flight ones still get their answer.
    runtime.on_shutdown(runner.cleanup)
