"""`mno run`: the whole mesh on one machine, on the embedded local stack.

Starts nats-server (JetStream) and an embedded PostgreSQL under the data directory, applies the
migrations, starts every agent as its own process, waits until all are ready, prints where to
look, and on Ctrl-C (or SIGTERM) stops the agents gracefully, then the servers, leaving nothing behind.

Once the mesh is up it watches every process it started, as Kubernetes would: one that exits
(crashes, is killed) is restarted with back-off, on the same ports and data (nats-server on the same
JetStream store, PostgreSQL on the same cluster), and the agents reconnect by themselves. When a
process crashes again and again within moments (mno.restart_policy), `mno run` gives up, says why and
stops everything. During start-up a failing agent ends `mno run` at once instead: that is a
misconfiguration to show now, not something waiting heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import structlog

from mno.dashboard_link import sign_in_link
from mno.demo import seed_on_first_run
from mno.local_stack import StackRecord, remove_stack_record, write_secret_file, write_stack_record
from mno.restart_policy import GiveUp, RestartPolicy, RestartTracker
from mno.stack import EmbeddedPostgres, NatsServer, StackError, ensure_port_free
from services.identity import apikeys
from services.identity.bootstrap import ensure_local_admin
from shared.config import Settings
from shared.db.migrations import migrate_all
from shared.db.postgres import create_pool
from shared.logging import configure_logging
from shared.messages.agents import ALL_AGENTS, AgentName

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0
WATCH_INTERVAL_SECONDS = 0.2

log = structlog.get_logger("mno.supervisor")


class RunError(Exception):
    """`mno run` cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class LocalPorts:
    nats: int
    nats_monitor: int
    postgres: int

    @classmethod
    def from_env(cls) -> LocalPorts:
        return cls(
            nats=int(os.environ.get("MNO_NATS_PORT", "4222")),
            nats_monitor=int(os.environ.get("MNO_NATS_MONITOR_PORT", "8222")),
            postgres=int(os.environ.get("MNO_POSTGRES_PORT", "54329")),
        )


@dataclass
class AgentProcess:
    agent: AgentName
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_url: str
    log_file: IO[bytes]

    def exit_code(self) -> int | None:
        return self.process.poll()

    def pid(self) -> int:
        return self.process.pid

    def relaunch(self, env: dict[str, str]) -> None:
        self.process = launch_agent(self.agent, env, self.log_file)


@contextlib.contextmanager
def exclusive_data_dir(data_dir: Path) -> Iterator[None]:
    """One `mno run` per data directory: a second one gets a clear message, not a broken database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "run.lock"
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RunError(
                f"{data_dir} is in use by another `mno run` ({holder}); stop it first, "
                "or set MNO_DATA_DIR and MNO_HTTP_PORT to run a second copy"
            ) from error
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def agent_environment(
    settings: Settings, environment: Mapping[str, str], config: Path | None, nats_url: str, postgres_dsn: str
) -> dict[str, str]:
    """What each agent process starts with: the environment the settings were read with (it holds
    the local encryption key), the same configuration file, and the servers started here."""
    env = dict(environment)
    if config is not None:
        env["MNO_CONFIG"] = str(config.resolve())
    env.update(
        {
            "MNO_NATS_URL": nats_url,
            "MNO_POSTGRES_DSN": postgres_dsn,
            "MNO_DATA_DIR": str(settings.data_dir.resolve()),
            "MNO_HTTP_PORT": str(settings.http.port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_agent(agent: AgentName, settings: Settings, env: dict[str, str], log_dir: Path) -> AgentProcess:
    log_path = log_dir / f"{agent.value}.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop_agents
    agent_settings = getattr(settings.agents, agent.value)
    url = f"http://{agent_settings.metrics_host}:{agent_settings.metrics_port}"
    return AgentProcess(agent, launch_agent(agent, env, log_file), log_path, url, log_file)


def launch_agent(agent: AgentName, env: dict[str, str], log_file: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", f"agents.{agent.value}"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Its own process group: Ctrl-C in the terminal reaches the supervisor only, which then
        # stops agents in order instead of all at once.
        start_new_session=True,
    )


def is_ready(metrics_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{metrics_url}/readyz", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_if_requested(stop_requested: list[bool]) -> None:
    """Ctrl-C during start-up takes effect between steps (their child processes don't get it)."""
    if stop_requested:
        print("stopping ...", flush=True)
        raise KeyboardInterrupt


def wait_until_ready(agents: list[AgentProcess], stop_requested: list[bool]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = {a.agent: a for a in agents}
    while waiting:
        stop_if_requested(stop_requested)
        for agent in list(waiting.values()):
            code = agent.process.poll()
            if code is not None:
                raise RunError(
                    f"agent {agent.agent.value} exited with code {code} while starting; "
                    f"last lines of {agent.log_path}:\n{tail(agent.log_path)}"
                )
            if is_ready(agent.metrics_url):
                del waiting[agent.agent]
        if time.monotonic() > deadline:
            names = ", ".join(a.value for a in waiting)
            raise RunError(
                f"not ready after {READY_TIMEOUT_SECONDS:g}s: {names} (see {agents[0].log_path.parent})"
            )
        time.sleep(0.2)


def stop_agents(agents: list[AgentProcess]) -> None:
    for agent in agents:
        if agent.process.poll() is None:
            agent.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for agent in agents:
        try:
            agent.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(agent.process.pid, signal.SIGKILL)
            agent.process.wait()
        agent.log_file.close()


@dataclass
class Watched:
    """One process `mno run` keeps alive: how to see that it exited, restart it, and see it ready.

    `restart` raises StackError when the new process cannot even be started (that counts as a
    crash); `ready` tells when a restarted process serves again.
    """

    name: str
    exit_code: Callable[[], int | None]
    restart: Callable[[], None]
    ready: Callable[[], bool]
    pid: Callable[[], int | None]
    log_path: Callable[[], Path | None]
    tracker: RestartTracker
    state: str = "running"  # running | restarting (waiting out the back-off) | recovering
    restart_at: float = 0.0
    crashed_at: float | None = None
    last_exit_code: int | None = None
    last_crash: str | None = None
    last_recovery_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "pid": self.pid() if self.state != "restarting" else None,
            "state": self.state,
            "restarts": self.tracker.restarts,
            "last_exit_code": self.last_exit_code,
            "last_crash": self.last_crash,
            "last_recovery_seconds": self.last_recovery_seconds,
        }


def describe_exit(code: int | None) -> str:
    if code is None:
        return "could not be started"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Watchdog:
    """Restarts crashed processes by their RestartTracker's decisions; gives up with RunError."""

    watched: list[Watched]
    on_change: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.monotonic
    changed: bool = field(default=False, init=False)

    def check(self) -> None:
        """One look at every watched process (called every WATCH_INTERVAL_SECONDS)."""
        self.changed = False
        for watched in self.watched:
            self._check(watched)
        if self.changed:
            self.on_change()

    def _check(self, watched: Watched) -> None:
        now = self.clock()
        if watched.state == "restarting":
            if now >= watched.restart_at:
                self._restart(watched)
            return
        code = watched.exit_code()
        if code is not None:
            self._crashed(watched, code)
        elif watched.state == "recovering" and watched.ready():
            assert watched.crashed_at is not None
            watched.state = "running"
            watched.last_recovery_seconds = round(now - watched.crashed_at, 2)
            log.info(
                "process ready again",
                process=watched.name,
                pid=watched.pid(),
                restarts=watched.tracker.restarts,
                recovered_seconds=watched.last_recovery_seconds,
            )
            self.changed = True

    def _crashed(self, watched: Watched, code: int | None) -> None:
        now = self.clock()
        if watched.state == "running":
            watched.crashed_at = now
        watched.last_exit_code = code
        watched.last_crash = datetime.now(UTC).isoformat(timespec="seconds")
        decision = watched.tracker.crashed()
        self.changed = True
        if isinstance(decision, GiveUp):
            policy = watched.tracker.policy
            log.error(
                "process keeps crashing, giving up",
                process=watched.name,
                exit_code=code,
                crashes=decision.crashes,
                window_seconds=decision.window,
                restarts=watched.tracker.restarts,
            )
            log_path = watched.log_path()
            last_lines = f"; last lines of {log_path}:\n{tail(log_path)}" if log_path else ""
            raise RunError(
                f"{watched.name} {describe_exit(code)} and has crashed {decision.crashes} times within "
                f"{decision.window:g}s (restarted {watched.tracker.restarts} times, the limit is "
                f"{policy.describe()}): giving up and stopping the mesh{last_lines}"
            )
        watched.state = "restarting"
        watched.restart_at = now + decision.delay
        log.warning(
            "process crashed, restarting",
            process=watched.name,
            exit_code=code,
            how=describe_exit(code),
            restart_in_seconds=decision.delay,
            restarts=watched.tracker.restarts,
        )

    def _restart(self, watched: Watched) -> None:
        try:
            watched.restart()
        except StackError as error:
            log.warning("restart failed", process=watched.name, error=str(error))
            watched.state = "recovering"  # so that _crashed keeps the first crash's time
            self._crashed(watched, None)
            return
        watched.tracker.restarted()
        watched.state = "recovering"
        self.changed = True
        log.info(
            "process restarted", process=watched.name, pid=watched.pid(), restarts=watched.tracker.restarts
        )


def watch_servers(nats: NatsServer, postgres: EmbeddedPostgres, policy: RestartPolicy) -> list[Watched]:
    """nats-server and PostgreSQL as watched processes; their restart() waits until they serve."""
    return [watch_server("nats-server", nats, policy), watch_server("postgres", postgres, policy)]


def watch_server(name: str, server: NatsServer | EmbeddedPostgres, policy: RestartPolicy) -> Watched:
    def restart() -> None:
        server.restart()

    tracker = RestartTracker(policy)
    tracker.started()
    return Watched(
        name,
        exit_code=server.exit_code,
        restart=restart,
        ready=lambda: True,
        pid=lambda: server.pid,
        log_path=lambda: server.log_path,
        tracker=tracker,
    )


def watch_agents(agents: list[AgentProcess], env: dict[str, str], policy: RestartPolicy) -> list[Watched]:
    """Every agent as a watched process: restarted with the environment it first had, logging to
    the same file, ready again when its /readyz answers 200."""
    watched = []
    for agent in agents:
        tracker = RestartTracker(policy)
        tracker.started()
        watched.append(
            Watched(
                agent.agent.value,
                exit_code=agent.exit_code,
                restart=functools.partial(agent.relaunch, env),
                ready=functools.partial(is_ready, agent.metrics_url),
                pid=agent.pid,
                log_path=functools.partial(getattr, agent, "log_path"),
                tracker=tracker,
            )
        )
    return watched


def check_ports_free(settings: Settings, ports: LocalPorts) -> None:
    ensure_port_free(settings.http.host, settings.http.port, "the HTTP edge (set MNO_HTTP_PORT)")
    for agent in ALL_AGENTS:
        agent_settings = getattr(settings.agents, agent.value)
        ensure_port_free(
            agent_settings.metrics_host,
            agent_settings.metrics_port,
            f"{agent.value} metrics (set MNO_{agent.value.upper()}_METRICS_PORT)",
        )


async def prepare_database(dsn: str, kept_token: str | None) -> tuple[dict[str, list[int]], str | None]:
    """Apply migrations; return them and a new local administrator API key when `kept_token` (the
    one kept from an earlier run) no longer verifies, e.g. on a first run or after a wiped database."""
    pool = await create_pool(dsn, min_size=1, max_size=2, command_timeout=60)
    try:
        applied = await migrate_all(pool)
        if kept_token:
            async with pool.acquire() as conn:
                if await apikeys.verify(conn, kept_token) is not None:
                    return applied, None
        return applied, await ensure_local_admin(pool)
    finally:
        await pool.close()


def edge_url(settings: Settings) -> str:
    return f"http://{settings.http.host}:{settings.http.port}"


def mno_command() -> str:
    """How to run `mno` from here: it sits next to this interpreter (the venv), not on PATH."""
    executable = Path(sys.executable).parent / "mno"
    with contextlib.suppress(ValueError):
        return str(executable.relative_to(Path.cwd()))
    return str(executable)


def print_banner(
    settings: Settings,
    token: str,
    agents: list[AgentProcess],
    nats: NatsServer,
    postgres: EmbeddedPostgres,
    log_dir: Path,
) -> None:
    edge = edge_url(settings)
    mno = mno_command()
    lines = [
        "",
        "MachineNativeOps is running.",
        f"  edge (API)       {edge}",
        f"  dashboard        {sign_in_link(edge, postgres.dsn)}  (one-time sign-in link)",
        f"  mesh             {edge}/api/v1/mesh",
        f"  API docs         {edge}/api/docs  (OpenAPI document: {edge}/api/v1/openapi.json)",
        f"  admin token      {token}",
        f"  try              curl -H 'Authorization: Bearer {token}' {edge}/api/v1/mesh",
        f"  NATS             {nats.url}  (monitoring {nats.monitor_url})",
        f"  PostgreSQL       {postgres.dsn}",
        f"  mno command      {mno} status   (also: {mno} migrate, {mno} audit verify, {mno} operator "
        "deliveries; run here, they find this stack)",
        "  agent metrics    " + "  ".join(f"{a.agent.value}={a.metrics_url}/metrics" for a in agents),
        f"  logs             {log_dir}",
        f"  data             {settings.data_dir.resolve()}",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


def run(settings: Settings, environment: Mapping[str, str], config: Path | None = None) -> int:
    """Run the mesh until interrupted; returns the process exit code.

    `environment`: what the settings were read with (see mno.local_stack.load_local_settings);
    `config`: the configuration file given on the command line, passed on to the agents.
    """
    data_dir = settings.data_dir.resolve()
    stop_requested: list[bool] = []
    # Restarts and give-ups are logged like the agents' records: JSON lines (on the terminal here).
    configure_logging(level=settings.logging.level, fmt=settings.logging.format, component="supervisor")

    def request_stop(_signum: int, _frame: object) -> None:
        stop_requested.append(True)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    nats = NatsServer()
    postgres = EmbeddedPostgres()
    agents: list[AgentProcess] = []
    try:
        with exclusive_data_dir(data_dir):
            try:
                serve(settings, environment, config, stop_requested, nats, postgres, agents)
            finally:
                remove_stack_record(data_dir)
                # Still holding the data directory: a new `mno run` cannot start on half-stopped servers.
                stop_agents(agents)
                postgres.stop()
                nats.stop()
        return 0
    except (RunError, StackError) as error:
        print(f"mno run: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if agents or stop_requested:
            print("stopped.", flush=True)


def serve(
    settings: Settings,
    environment: Mapping[str, str],
    config: Path | None,
    stop_requested: list[bool],
    nats: NatsServer,
    postgres: EmbeddedPostgres,
    agents: list[AgentProcess],
) -> None:
    """Start the stack and the agents (appending them to `agents`), then wait for a stop request."""
    data_dir = settings.data_dir.resolve()
    ports = LocalPorts.from_env()
    check_ports_free(settings, ports)
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"starting nats-server and PostgreSQL under {data_dir} ...", flush=True)
    # A token per run: another local process (or an agent left from an earlier run that reconnects
    # to this port) cannot publish on the bus, which trusts what it carries; the URL holds it.
    nats.start(data_dir, port=ports.nats, monitor_port=ports.nats_monitor, token=secrets.token_hex(16))
    stop_if_requested(stop_requested)
    dsn = postgres.start(data_dir, port=ports.postgres)
    # From here `mno status`, `mno migrate` etc. run in this directory reach these servers.
    write_stack_record(data_dir, StackRecord(nats.url, dsn, edge_url(settings), os.getpid()))
    stop_if_requested(stop_requested)
    token_path = data_dir / "admin-token"
    kept = token_path.read_text().strip() if token_path.exists() else None
    applied, new_token = asyncio.run(prepare_database(dsn, kept))
    if new_token is not None:
        write_secret_file(token_path, new_token)
    token = new_token or kept or ""
    if any(applied.values()):
        print(f"applied migrations: {applied}", flush=True)
    stop_if_requested(stop_requested)
    env = agent_environment(settings, environment, config, nats.url, dsn)
    agents.extend(start_agent(agent, settings, env, log_dir) for agent in ALL_AGENTS)
    wait_until_ready(agents, stop_requested)
    policy = RestartPolicy()
    watched = watch_servers(nats, postgres, policy) + watch_agents(agents, env, policy)

    def record() -> None:
        # `mno status` shows restarts per process from here; tests find the pids to kill here.
        processes = {w.name: w.summary() for w in watched}
        write_stack_record(data_dir, StackRecord(nats.url, dsn, edge_url(settings), os.getpid(), processes))

    record()
    # A living first run: a demo team with spend, budgets and alerts, through the API (once: a marker).
    if environment.get("MNO_DEMO", "on") != "off":
        print("seeding the demo team (once per data directory) ...", flush=True)
        bootstrap = settings.auth.bootstrap_token
        line = seed_on_first_run(
            edge_url(settings),
            dsn,
            data_dir,
            settings.auth.session_cookie_name,
            bootstrap.get_secret_value() if bootstrap is not None else None,
        )
        if line:
            print(f"  demo team        {line}; remove it with `{mno_command()} demo remove`", flush=True)
    print_banner(settings, token, agents, nats, postgres, log_dir)
    watchdog = Watchdog(watched, on_change=record)
    while not stop_requested:
        watchdog.check()
        time.sleep(WATCH_INTERVAL_SECONDS)
    print("stopping ...", flush=True)
