"""The embedded local stack: real nats-server and PostgreSQL processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import nats
import pytest

from mno.stack import EmbeddedPostgres, NatsServer, StackError
from tests.fixtures.stack import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def is_running(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def test_nats_server_answers_with_jetstream(nats_server: NatsServer) -> None:
    """A client connects to the fixture's server and JetStream reports its account."""
    connection = await nats.connect(nats_server.url)
    try:
        info = await connection.jetstream().account_info()
    finally:
        await connection.close()
    # The fixture's account has JetStream with no limits configured (a server without JetStream raises).
    assert (info.limits.max_streams, info.limits.max_consumers) == (-1, -1)


async def test_a_nats_server_with_a_token_refuses_clients_without_it(nats_server: NatsServer) -> None:
    """The test servers take a token (a stray agent of an earlier test cannot join): no token, no entry."""
    assert nats_server.token
    assert f"{nats_server.token}@" in nats_server.url
    anonymous = f"nats://{nats_server.host}:{nats_server.port}"
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await nats.connect(anonymous, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2)
    connection = await nats.connect(nats_server.url)
    await connection.close()


def test_port_in_use_raises_stack_error(nats_server: NatsServer, tmp_path: Path) -> None:
    """Starting on a port that is already bound fails before launching anything."""
    with pytest.raises(StackError, match=f"port {nats_server.port} is already in use"):
        NatsServer().start(tmp_path / "nats", port=nats_server.port, monitor_port=free_port())
    with pytest.raises(StackError, match=f"port {nats_server.port} is already in use"):
        EmbeddedPostgres().start(tmp_path / "pg", port=nats_server.port)
    assert not (tmp_path / "pg" / "postgres").exists()


async def test_postgres_restart_keeps_data(stack_dir: Path) -> None:
    """Stopping and starting on the same data directory reuses the cluster and its rows."""
    postgres = EmbeddedPostgres()
    dsn = await asyncio.to_thread(postgres.start, stack_dir, free_port())
    await _execute(dsn, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives')")
    first_pid = postgres.pid
    assert first_pid is not None
    await asyncio.to_thread(postgres.stop)
    assert not is_running(first_pid)

    dsn = await asyncio.to_thread(postgres.start, stack_dir, free_port())
    try:
        assert await _fetchval(dsn, "SELECT note FROM kept") == "survives"
    finally:
        await asyncio.to_thread(postgres.stop)


def test_data_dir_of_a_running_server_is_refused(stack_dir: Path) -> None:
    """A second server on a data directory whose server is still running is refused, not taken over."""
    running = EmbeddedPostgres()
    running.start(stack_dir, free_port())
    try:
        with pytest.raises(StackError, match="still running"):
            EmbeddedPostgres().start(stack_dir, free_port())
        assert running.pid is not None
        assert is_running(running.pid)
    finally:
        running.stop()


async def test_postgres_starts_over_a_killed_servers_lock_file(stack_dir: Path) -> None:
    """A SIGKILLed, not yet reaped postmaster leaves postmaster.pid; the next start handles it."""
    port = free_port()
    crashed = EmbeddedPostgres()
    dsn = await asyncio.to_thread(crashed.start, stack_dir, port)
    await _execute(dsn, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('committed')")
    assert crashed.pid is not None
    os.killpg(crashed.pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    # Still our unreaped child: a zombie whose pid is in the lock file.
    assert (stack_dir / "postgres" / "postmaster.pid").exists()

    restarted = EmbeddedPostgres()
    dsn = await asyncio.to_thread(restarted.start, stack_dir, port)
    try:
        assert await _fetchval(dsn, "SELECT note FROM kept") == "committed"
    finally:
        await asyncio.to_thread(restarted.stop)
        crashed.stop()


def test_servers_orphaned_by_a_killed_supervisor_are_stopped_on_next_start(stack_dir: Path) -> None:
    """Servers left behind by a SIGKILLed supervisor are stopped when the next one starts."""
    supervisor_script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from mno.stack import EmbeddedPostgres, NatsServer
        data_dir, pg_port, nats_port, monitor_port = Path(sys.argv[1]), *map(int, sys.argv[2:])
        postgres, nats_server = EmbeddedPostgres(), NatsServer()
        postgres.start(data_dir, pg_port)
        nats_server.start(data_dir, port=nats_port, monitor_port=monitor_port)
        print(postgres.pid, nats_server.pid, flush=True)
        time.sleep(300)
        """
    )
    ports = [str(free_port()) for _ in range(3)]
    supervisor = subprocess.Popen(
        [sys.executable, "-c", supervisor_script, str(stack_dir), *ports],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    orphan_pids = [int(pid) for pid in supervisor.stdout.readline().split()]
    supervisor.kill()
    supervisor.wait()
    assert len(orphan_pids) == 2
    assert all(is_running(pid) for pid in orphan_pids)

    postgres, nats_server = EmbeddedPostgres(), NatsServer()
    try:
        postgres.start(stack_dir, free_port())
        nats_server.start(stack_dir, port=free_port(), monitor_port=free_port())
        assert not any(is_running(pid) for pid in orphan_pids)
    finally:
        postgres.stop()
        nats_server.stop()


async def _execute(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _fetchval(dsn: str, sql: str) -> object:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()
