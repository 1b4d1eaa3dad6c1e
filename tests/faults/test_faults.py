"""Faults under steady ingest: nothing accepted is lost or doubled, the edge never hangs, the
supervisor heals the mesh with no hand.

Each fault runs against one `mno run` (shared by the module, faults in turn) while a client sends
paced batches with recorded ids and resends whatever the edge did not accept (tests.faults.
ingest_driver). After the fault, its recovery and a drain, the ids the cost report counts must be
exactly the ids the edge vouched for, each once. The short profile runs in `make test`; the full
one (every agent, nats-server and PostgreSQL killed, a 20 s freeze, longer ingest) in
`make test-faults` (marker `faults_full`). The table of all faults is printed at the end and
written to build/faults/.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass

import pytest

from shared.config.models import HttpSettings
from shared.messages.agents import ALL_AGENTS, AgentName
from tests.faults.ingest_driver import SteadyIngest
from tests.faults.report import RESULTS, FaultResult, table
from tests.faults.stored import stored_per_id, wait_until_stored
from tests.fixtures.supervised import (
    kill_and_time_recovery,
    mesh_ready,
    processes,
    wait_until_ready,
)
from tests.test_make_run import MakeRun

pytestmark = pytest.mark.timeout(900)

# The edge's documented bound on a request (`http.request_timeout_seconds`), with room for a loaded
# machine: an answer later than this is a hang.
HANG_LIMIT = HttpSettings().request_timeout_seconds + 5.0
STORE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Fault:
    name: str
    process: str  # as `mno run` names it in stack.json
    freeze: float = 0.0  # SIGSTOP for this long, then SIGCONT; 0: kill -9
    profile: str = "short"
    warmup: float = 5.0  # steady ingest before the fault
    after: float = 5.0  # and after recovery
    batch_size: int = 10
    interval: float = 0.1

    def __str__(self) -> str:
        return self.name


def _full(name: str, process: str, freeze: float = 0.0) -> Fault:
    return Fault(name, process, freeze, profile="full", warmup=10.0, after=15.0, batch_size=20)


SHORT = [
    Fault("kill -9 monitoring", AgentName.MONITORING.value),
    Fault("kill -9 nats-server", "nats-server"),
    Fault("SIGSTOP monitoring 5s", AgentName.MONITORING.value, freeze=5.0),
]
FULL = [
    *(_full(f"kill -9 {agent.value}", agent.value) for agent in ALL_AGENTS),
    _full("kill -9 nats-server", "nats-server"),
    _full("kill -9 postgres", "postgres"),
    _full("SIGSTOP monitoring 20s", AgentName.MONITORING.value, freeze=20.0),
]
CASES = [
    *(pytest.param(fault, id=fault.name.replace(" ", "_")) for fault in SHORT),
    *(
        pytest.param(fault, id=f"full-{fault.name.replace(' ', '_')}", marks=pytest.mark.faults_full)
        for fault in FULL
    ),
]


def inject(run: MakeRun, fault: Fault) -> float:
    """Apply the fault; seconds until the mesh is whole again (for a freeze: from SIGCONT)."""
    if not fault.freeze:
        return kill_and_time_recovery(run, fault.process)
    before = processes(run.setup)[fault.process]
    os.kill(before["pid"], signal.SIGSTOP)
    try:
        time.sleep(fault.freeze)
    finally:
        os.kill(before["pid"], signal.SIGCONT)
    recovered = wait_until_ready(run, time.monotonic())
    after = processes(run.setup)[fault.process]
    # Frozen is not dead: the supervisor must not have taken it for a crash.
    assert (after["pid"], after["restarts"]) == (before["pid"], before["restarts"]), (before, after)
    return recovered


@pytest.mark.parametrize("fault", CASES)
def test_fault_under_steady_ingest_loses_and_doubles_nothing(faults_run: MakeRun, fault: Fault) -> None:
    """Under paced ingest, the fault heals by itself and stored ids equal accepted ids, each once, no hang."""
    run, setup, token = faults_run, faults_run.setup, faults_run.admin_token
    run.assert_running()
    assert mesh_ready(setup), "the mesh was not whole before the fault"
    label = f"{fault.name.split()[-1]}-{uuid.uuid4().hex[:8]}"
    driver = SteadyIngest(setup.edge, token, label, batch_size=fault.batch_size, interval=fault.interval)
    driver.start()
    try:
        time.sleep(fault.warmup)
        recovery = inject(run, fault)
        time.sleep(fault.after)
    finally:
        record = driver.stop(drain_timeout=STORE_TIMEOUT)
    stored_after = wait_until_stored(setup, token, record, STORE_TIMEOUT)
    stored = stored_per_id(setup, token, record)
    result = FaultResult.of(fault.name, fault.profile, record, stored, recovery, stored_after)
    RESULTS.append(result)
    print("\n" + table([result]))

    run.assert_running()
    assert mesh_ready(setup), "the mesh is not whole after the fault"
    assert not record.refused_batches, f"batches refused for good: {record.refused_batches}"
    assert not record.unresolved_batches, f"batches never accepted: {sorted(record.unresolved_batches)}"
    assert not record.rejected, f"events rejected in a 2xx answer: {record.rejected}"
    assert record.accepted_ids == set(record.sent), "every id sent must end accepted"
    lost = sorted(record.accepted_ids - set(stored))
    assert not lost, f"{len(lost)} accepted ids not stored, e.g. {lost[:20]}"
    doubled = sorted(event_id for event_id, count in stored.items() if count > 1)
    assert not doubled, f"{len(doubled)} ids stored more than once, e.g. {doubled[:20]}"
    unexpected = sorted(set(stored) - record.accepted_ids)
    assert not unexpected, f"stored but never accepted: {unexpected[:20]}"
    twice = sorted(event_id for event_id, count in record.accepted.items() if count > 1)
    assert not twice, f"ids answered as new twice (counted twice against the plan): {twice[:20]}"
    slow = sorted((a for a in record.attempts if a.latency > HANG_LIMIT), key=lambda a: -a.latency)
    assert not slow, f"{len(slow)} requests took longer than {HANG_LIMIT:g}s: {slow[:5]}"
    errors = [a for a in record.attempts if a.status == 500]
    assert not errors, f"500 answers: {errors[:5]}"
