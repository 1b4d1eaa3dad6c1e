"""The two-command promise: `make run` from the repository root starts the whole mesh, and Ctrl-C stops it.

Every test runs the real `make run` (venv check, then `.venv/bin/mno run`) as a terminal would: in a
process group of its own, interrupted by SIGINT to that group. Each run gets a fresh data directory
outside pytest's tmp_path (see tests.fixtures.stack.scratch_dir) and free ports for everything it
listens on, so it cannot clash with anything else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from shared.messages.agents import ALL_AGENTS, AgentName
from tests.fixtures.fake_github import generate_private_key_pem
from tests.fixtures.stack import free_port, scratch_dir

REPO = Path(__file__).resolve().parents[1]
BANNER = "MachineNativeOps is running."
BANNER_TIMEOUT = 120.0
STOP_TIMEOUT = 90.0
# A refused second start must be quick: it should fail before starting anything.
REFUSAL_TIMEOUT = 20.0

pytestmark = pytest.mark.timeout(600)

# Local requests must not go through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MAKE_VARIABLES = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKEFILES"}
# How make reports a recipe that failed ("Error N") or was killed by a signal ("Interrupt").
_MAKE_ERROR = re.compile(r"^make(\[\d+\])?: \*\*\*", re.MULTILINE)


def metrics_port_variable(agent: AgentName) -> str:
    return f"MNO_{agent.value.upper()}_METRICS_PORT"


PORT_VARIABLES = (
    "MNO_HTTP_PORT",
    "MNO_NATS_PORT",
    "MNO_NATS_MONITOR_PORT",
    "MNO_POSTGRES_PORT",
    *(metrics_port_variable(agent) for agent in ALL_AGENTS),
)


@dataclass(frozen=True)
class RunSetup:
    """Where one `make run` keeps its data and which ports it listens on."""

    data_dir: Path
    ports: dict[str, int]
    # Further variables, as a user would export them before `make run`.
    variables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fresh(cls, data_dir: Path, variables: dict[str, str] | None = None, **fixed_ports: int) -> RunSetup:
        ports = {name: free_port() for name in PORT_VARIABLES}
        ports.update(fixed_ports)
        return cls(data_dir, ports, dict(variables or {}))

    @property
    def http_port(self) -> int:
        return self.ports["MNO_HTTP_PORT"]

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def metrics_url(self, agent: AgentName) -> str:
        return f"http://127.0.0.1:{self.ports[metrics_port_variable(agent)]}"

    def env(self) -> dict[str, str]:
        # No MNO_* settings of the caller's leak in: only the data dir and ports below differ from
        # the defaults in config/machine-native-ops.yaml.
        # Nor the variables of an enclosing make (`make test`): this is a top-level `make run`.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("MNO_") and key not in _MAKE_VARIABLES
        }
        env["MNO_DATA_DIR"] = str(self.data_dir)
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(self.variables)
        return env


class MakeRun:
    """`make run` in its own process group, as in a terminal; its output is read by a thread.

    shared_data_dir / shared_ports: what this run shares with another one still running, so they
    don't identify its processes (leftovers()). `command`: `make run`, or what it runs (`mno run`).
    """

    def __init__(
        self,
        setup: RunSetup,
        *,
        shared_data_dir: bool = False,
        shared_ports: tuple[str, ...] = (),
        command: tuple[str, ...] = ("make", "run"),
    ):
        self.setup = setup
        self.own_data_dir = None if shared_data_dir else setup.data_dir
        self.own_ports = {name: port for name, port in setup.ports.items() if name not in shared_ports}
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            list(command),
            cwd=REPO,
            env=setup.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="make-run-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float) -> str:
        """The first output line containing text; fails if the output ends or time runs out first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    why = "make run ended" if self._eof else f"not within {timeout:g}s"
                    raise AssertionError(f"no line with {text!r} ({why}); output:\n" + "\n".join(self.lines))
                self._changed.wait(remaining)

    def wait_for_banner(self) -> None:
        self.wait_for_line(BANNER, BANNER_TIMEOUT)
        self.wait_for_line("Press Ctrl-C to stop.", 5.0)

    @property
    def admin_token(self) -> str:
        match = re.search(r"^\s*admin token\s+(\S+)\s*$", self.output, re.MULTILINE)
        assert match, f"no admin token in the banner:\n{self.output}"
        return match.group(1)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole foreground process group (make and `mno run`)."""
        os.killpg(self.process.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        """make's exit status, once it has exited and all its output is read."""
        code = self.process.wait(timeout)
        self._reader.join(10.0)
        with self._changed:
            assert self._eof, "make exited but its output did not end (something holds the pipe)"
        return code

    def assert_running(self) -> None:
        assert self.process.poll() is None, f"make run exited ({self.process.returncode}):\n{self.output}"

    def leftovers(self) -> list[FoundProcess]:
        """Live processes of this run (see leftover_processes)."""
        return leftover_processes(self.own_data_dir, self.own_ports)

    def assert_nothing_left(self) -> None:
        """No live process of this run and nothing listening on its own ports (allowing 5 s to exit)."""
        deadline = time.monotonic() + 5.0
        while True:
            left = self.leftovers()
            listening = listening_ports(set(self.own_ports.values()))
            if not left and not listening:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not left, "processes left behind:\n" + "\n".join(map(str, left))
        assert not listening, f"ports still listened on: {sorted(listening)}"

    def stop(self) -> None:
        """Teardown safety net: Ctrl-C, then SIGKILL for the group and anything it left behind."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.interrupt()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for process in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        self._reader.join(10.0)


# --- what is left on the machine ---------------------------------------------------------------


@dataclass(frozen=True)
class FoundProcess:
    pid: int
    command: str
    why: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.why}): {self.command}"


def _read_proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _is_zombie(pid: int) -> bool:
    stat_line = _read_proc(pid, "stat").decode(errors="replace")
    return not stat_line or stat_line.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def leftover_processes(data_dir: Path | None, ports: dict[str, int]) -> list[FoundProcess]:
    """Live processes that belong to this run: nats-server, postgres and its backends, agents, make.

    A process belongs to it when its command line names the data directory or one of its ports,
    its environment carries the data directory or one of its port variables, or its working
    directory is inside the data directory (PostgreSQL backends rewrite their command line and
    environment area, but stay in the cluster directory).
    """
    directory = str(data_dir) if data_dir is not None else None
    port_args = {str(port) for port in ports.values()}
    port_suffixes = tuple(f":{port}" for port in ports.values())
    env_entries = {f"{name}={port}".encode() for name, port in ports.items()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        argv = [part.decode(errors="replace") for part in _read_proc(pid, "cmdline").split(b"\0") if part]
        environ = set(_read_proc(pid, "environ").split(b"\0"))
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        why = []
        if directory is not None and any(directory in part for part in argv):
            why.append("command line names the data dir")
        if any(part in port_args or part.endswith(port_suffixes) for part in argv):
            why.append("command line names a port")
        if environ & env_entries or (
            directory is not None and f"MNO_DATA_DIR={directory}".encode() in environ
        ):
            why.append("environment")
        if directory is not None and (cwd == directory or cwd.startswith(directory + os.sep)):
            why.append("working directory")
        if why and not _is_zombie(pid):
            found.append(FoundProcess(pid, " ".join(argv), ", ".join(why)))
    return found


def listening_ports(ports: set[int]) -> set[int]:
    """Which of these ports something listens on (TCP, IPv4 or IPv6)."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and local_port in ports:  # 0A: LISTEN
                listening.add(local_port)
    return listening


# --- HTTP ----------------------------------------------------------------------------------------


def http(method: str, url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """Status and parsed JSON body (or text) of one request."""
    headers = {"Accept": "application/json"}
    data = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with _DIRECT.open(request, timeout=15.0) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def assert_mesh_complete(setup: RunSetup, token: str) -> None:
    for agent in ALL_AGENTS:
        status, body = http("GET", f"{setup.metrics_url(agent)}/readyz")
        assert status == 200, f"{agent.value} not ready: {body}"
    status, body = http("GET", f"{setup.edge}/api/v1/mesh", token)
    assert status == 200, body
    assert body["missing"] == [], body
    assert {entry["agent"] for entry in body["agents"]} == {agent.value for agent in ALL_AGENTS}


def canary_report(setup: RunSetup, token: str, canary_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The canary's report once every agent processed it (the last report if time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = http("GET", f"{setup.edge}/api/v1/mesh/canaries/{canary_id}", token)
        assert status == 200, body
        statuses = body["statuses"]
        if len(statuses) == len(ALL_AGENTS) and all(s["processed"] for s in statuses):
            return dict(body)
        if time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.2)


# --- stopping ------------------------------------------------------------------------------------


def assert_whole_mesh_running(run: MakeRun) -> None:
    """make, `mno run`, nats-server, PostgreSQL and every agent are up, and leftovers() sees them."""
    run.assert_running()
    running = " ".join(process.command for process in run.leftovers())
    assert "nats-server" in running, running
    assert "postgres" in running, running
    for agent in ALL_AGENTS:
        assert f"agents.{agent.value}" in running, running


def ctrl_c_and_check_clean_stop(run: MakeRun) -> None:
    """Ctrl-C; `mno run` stops everything in order and exits 0; nothing of the run is left."""
    started = time.monotonic()
    run.interrupt()
    code = run.wait(STOP_TIMEOUT)
    print(f"stopped {time.monotonic() - started:.1f}s after Ctrl-C")
    output = run.output
    # GNU make waits for its recipe, then re-raises the SIGINT it received itself (that is what a
    # shell reports as 130), whatever the recipe's status: make's own status cannot be 0 on Ctrl-C.
    # The recipe's status shows in make's output: make reports one that failed ("make: *** [run]
    # Error N") or died of the signal ("make: *** [run] Interrupt"), and prints nothing after a
    # recipe that exited 0.
    assert code in (0, -signal.SIGINT), f"make exited {code}:\n{output}"
    assert not _MAKE_ERROR.search(output), f"`mno run` did not exit 0 on Ctrl-C:\n{output}"
    assert "Traceback" not in output, output
    assert output.splitlines()[-2:] == ["stopping ...", "stopped."], output
    run.assert_nothing_left()
    assert not (run.setup.data_dir / "stack.json").exists(), "a stopped run must not leave its addresses"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory directly under /tmp (not tmp_path: PostgreSQL's account must traverse it)."""
    with scratch_dir("mno-make-run-") as path:
        yield path


@pytest.fixture(scope="module")
def first_run() -> Iterator[MakeRun]:
    """`make run` on a data directory that does not exist yet, running until the module's last test."""
    with scratch_dir("mno-make-run-") as scratch:
        run = MakeRun(RunSetup.fresh(scratch / "data"))
        try:
            run.wait_for_banner()
            yield run
        finally:
            run.stop()


# --- tests (in this order: the last one stops first_run) -----------------------------------------


def test_make_run_from_nothing_starts_the_whole_mesh(first_run: MakeRun) -> None:
    """From an absent data dir, `make run` prints the banner with a 0600 token and serves all five agents."""
    setup = first_run.setup
    print(f"make run: banner after {time.monotonic() - first_run.started:.1f}s")
    first_run.assert_running()
    output = first_run.output
    assert "Traceback" not in output, output
    assert "applied migrations" in output, "a new data dir must get its schemas"
    assert f"edge (API)       {setup.edge}" in output
    for agent in ALL_AGENTS:
        assert f"{agent.value}={setup.metrics_url(agent)}/metrics" in output

    token = first_run.admin_token
    assert token.startswith("mno_"), "the banner shows a real API key of the local team"
    token_file = setup.data_dir / "admin-token"
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    assert_mesh_complete(setup, token)
    status, _ = http("GET", f"{setup.edge}/api/v1/mesh")
    assert status == 401, "the mesh API must require the token"


def test_second_make_run_on_a_data_dir_in_use_is_refused(first_run: MakeRun) -> None:
    """A second `make run` on a data dir in use exits non-zero at once with one clear line, harms nothing."""
    setup = first_run.setup
    lock_before = (setup.data_dir / "run.lock").read_text()
    second = MakeRun(RunSetup.fresh(setup.data_dir), shared_data_dir=True)
    try:
        code = second.wait(REFUSAL_TIMEOUT)
        elapsed = time.monotonic() - second.started
        output = second.output
        assert code != 0, output
        assert "Traceback" not in output, output
        messages = [line for line in output.splitlines() if line.startswith("mno run:")]
        assert len(messages) == 1, output
        assert str(setup.data_dir) in messages[0]
        assert "in use" in messages[0]
        assert "starting nats-server" not in output
        print(f"refused in {elapsed:.1f}s: {messages[0]}")
        second.assert_nothing_left()
    finally:
        second.stop()

    first_run.assert_running()
    assert (setup.data_dir / "run.lock").read_text() == lock_before
    assert_mesh_complete(setup, first_run.admin_token)


def test_second_make_run_on_a_taken_http_port_is_refused(first_run: MakeRun, scratch: Path) -> None:
    """A `make run` whose HTTP port is taken exits non-zero naming it and MNO_HTTP_PORT, leaving nothing."""
    port = first_run.setup.http_port
    second = MakeRun(RunSetup.fresh(scratch / "data", MNO_HTTP_PORT=port), shared_ports=("MNO_HTTP_PORT",))
    try:
        code = second.wait(REFUSAL_TIMEOUT)
        output = second.output
        assert code != 0, output
        assert "Traceback" not in output, output
        messages = [line for line in output.splitlines() if line.startswith("mno run:")]
        assert len(messages) == 1, output
        assert f"port {port}" in messages[0]
        assert "MNO_HTTP_PORT" in messages[0]
        print(f"refused: {messages[0]}")
        second.assert_nothing_left()
    finally:
        second.stop()

    first_run.assert_running()
    assert_mesh_complete(first_run.setup, first_run.admin_token)


def mno_next_to(
    setup: RunSetup, *args: str, with_variables: bool = False
) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/mno ARGS` in the repository, as a user types it beside `make run`: none of the
    port or address variables `make run` was given, only the data directory (`.mno` by default)
    and, `with_variables`, the further ones the user exported (e.g. GitHub's)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MNO_")}
    env["MNO_DATA_DIR"] = str(setup.data_dir)
    if with_variables:
        env.update(setup.variables)
    mno = Path(sys.executable).parent / "mno"
    return subprocess.run(
        [str(mno), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_banner_says_how_to_run_mno_and_where_postgres_listens(first_run: MakeRun) -> None:
    """The banner names the `mno` executable (not on PATH) and PostgreSQL's address; the record is 0600."""
    setup = first_run.setup
    output = first_run.output
    postgres = f"postgresql://mno@127.0.0.1:{setup.ports['MNO_POSTGRES_PORT']}/mno"
    assert re.search(rf"^\s*PostgreSQL\s+{re.escape(postgres)}\s*$", output, re.MULTILINE), output
    assert re.search(r"^\s*mno command\s+\.venv/bin/mno status", output, re.MULTILINE), output
    record_file = setup.data_dir / "stack.json"
    assert stat.S_IMODE(record_file.stat().st_mode) == 0o600
    record = json.loads(record_file.read_text())
    assert record["postgres_dsn"] == postgres
    # The bus takes a token made for this run; the URL carries it (the banner and `mno` find it there).
    nats_port = setup.ports["MNO_NATS_PORT"]
    assert re.fullmatch(rf"nats://[0-9a-f]{{32}}@127\.0\.0\.1:{nats_port}", record["nats_url"]), record
    assert record["edge_url"] == setup.edge


def test_mno_commands_next_to_make_run_reach_its_stack(first_run: MakeRun) -> None:
    """`mno status`, `migrate`, `audit verify`, `config check` beside `make run`, no address set, reach it."""
    setup = first_run.setup
    status = mno_next_to(setup, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert all(row["instances"] >= 1 for row in report["agents"]), report

    migrate = mno_next_to(setup, "migrate")
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "super_agent: up to date" in migrate.stdout, migrate.stdout

    verify = mno_next_to(setup, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    check = mno_next_to(setup, "config", "check", "config/machine-native-ops.yaml")
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"nats://***@127.0.0.1:{setup.ports['MNO_NATS_PORT']}" in check.stdout, check.stdout
    assert f"@127.0.0.1:{setup.ports['MNO_POSTGRES_PORT']}/" in check.stdout, check.stdout


def test_mno_operator_next_to_make_run_uses_the_local_operator_token(first_run: MakeRun) -> None:
    """`mno operator` beside `make run` reads the ledger with the operator token `make run` made (0600)."""
    setup = first_run.setup
    token_file = setup.data_dir / "operator-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    deliveries = mno_next_to(setup, "operator", "deliveries")
    assert deliveries.returncode == 0, deliveries.stdout + deliveries.stderr
    status, body = http("GET", f"{setup.edge}/api/v1/operator/installations", token_file.read_text().strip())
    assert status == 200, body
    status, body = http("GET", f"{setup.edge}/api/v1/operator/installations", first_run.admin_token)
    assert status == 403, body


def test_ctrl_c_stops_make_run_leaving_nothing_behind(first_run: MakeRun) -> None:
    """Ctrl-C stops `make run` cleanly (`mno run` exits 0, prints "stopped.") leaving no process or port."""
    assert_whole_mesh_running(first_run)
    ctrl_c_and_check_clean_stop(first_run)


@pytest.mark.long
def test_make_run_again_on_the_same_data_dir_keeps_token_and_data(scratch: Path) -> None:
    """`make run` again on the same data dir starts, prints the same token and has the first run's data."""
    setup = RunSetup.fresh(scratch / "data")

    first = MakeRun(setup)
    try:
        first.wait_for_banner()
        token = first.admin_token
        status, body = http("POST", f"{setup.edge}/api/v1/mesh/canaries", token, {"canary_id": "persist-1"})
        assert status == 202, body
        assert body["duplicate"] is False
        report = canary_report(setup, token, "persist-1")
        assert len(report["statuses"]) == len(ALL_AGENTS), report
        assert all(s["processed"] for s in report["statuses"]), report
        assert_whole_mesh_running(first)
        ctrl_c_and_check_clean_stop(first)
    finally:
        first.stop()

    # The same ports again: nothing of the first run may still hold them.
    second = MakeRun(setup)
    try:
        second.wait_for_banner()
        print(f"second make run: banner after {time.monotonic() - second.started:.1f}s")
        assert "Traceback" not in second.output
        assert "applied migrations" not in second.output, "the schemas should have been kept"
        assert second.admin_token == token
        assert_mesh_complete(setup, token)
        report = canary_report(setup, token, "persist-1", timeout=5.0)
        assert report["unreachable"] == [], report
        assert {s["agent"] for s in report["statuses"]} == {agent.value for agent in ALL_AGENTS}
        assert all(s["processed"] for s in report["statuses"]), report
        # Acknowledged in the first run: not delivered again after the restart.
        assert all(s["deliveries"] == 1 for s in report["statuses"]), report
        assert_whole_mesh_running(second)
        ctrl_c_and_check_clean_stop(second)
    finally:
        second.stop()


@pytest.mark.long
def test_ctrl_c_while_make_run_is_starting_stops_it_cleanly(scratch: Path) -> None:
    """Ctrl-C while the servers are being set up (initdb, psql) stops `make run` cleanly, leaving nothing."""
    run = MakeRun(RunSetup.fresh(scratch / "data"))
    try:
        run.wait_for_line("starting nats-server and PostgreSQL", BANNER_TIMEOUT)
        # initdb of the new cluster runs for about a second once nats-server is up.
        time.sleep(0.3)
        ctrl_c_and_check_clean_stop(run)
        assert BANNER not in run.output
    finally:
        run.stop()


@pytest.mark.long
def test_make_run_with_github_enabled_makes_the_local_key_and_serves_sign_in(scratch: Path) -> None:
    """`MNO_GITHUB_ENABLED=true make run` with an App's variables and no key starts, makes one, signs in."""
    web_url = f"http://127.0.0.1:{free_port()}"
    github = {
        "MNO_GITHUB_ENABLED": "true",
        "GITHUB_APP_ID": "12345",
        "GITHUB_CLIENT_ID": "Iv1.localtest",
        "GITHUB_CLIENT_SECRET": "client-secret",
        "GITHUB_PRIVATE_KEY": generate_private_key_pem(),
        "GITHUB_WEBHOOK_SECRET": "webhook-secret",
        # Nothing answers there: the stack must start without GitHub being reachable.
        "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}",
        "GITHUB_WEB_URL": web_url,
    }
    setup = RunSetup.fresh(scratch / "data", github)
    run = MakeRun(setup)
    try:
        run.wait_for_banner()
        assert "Traceback" not in run.output
        key_file = setup.data_dir / "encryption-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert_mesh_complete(setup, run.admin_token)
        # Sign-in exists only with GitHub configured and a key to seal its tokens.
        connection = HTTPConnection("127.0.0.1", setup.http_port, timeout=15)
        try:
            connection.request("GET", "/auth/github/login")
            response = connection.getresponse()
            location = response.getheader("Location") or ""
            response.read()
        finally:
            connection.close()
        assert response.status in (302, 303, 307), (response.status, location)
        assert location.startswith(f"{web_url}/login/oauth/authorize"), location

        # The other commands run beside it find the same key (and the stack).
        for command in (["status"], ["config", "check", "config/machine-native-ops.yaml"]):
            result = mno_next_to(setup, *command, with_variables=True)
            assert result.returncode == 0, result.stdout + result.stderr
        ctrl_c_and_check_clean_stop(run)
    finally:
        run.stop()
