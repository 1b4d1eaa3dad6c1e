"""`mno run` heals its mesh: kill -9 of an agent or of a server is restarted, a crash loop gives up.

Real processes throughout: `mno run` (what `make run` runs, without make's venv check) on a fresh data
directory and free ports (see tests.test_make_run), killed with SIGKILL as a crash would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.messages.agents import ALL_AGENTS, AgentName
from tests.fixtures.stack import scratch_dir
from tests.fixtures.supervised import (
    MNO_RUN,
    kill_and_time_recovery,
    mesh_ready,
    processes,
    supervised_run,
)
from tests.test_make_run import (
    REPO,
    MakeRun,
    RunSetup,
    canary_report,
    ctrl_c_and_check_clean_stop,
    http,
    mno_next_to,
)

pytestmark = pytest.mark.timeout(600)

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def canary(setup: RunSetup, token: str, canary_id: str) -> int:
    return http("POST", f"{setup.edge}/api/v1/mesh/canaries", token, {"canary_id": canary_id})[0]


def ingest(setup: RunSetup, token: str, event_id: str) -> None:
    event = {
        "id": event_id,
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": 1000,
        "output_tokens": 100,
        "timestamp": (NOW + timedelta(minutes=1)).isoformat(),
        "project": "healing",
    }
    status, body = http("POST", f"{setup.edge}/api/v1/token-events", token, {"events": [event]})
    assert status == 200, body
    assert body["accepted"] == 1, body


def stored_events(setup: RunSetup, token: str, at_least: int, timeout: float = 30.0) -> int:
    """Events the cost report counts once it counts `at_least` of them (storing is asynchronous)."""
    query = f"since={(NOW - timedelta(hours=1)).isoformat()}&until={(NOW + timedelta(hours=2)).isoformat()}"
    query = query.replace("+", "%2B")
    deadline = time.monotonic() + timeout
    while True:
        status, body = http("GET", f"{setup.edge}/api/v1/costs?{query}", token)
        assert status == 200, body
        events = int(body["totals"]["events"])
        if events >= at_least or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def events_stream_state(setup: RunSetup) -> dict[str, int]:
    """The JetStream events stream's state, from nats-server's monitoring endpoint."""
    url = f"http://127.0.0.1:{setup.ports['MNO_NATS_MONITOR_PORT']}/jsz?streams=true"
    status, body = http("GET", url)
    assert status == 200, body
    streams = [s for account in body["account_details"] for s in account["stream_detail"]]
    events = [s for s in streams if s["name"] == "MNO_EVENTS"]  # jetstream.events_stream
    assert events, [s["name"] for s in streams]
    return {key: int(events[0]["state"][key]) for key in ("messages", "first_seq", "last_seq")}


@pytest.fixture(scope="module")
def healing_run() -> Iterator[MakeRun]:
    """`mno run` on a fresh data dir, kept for this module's kill tests."""
    with supervised_run("mno-heal-") as run:
        yield run


def test_killed_agent_is_restarted_and_the_mesh_serves_again(healing_run: MakeRun) -> None:
    """kill -9 of the MonitoringAgent: restarted, the edge ready again, an event sent afterwards is stored."""
    setup, token = healing_run.setup, healing_run.admin_token
    ingest(setup, token, f"before-{uuid.uuid4().hex}")
    assert stored_events(setup, token, 1) == 1

    kill_and_time_recovery(healing_run, AgentName.MONITORING.value)

    ingest(setup, token, f"after-{uuid.uuid4().hex}")
    assert stored_events(setup, token, 2) == 2, "an event ingested after the restart was not stored"
    restarted = [
        json.loads(line)
        for line in healing_run.output.splitlines()
        if line.startswith("{") and '"process restarted"' in line
    ]
    assert [(r["process"], r["restarts"]) for r in restarted] == [("monitoring", 1)], restarted
    status = mno_next_to(setup, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    restarts = {row["agent"]: row["restarts"] for row in report["agents"]}
    assert restarts == {agent.value: int(agent is AgentName.MONITORING) for agent in ALL_AGENTS}
    assert report["servers"]["nats-server"]["restarts"] == 0


def test_killed_nats_server_is_restarted_with_its_jetstream_data(healing_run: MakeRun) -> None:
    """kill -9 of nats-server: restarted on its store; agents reconnect; old events kept, new ones stored."""
    setup, token = healing_run.setup, healing_run.admin_token
    already = stored_events(setup, token, 0, timeout=0)
    status, body = http(
        "POST", f"{setup.edge}/api/v1/mesh/canaries", token, {"canary_id": "before-nats-kill"}
    )
    assert status == 202, body
    assert all(s["processed"] for s in canary_report(setup, token, "before-nats-kill")["statuses"])
    stream_before = events_stream_state(setup)
    assert stream_before["messages"] > 0

    kill_and_time_recovery(healing_run, "nats-server")

    stream_after = events_stream_state(setup)
    assert stream_after["first_seq"] == stream_before["first_seq"], (stream_before, stream_after)
    assert stream_after["last_seq"] >= stream_before["last_seq"], (stream_before, stream_after)
    ingest(setup, token, f"after-nats-{uuid.uuid4().hex}")
    assert stored_events(setup, token, already + 1) == already + 1
    assert canary(setup, token, "after-nats-kill") == 202
    report = canary_report(setup, token, "after-nats-kill")
    assert all(s["processed"] for s in report["statuses"]), report
    # The consumers' acknowledgements were kept with the store: nothing is delivered a second time.
    before = canary_report(setup, token, "before-nats-kill", timeout=0)
    assert all(s["deliveries"] == 1 for s in before["statuses"]), before


def test_killed_postgres_is_restarted_on_its_data(healing_run: MakeRun) -> None:
    """kill -9 of PostgreSQL's postmaster: restarted on its cluster; earlier data kept, new work served."""
    setup, token = healing_run.setup, healing_run.admin_token
    assert canary(setup, token, "before-pg-kill") == 202
    assert all(s["processed"] for s in canary_report(setup, token, "before-pg-kill")["statuses"])

    kill_and_time_recovery(healing_run, "postgres")

    deadline = time.monotonic() + 30
    while (
        status := http("POST", f"{setup.edge}/api/v1/mesh/canaries", token, {"canary_id": "after-pg"})[0]
    ) != 202:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    report = canary_report(setup, token, "after-pg", timeout=60)
    assert all(s["processed"] for s in report["statuses"]), report
    before = canary_report(setup, token, "before-pg-kill", timeout=0)
    assert all(s["processed"] for s in before["statuses"]), before


def test_ctrl_c_after_restarts_still_stops_everything(healing_run: MakeRun) -> None:
    """After restarts, Ctrl-C still stops every process (the restarted ones too), leaving nothing."""
    ctrl_c_and_check_clean_stop(healing_run)


@pytest.mark.long
def test_crash_loop_gives_up_with_a_message_and_a_non_zero_exit() -> None:
    """An agent exiting at once on each restart (its config broken meanwhile) ends `mno run` with exit 1."""
    with scratch_dir("mno-crashloop-") as scratch:
        config = scratch / "config.yaml"
        shutil.copy(REPO / "config" / "machine-native-ops.yaml", config)
        setup = RunSetup.fresh(scratch / "data", {"MNO_CONFIG": str(config)})
        run = MakeRun(setup, command=MNO_RUN)
        try:
            run.wait_for_banner()
            # Agents read the file at start; the running ones, and `mno run` itself, have theirs.
            config.write_text(config.read_text() + "\nnot_a_section:\n  key: 1\n")
            started = time.monotonic()
            os.kill(processes(setup)[AgentName.LEARNING.value]["pid"], signal.SIGKILL)
            code = run.wait(180)
            output = run.output
            print(f"gave up {time.monotonic() - started:.1f}s after the first crash")
            assert code == 1, output
            messages = [line for line in output.splitlines() if line.startswith("mno run:")]
            assert len(messages) == 1, output
            assert "learning exited with code 2" in messages[0], messages
            assert "5 times within 60s" in messages[0], messages
            assert "giving up" in messages[0], messages
            assert "not_a_section" in output, "the agent's own reason (its last log lines) is shown"
            assert "Traceback" not in output, output
            run.assert_nothing_left()
        finally:
            run.stop()


@pytest.mark.long
def test_two_stacks_start_side_by_side_on_one_machine() -> None:
    """Two `mno run` started at the same moment on their own data dirs and ports both serve the mesh."""
    with scratch_dir("mno-pair-a-") as first_dir, scratch_dir("mno-pair-b-") as second_dir:
        runs = [
            MakeRun(RunSetup.fresh(first_dir / "data"), command=MNO_RUN),
            MakeRun(RunSetup.fresh(second_dir / "data"), command=MNO_RUN),
        ]
        try:
            for run in runs:
                run.wait_for_banner()
                assert mesh_ready(run.setup)
                status, body = http("GET", f"{run.setup.edge}/api/v1/mesh", run.admin_token)
                assert status == 200, body
                assert body["missing"] == [], body
            for run in runs:
                ctrl_c_and_check_clean_stop(run)
        finally:
            for run in runs:
                run.stop()
