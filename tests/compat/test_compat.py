"""The real instrumentation libraries (pinned, in venvs of their own) calling a stand-in provider
through the real provider SDKs, exporting with the real OTLP/HTTP exporter to the running mesh: each
row's stored tokens, USD and estimated counts are what docs/INSTRUMENTATIONS.md says.

One driver process makes the calls of the libraries of one provider in turn (tests/compat/drivers,
`rows.processes`); the edge's answers to every export come back in the driver's output, with any
patch a library's uninstrument left on before the next library ran. Tokens and USD are read back from
`GET /api/v1/costs` grouped by the `compat_row` tag every span carries; `estimated_counts` (stored,
not in the cost report) from the events the edge accepted onto the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from services.pricing.genai import GenaiPricesSource
from services.pricing.models import Usage
from shared.bus.codec import decode_message
from shared.db.postgres import create_pool
from shared.messages.permissions import Permission
from shared.messages.registry import TOKEN_EVENTS_ACCEPTED
from shared.messages.telemetry import TokenEventsAccepted
from tests.compat.rows import DRIVERS, LITELLM, ROWS, Library, Process, Row, processes
from tests.compat.venvs import INSTALL_SECONDS, python_of
from tests.fixtures import teams
from tests.fixtures.mesh import Mesh
from tests.sdk.stand_in_provider import StandInProvider

DRIVER_DIR = Path(__file__).with_name("drivers")
TAG = "compat_row"
STARTED = datetime.now(UTC)
PRICES = GenaiPricesSource()


@dataclass(frozen=True)
class Run:
    """What one driver process reported: the edge's answer to each export, failed calls, and patches
    a library's uninstrument left on (by library)."""

    answers: list[dict[str, Any]]
    errors: dict[str, str]
    leaks: dict[str, list[str]]
    stderr: str


@pytest.fixture(scope="module")
async def compat_key(mesh: Mesh) -> str:
    """A key of a fresh team (its costs are this suite's alone)."""
    pool = await create_pool(mesh.launcher.postgres_dsn, min_size=1, max_size=1, command_timeout=10)
    try:
        async with pool.acquire() as conn:
            permissions = [Permission.TOKEN_EVENTS_WRITE, Permission.COSTS_READ]
            return await teams.org_team_key(conn, permissions, key_name="compat")
    finally:
        await pool.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[StandInProvider]:
    server = StandInProvider(unique_ids=True).start()
    yield server
    server.stop()


PROCESSES = processes()


class Drives:
    """Each driver process, run once, on first use: its Run, or why it could not run."""

    def __init__(self, mesh: Mesh, key: str, provider: StandInProvider) -> None:
        self._mesh, self._key, self._provider = mesh, key, provider
        self._done: dict[str, Run | str] = {}

    def run(self, process: Process) -> Run:
        if process.name not in self._done:
            try:
                self._done[process.name] = _drive(process, self._mesh, self._key, self._provider)
            except (AssertionError, pytest.fail.Exception, subprocess.TimeoutExpired) as exc:
                self._done[process.name] = f"{process.name}: {exc}"
        done = self._done[process.name]
        if isinstance(done, str):
            pytest.fail(done)
        return done

    def of(self, library: Library) -> Run:
        return self.run(next(process for process in PROCESSES if library in process.libraries))


@pytest.fixture(scope="module")
def drives(mesh: Mesh, compat_key: str, provider: StandInProvider) -> Iterator[Drives]:
    yield Drives(mesh, compat_key, provider)
    if INSTALL_SECONDS:
        print("\ncompat venvs made (s):", {name: round(s, 1) for name, s in INSTALL_SECONDS.items()})


def _drive(process: Process, mesh: Mesh, key: str, provider: StandInProvider) -> Run:
    python = python_of(process.venv)
    # Only what a deployed app would have: no project code on the path, the exporter pointed at the edge.
    env = {name: value for name, value in os.environ.items() if not name.startswith(("OTEL_", "PYTHON"))}
    env.update(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": mesh.edge_url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {key}",
            "OTEL_SERVICE_NAME": "compat",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch LiteLLM's price table
            "PYTHONUNBUFFERED": "1",
        }
    )
    driver = DRIVER_DIR / DRIVERS[process.venv.name]
    rows = [row for library in process.libraries for row in ROWS if row.library == library]
    # The instrumentations driver runs several libraries: its rows name theirs.
    named = [row.tag if driver.name == "instrumentations.py" else row.shape for row in rows]
    done = subprocess.run(
        [python, driver, provider.url, *named],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=DRIVER_DIR,
    )
    assert done.returncode == 0, f"{process.name} driver failed:\n{done.stderr[-4000:]}"
    output = json.loads(done.stdout)
    return Run(output["answers"], output["errors"], output["leaks"], done.stderr)


async def _costs(edge: str, key: str, rows: int) -> dict[str, dict[str, Any]]:
    """Totals per compat_row tag, once `rows` tags have events (storing is asynchronous)."""
    query = {
        "since": (STARTED - timedelta(hours=1)).isoformat(),
        "until": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "group_by": f"tag:{TAG}",
        "limit": "1000",
    }
    deadline = asyncio.get_running_loop().time() + 30
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(
                f"{edge}/api/v1/costs", params=query, headers={"Authorization": f"Bearer {key}"}
            ) as response:
                assert response.status == 200, await response.text()
                report = await response.json()
            groups = {g["key"].get(f"tag:{TAG}", ""): g["totals"] for g in report["groups"]}
            if len(groups) >= rows or asyncio.get_running_loop().time() > deadline:
                return groups
            await asyncio.sleep(0.3)


async def _accepted_estimates(nats_url: str) -> dict[str, list[list[str]]]:
    """estimated_counts of every accepted event carrying a compat_row tag, by tag (from the bus)."""
    client = await nats.connect(nats_url)
    found: dict[str, list[list[str]]] = {}
    try:
        js = client.jetstream()
        subscription = await js.pull_subscribe(TOKEN_EVENTS_ACCEPTED.subject, durable=None)
        while True:
            try:
                messages = await subscription.fetch(500, timeout=1)
            except TimeoutError:  # nats-py's own (a subclass) or, past a lingering pull's deadline, asyncio's
                break
            for message in messages:
                _, accepted = decode_message(message.data, TokenEventsAccepted)
                columns = accepted.events
                for tags, estimated in zip(columns.tags, columns.estimated_counts, strict=True):
                    if TAG in tags:
                        found.setdefault(tags[TAG], []).append(list(estimated))
    finally:
        await client.close()
    return found


def _usd(provider: str, model: str, usage: Usage) -> Decimal:
    return PRICES.price(provider, model, usage, datetime.now(UTC)).total


MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
STORED_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)


Stored = tuple[dict[str, dict[str, Any]], dict[str, list[list[str]]]]


@pytest.fixture(scope="module")
async def stored(drives: Drives, mesh: Mesh, compat_key: str) -> Stored:
    """Every library's driver run, then the costs per row and the estimates per row as stored."""
    for venv in {process.venv.name: process.venv for process in PROCESSES}.values():
        with contextlib.suppress(pytest.fail.Exception):  # the rows of its libraries fail with it
            await asyncio.to_thread(python_of, venv)

    def drive(process: Process) -> None:
        with contextlib.suppress(pytest.fail.Exception):  # the process's rows fail with it
            drives.run(process)

    # Drivers wait on imports, the provider and the edge more than on a core: three at a time, the
    # longest first: LiteLLM (its import alone takes 20-30 s on a loaded 2-core machine), then by rows.
    def length(process: Process) -> tuple[bool, int]:
        rows = sum(row.library in process.libraries for row in ROWS)
        return (process.venv.name != LITELLM.name, -rows)

    ordered = sorted(PROCESSES, key=length)
    with ThreadPoolExecutor(max_workers=3) as pool:
        await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(pool, drive, process) for process in ordered)
        )
    with_events = sum(1 for row in ROWS if row.expected is not None)
    costs = await _costs(mesh.edge_url, compat_key, with_events)
    return costs, await _accepted_estimates(mesh.launcher.nats_url)


# The first row's setup makes the venvs (uv, no cache: ~1 min) and runs every driver.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_compat(row: Row, drives: Drives, stored: Stored) -> None:
    """The library's spans of this call store the documented tokens, USD and estimated counts (or,
    for a call it cannot price, no event and the reason reported back), with no export failing."""
    run = drives.of(row.library)
    assert not run.leaks, f"an uninstrument left patches on before the next library ran: {run.leaks}"
    assert row.tag not in run.errors, run.errors.get(row.tag)
    answers = [a for a in run.answers if a["row"] == row.tag]
    failed = [a for a in run.answers if a["status"] != 200]
    assert not failed, failed
    messages = " ".join(a.get("message", "") for a in answers)
    assert " invalid " not in messages, messages
    assert " refused " not in messages, messages
    costs, estimates = stored
    if row.expected is None:
        assert row.tag not in costs, costs.get(row.tag)
        if row.no_event == "no span":
            assert not any(a.get("rejected") for a in answers), answers
        else:
            assert f" {row.no_event} " in messages, answers
        return
    if row.reported_twice:
        assert " duplicate_call " in messages, answers
    totals = costs.get(row.tag)
    assert totals is not None, f"no event stored for {row.tag}; edge answered {answers}\n{run.stderr[-3000:]}"
    assert totals["events"] == 1
    got = {name: totals[name] for name in STORED_FIELDS}
    assert got == {name: getattr(row.expected, name) for name in STORED_FIELDS}
    assert Decimal(totals["cost_usd"]) == _usd(row.provider, MODELS[row.provider], row.expected)
    assert estimates.get(row.tag) == [list(row.estimated)]


def test_driver_imports_no_project_code() -> None:
    """The drivers import only what their venv has (and each other): never the project's packages."""
    project = {"agents", "services", "shared", "mno", "mno_sdk", "tests"}
    for driver in DRIVER_DIR.glob("*.py"):
        for line in driver.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in project, f"{driver.name}: {line}"
