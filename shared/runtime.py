"""The life of one agent process: connect to the bus, serve, report health, shut down gracefully.

An agent is a `setup` coroutine that wires subjects to handlers on an `AgentRuntime`; everything
else (NATS connection, micro service, JetStream consumers, health server, signals, drain) is here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import nats
import structlog
import uvloop
from aiohttp import web
from nats.aio.client import Client as NATS
from pydantic import BaseModel

from database import CLICKHOUSE_MIGRATIONS, POSTGRES_MIGRATIONS
from shared.bus.client import Bus
from shared.bus.events import EventConsumer, EventHandler
from shared.bus.service import AgentService
from shared.bus.streams import ensure_streams
from shared.config import ConfigError, Settings, load_settings
from shared.config.urls import redacted_url
from shared.db.migrations import migrate
from shared.db.postgres import create_pool
from shared.gc_pauses import GcPauseMonitor
from shared.health import health_app
from shared.logging import configure_logging
from shared.loop_lag import LoopLagMonitor
from shared.messages.agents import AgentName
from shared.messages.registry import EventType
from shared.metrics import (
    AGENT_INFO,
    AGENT_READY,
    BUS_CONNECTED,
    JETSTREAM_ACK_PENDING,
    JETSTREAM_PENDING,
    JETSTREAM_STREAM_MESSAGES,
)
from shared.scheduling import PeriodicJob

if TYPE_CHECKING:
    from shared.db.clickhouse import ClickHouse

EventT = TypeVar("EventT", bound=BaseModel)
Setup = Callable[["AgentRuntime"], Awaitable[None]]

JETSTREAM_GAUGE_SECONDS = 15.0
EXIT_CONFIG_ERROR = 2
EXIT_START_FAILED = 3

log = structlog.get_logger("mno.runtime")


def package_version() -> str:
    try:
        return version("machine-native-ops")
    except PackageNotFoundError:
        return "0.0.0"


class StartupError(Exception):
    """The agent cannot start; the message says why in words an operator can act on."""


class AgentRuntime:
    def __init__(self, agent: AgentName, settings: Settings) -> None:
        self.agent = agent
        self.settings = settings
        self.agent_settings = getattr(settings.agents, agent.value)
        self.instance_id = secrets.token_hex(6)
        self.version = package_version()
        self._nc: NATS | None = None
        self._bus: Bus | None = None
        self._service: AgentService | None = None
        self._consumers: list[EventConsumer[Any]] = []
        self._pending_consumers: list[tuple[EventType[Any], EventHandler[Any], int]] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        self._on_reconnect: list[Callable[[], None]] = []
        self._checks: dict[str, Callable[[], Awaitable[bool]]] = {}
        self._jobs: list[PeriodicJob] = []
        self._health_runner: web.AppRunner | None = None
        self._loop_lag = LoopLagMonitor(agent.value)
        self._gc_pauses = GcPauseMonitor(agent.value)
        self._started = False
        self._stopping = False

    # -- what `setup` uses ------------------------------------------------------------------------

    @property
    def bus(self) -> Bus:
        assert self._bus is not None, "the bus is connected before setup runs"
        return self._bus

    @property
    def service(self) -> AgentService:
        assert self._service is not None, "the service exists before setup runs"
        return self._service

    def consume(
        self, event: EventType[EventT], handler: EventHandler[EventT], *, max_concurrency: int | None = None
    ) -> None:
        """Handle `event` durably. `max_concurrency` bounds this consumer below the agent's limit,
        for background work that must not take every database connection from request handlers."""
        limit = min(
            max_concurrency or self.agent_settings.max_concurrency, self.agent_settings.max_concurrency
        )
        self._pending_consumers.append((event, handler, limit))

    def every(self, name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> PeriodicJob:
        """Run `job` every `seconds` once the agent is ready, until it stops."""
        periodic = PeriodicJob(self.agent.value, name, seconds, job)
        self._jobs.append(periodic)
        return periodic

    def on_shutdown(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run `cleanup` at shutdown, after requests and consumers have stopped (last added, first run)."""
        self._cleanups.append(cleanup)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback` each time the bus reconnects (notices sent meanwhile were lost)."""
        self._on_reconnect.append(callback)

    def add_readiness_check(self, name: str, check: Callable[[], Awaitable[bool]]) -> None:
        self._checks[name] = check

    async def open_postgres(self) -> Any:
        """A pool on the agent's PostgreSQL database, with its own schema migrated when configured."""
        pg = self.settings.postgres
        pool = await create_pool(
            pg.dsn,
            min_size=pg.min_pool,
            max_size=pg.max_pool,
            command_timeout=pg.command_timeout_seconds,
        )
        self.on_shutdown(pool.close)
        if pg.migrate_on_start:
            applied = await migrate(pool, self.agent.value, POSTGRES_MIGRATIONS)
            if applied:
                log.info("applied migrations", schema=self.agent.value, versions=applied)

        async def postgres_answers() -> bool:
            try:
                async with pool.acquire(timeout=1.0) as conn:
                    await conn.fetchval("SELECT 1")
            except Exception:
                return False
            return True

        self.add_readiness_check("postgres", postgres_answers)
        return pool

    async def open_clickhouse(self) -> ClickHouse:
        """The ClickHouse engine of the configuration, with its migrations applied. Only the
        monitoring agent calls this: an embedded chdb directory belongs to one process."""
        # Imported here: the engine library is large, and only this one agent loads it.
        from shared.db.clickhouse import create_clickhouse
        from shared.db.clickhouse.migrations import apply_migrations as apply_clickhouse_migrations

        ch = self.settings.clickhouse
        clickhouse = create_clickhouse(ch.engine, chdb_path=self.settings.chdb_path, url=ch.url)
        self.on_shutdown(clickhouse.close)
        applied = await apply_clickhouse_migrations(clickhouse, CLICKHOUSE_MIGRATIONS)
        if applied:
            log.info("applied clickhouse migrations", versions=applied)
        self.add_readiness_check("clickhouse", clickhouse.ping)
        return clickhouse

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, setup: Setup) -> None:
        await self._start_health_server()
        self._loop_lag.start()
        self._gc_pauses.start()
        self._nc = await self._connect()
        self._bus = Bus(
            self._nc, source=self.agent.value, request_timeout=self.settings.nats.request_timeout_seconds
        )
        await ensure_streams(self._bus.js, self.settings.jetstream)
        self._service = AgentService(
            self._nc,
            self.agent,
            version=self.version,
            instance_id=self.instance_id,
            max_concurrency=self.agent_settings.max_concurrency,
            metadata={"pid": str(os.getpid())},
        )
        await setup(self)
        await self._service.start()
        for event, handler, limit in self._pending_consumers:
            consumer = EventConsumer(
                self._bus.js,
                self._nc,
                self.agent,
                event,
                handler,
                self.settings.jetstream,
                max_concurrency=limit,
            )
            await consumer.start()
            self._consumers.append(consumer)
        await self._report_jetstream()
        self.every("jetstream-gauges", JETSTREAM_GAUGE_SECONDS, self._report_jetstream)
        for job in self._jobs:
            job.start()
        # What start-up made (modules, price tables, schemas, pools) lives as long as the process:
        # moved out of the collector's generations, a full collection walks only what the agent
        # allocates from now on (see shared/gc_pauses.py for why its length matters).
        gc.collect()
        gc.freeze()
        self._gc_pauses.drain()
        self._started = True
        AGENT_INFO.labels(self.agent.value, self.instance_id, self.version).set(1)
        AGENT_READY.labels(self.agent.value).set(1)
        log.info(
            "agent ready",
            subjects=self._service.subjects,
            consumers=[c.name for c in self._consumers],
            metrics_port=self.agent_settings.metrics_port,
        )

    async def stop(self) -> None:
        """Graceful: stop being ready, stop taking work, finish what is in flight, then disconnect."""
        if self._stopping:
            return
        self._stopping = True
        AGENT_READY.labels(self.agent.value).set(0)
        timeout = self.agent_settings.drain_timeout_seconds
        log.info("agent stopping", drain_timeout_seconds=timeout)
        for job in self._jobs:
            await job.stop()
        if self._service is not None:
            await self._service.stop(timeout)
        for consumer in self._consumers:
            await consumer.stop(timeout)
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.drain(), timeout)
        await self._loop_lag.stop()
        await self._gc_pauses.stop()
        if self._health_runner is not None:
            await self._health_runner.cleanup()
        log.info("agent stopped")

    async def _report_jetstream(self) -> None:
        """Consumer lag and stream depths as gauges: Prometheus sees a stuck consumer or a filling DLQ."""
        js = self.bus.js
        for consumer in self._consumers:
            info = await js.consumer_info(self.settings.jetstream.events_stream, consumer.name)
            JETSTREAM_PENDING.labels(self.agent.value, consumer.name).set(info.num_pending or 0)
            JETSTREAM_ACK_PENDING.labels(self.agent.value, consumer.name).set(info.num_ack_pending or 0)
        for stream in (self.settings.jetstream.events_stream, self.settings.jetstream.dlq_stream):
            state = (await js.stream_info(stream)).state
            JETSTREAM_STREAM_MESSAGES.labels(stream).set(state.messages)

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "started": self._started and not self._stopping,
            "bus": self._nc is not None and self._nc.is_connected,
        }
        for name, check in self._checks.items():
            checks[name] = await check()
        return checks

    async def _start_health_server(self) -> None:
        runner = web.AppRunner(health_app(self.readiness), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.agent_settings.metrics_host, self.agent_settings.metrics_port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen on {self.agent_settings.metrics_host}:{self.agent_settings.metrics_port} "
                f"for health and metrics ({error.strerror}); set agents.{self.agent.value}.metrics_port"
            ) from error
        self._health_runner = runner

    async def _connect(self) -> NATS:
        cfg = self.settings.nats
        agent = self.agent.value

        async def disconnected() -> None:
            BUS_CONNECTED.labels(agent).set(0)
            log.warning("bus disconnected")

        async def reconnected() -> None:
            BUS_CONNECTED.labels(agent).set(1)
            log.info("bus reconnected")
            for callback in self._on_reconnect:
                callback()

        async def error_cb(error: Exception) -> None:
            log.warning("bus error", error=repr(error))

        deadline = asyncio.get_running_loop().time() + max(cfg.connect_timeout_seconds * 6, 30)
        addresses = [redacted_url(url) for url in cfg.servers]
        while True:
            try:
                nc = await nats.connect(
                    servers=cfg.servers,
                    name=f"{cfg.name_prefix}-{agent}-{self.instance_id}",
                    user=cfg.user.get_secret_value() if cfg.user else None,
                    password=cfg.password.get_secret_value() if cfg.password else None,
                    token=cfg.token.get_secret_value() if cfg.token else None,
                    connect_timeout=cfg.connect_timeout_seconds,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    allow_reconnect=True,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    error_cb=error_cb,
                )
            except Exception as error:
                if asyncio.get_running_loop().time() > deadline:
                    raise StartupError(f"cannot reach NATS at {', '.join(addresses)}: {error!r}") from error
                log.info("waiting for NATS", servers=addresses, error=repr(error))
                await asyncio.sleep(1.0)
                continue
            BUS_CONNECTED.labels(agent).set(1)
            return nc


async def _serve(runtime: AgentRuntime, setup: Setup) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start(setup)
        await stop.wait()
    finally:
        await runtime.stop()


def run_agent(agent: AgentName, setup: Setup, config_path: Path | None = None) -> int:
    """Entry point of an agent process; returns the exit code."""
    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(level=settings.logging.level, fmt=settings.logging.format, agent=agent.value)
    runtime = AgentRuntime(agent, settings)
    structlog.contextvars.bind_contextvars(instance_id=runtime.instance_id)
    try:
        # uvloop: the edge and the bus spend most of their time in the event loop's I/O paths.
        uvloop.run(_serve(runtime, setup))
    except StartupError as error:
        log.error("agent failed to start", reason=str(error))
        print(f"{agent.value}: {error}", file=sys.stderr)
        return EXIT_START_FAILED
    return 0
