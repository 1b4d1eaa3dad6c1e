"""Wiring of the SuperAgent: the mesh endpoints every agent has, plus the HTTP edge."""

from __future__ import annotations

from aiohttp import web

from agents.super_agent.routes import DEPS, ROUTES, EdgeDeps
from services.gateway.auth import ApiKeyAuthenticator, BootstrapTokenAuthenticator, FirstMatch
from services.gateway.edge import build_app
from services.identity.installations import register_installation_handlers
from services.mesh import install_mesh
from services.webhooks.processing import WebhookDispatcher, WebhookProcessor
from shared.messages.agents import AgentName
from shared.messages.registry import GITHUB_WEBHOOK_RECEIVED
from shared.runtime import AgentRuntime, StartupError

AGENT = AgentName.SUPER_AGENT


async def setup(runtime: AgentRuntime) -> None:
    pool = await runtime.open_postgres()
    install_mesh(runtime, pool)
    dispatcher = WebhookDispatcher()
    register_installation_handlers(dispatcher)
    # Applying deliveries is background work: bounded so that intake (which must answer GitHub
    # within 10 s) always finds a free database connection.
    runtime.consume(GITHUB_WEBHOOK_RECEIVED, WebhookProcessor(pool, dispatcher).handle, max_concurrency=4)
    http = runtime.settings.http
    github = runtime.settings.github
    token = runtime.settings.auth.bootstrap_token
    app = build_app(
        ROUTES,
        bus=runtime.bus,
        authenticator=FirstMatch(
            [
                BootstrapTokenAuthenticator(token.get_secret_value() if token else None),
                ApiKeyAuthenticator(pool),
            ]
        ),
        max_body_bytes=http.max_body_bytes,
    )
    app[DEPS] = EdgeDeps(
        runtime=runtime,
        bus=runtime.bus,
        pool=pool,
        webhook_secrets={
            "app": [secret.get_secret_value() for secret in github.webhook_secrets],
            "marketplace": [secret.get_secret_value() for secret in github.marketplace_webhook_secrets],
        },
    )
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=runtime.agent_settings.drain_timeout_seconds
    )
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
