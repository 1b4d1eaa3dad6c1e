"""Stacks started at the same time on one machine: PostgreSQL's system account, two stacks side by side."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from mno.stack import EmbeddedPostgres, NatsServer, StackError
from tests.fixtures.stack import free_port, scratch_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
RACERS = 8

# Each racer waits for the same instant, then looks up or creates the account, as a stack does.
_RACER = """
import sys, time
from mno.stack import postgres_account
name, start = sys.argv[1], float(sys.argv[2])
while time.time() < start:
    pass
account = postgres_account(name)
print(account.uid, account.gid)
"""


@pytest.fixture
def new_account_name() -> Iterator[str]:
    """A system account name nobody has yet, removed after the test."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creating system accounts needs root and useradd")
    name = f"mno_t{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        # Removed as often as racing useradds might have added it (one is all there should be).
        for _ in range(RACERS):
            if subprocess.run(["userdel", name], capture_output=True, check=False).returncode != 0:
                break


def test_stacks_starting_together_create_one_postgres_account(new_account_name: str) -> None:
    """8 processes creating PostgreSQL's account at once all get the same uid, and it has that name."""
    start = time.time() + 1.5
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, new_account_name, str(start)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    results = [racer.communicate(timeout=60) for racer in racers]
    failures = [err for racer, (_, err) in zip(racers, results, strict=True) if racer.returncode != 0]
    assert not failures, failures
    accounts = {out.strip() for out, _ in results}
    assert len(accounts) == 1, f"racers got different accounts: {accounts}"
    uid = int(accounts.pop().split()[0])
    assert pwd.getpwuid(uid).pw_name == new_account_name
    assert pwd.getpwnam(new_account_name).pw_uid == uid
    with open("/etc/passwd") as passwd:
        entries = [line for line in passwd if line.startswith(f"{new_account_name}:")]
    assert len(entries) == 1, entries


async def test_two_stacks_start_side_by_side_on_their_own_ports() -> None:
    """Two local stacks (nats-server + PostgreSQL) started at the same time both come up and serve."""

    def start_stack(data_dir: Path) -> tuple[NatsServer, EmbeddedPostgres, str]:
        # A free port can be taken by another process (another test worker) before it is bound: try
        # fresh ports then, as an operator would; any other failure is the test's finding.
        for attempt in range(3):
            nats_server, postgres = NatsServer(), EmbeddedPostgres()
            try:
                nats_server.start(data_dir, port=free_port(), monitor_port=free_port())
            except StackError as error:
                if "already in use" in str(error) and attempt < 2:
                    continue
                raise
            try:
                return nats_server, postgres, postgres.start(data_dir, port=free_port())
            except StackError as error:
                nats_server.stop()
                if "already in use" in str(error) and attempt < 2:
                    continue
                raise
            except BaseException:
                nats_server.stop()
                raise
        raise AssertionError("unreachable")

    with scratch_dir("mno-side-a-") as first, scratch_dir("mno-side-b-") as second:
        results = await asyncio.gather(
            asyncio.to_thread(start_stack, first),
            asyncio.to_thread(start_stack, second),
            return_exceptions=True,
        )
        started = [result for result in results if not isinstance(result, BaseException)]
        try:
            assert len(started) == 2, [r for r in results if isinstance(r, BaseException)]
            assert started[0][0].port != started[1][0].port
            for nats_server, _, dsn in started:
                connection = await nats.connect(nats_server.url)
                await connection.jetstream().account_info()
                await connection.close()
                assert await _select_one(dsn) == 1
        finally:
            for nats_server, postgres, _ in started:
                postgres.stop()
                nats_server.stop()


async def _select_one(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT 1"))
    finally:
        await connection.close()
