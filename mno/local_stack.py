"""What `mno run` leaves in its data directory for the other `mno` commands, and settings read with it.

`mno run` starts its servers on ports of its own choosing (`MNO_NATS_PORT`, `MNO_POSTGRES_PORT`),
while every other command reads the configuration, whose addresses come from `MNO_NATS_URL` and
`MNO_POSTGRES_DSN`. So `mno run` records where it started them (`<data_dir>/stack.json`, 0600: a
DSN may carry a password) and removes the record when it stops; the other commands fill those two
variables from it when they are unset. An explicit variable always wins.

The same goes for the local encryption key: `mno run` makes one under the data directory when the
configuration names none, and it must do so before the configuration is validated (a GitHub App
needs a key), so the key reaches the configuration as `MNO_ENCRYPTION_KEY`, as a deployment's
would. Likewise the operator token (`auth.bootstrap_token`, what `mno operator` shows the
webhook ledger, subscriptions and installations with): made once as `<data_dir>/operator-token`
when the configuration names none, and passed on as `MNO_BOOTSTRAP_TOKEN`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shared.config import Settings, load_settings

STACK_RECORD_NAME = "stack.json"
ENCRYPTION_KEY_NAME = "encryption-key"
ENCRYPTION_KEY_VARIABLE = "MNO_ENCRYPTION_KEY"
OPERATOR_TOKEN_NAME = "operator-token"
OPERATOR_TOKEN_VARIABLE = "MNO_BOOTSTRAP_TOKEN"
NATS_URL_VARIABLE = "MNO_NATS_URL"
POSTGRES_DSN_VARIABLE = "MNO_POSTGRES_DSN"

# Read only to find the data directory: GitHub's settings are what may still lack the key.
_WITHOUT_GITHUB: dict[str, Any] = {"github": {"enabled": False}, "features": {"github": False}}


@dataclass(frozen=True)
class StackRecord:
    """Where a running `mno run` (process `pid`) serves what it started, and how each process it
    watches fares (`processes`: by name, its pid, state, restarts and last exit code)."""

    nats_url: str
    postgres_dsn: str
    edge_url: str
    pid: int
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)


def write_secret_file(path: Path, content: str) -> None:
    """Write `content` to a file only its owner can read (0600 from the start, never wider)."""
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content + "\n")
    os.replace(temporary, path)


def local_encryption_key(data_dir: Path) -> str:
    """The key that encrypts secrets at rest locally, made once under the data directory (0600)."""
    path = data_dir / ENCRYPTION_KEY_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        write_secret_file(path, "local:" + base64.b64encode(os.urandom(32)).decode())
    return path.read_text().strip()


def local_operator_token(data_dir: Path) -> str:
    """The local stack's operator token, made once under the data directory (0600)."""
    path = data_dir / OPERATOR_TOKEN_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        write_secret_file(path, "mnoop_" + secrets.token_urlsafe(32))
    return path.read_text().strip()


def write_stack_record(data_dir: Path, record: StackRecord) -> None:
    write_secret_file(data_dir / STACK_RECORD_NAME, json.dumps(asdict(record)))


def remove_stack_record(data_dir: Path) -> None:
    (data_dir / STACK_RECORD_NAME).unlink(missing_ok=True)


def read_stack_record(data_dir: Path) -> StackRecord | None:
    """The record of the `mno run` serving this data directory; None if none runs (or it died)."""
    try:
        record = StackRecord(**json.loads((data_dir / STACK_RECORD_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return record if _is_running(record.pid) else None


def _is_running(pid: int) -> bool:
    # A record left by a `mno run` that was killed must not send commands to ports that are gone
    # (or, worse, now someone else's).
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_local_settings(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    make_key: bool = False,
    use_stack_record: bool = True,
) -> tuple[Settings, dict[str, str]]:
    """The settings as seen next to the local stack, and the environment they were read with.

    `make_key` (`mno run`): create the local encryption key and operator token when the
    configuration names none; otherwise existing ones are used. `use_stack_record`: take NATS and
    PostgreSQL addresses from a running `mno run`'s record when their variables are unset.
    Raises ConfigError.
    """
    env = dict(os.environ if environ is None else environ)
    probe = load_settings(path, env=env, overrides=_WITHOUT_GITHUB)
    data_dir = probe.data_dir.resolve()
    if not probe.auth.encryption_keys:
        key_file = data_dir / ENCRYPTION_KEY_NAME
        if make_key or key_file.exists():
            env[ENCRYPTION_KEY_VARIABLE] = local_encryption_key(data_dir)
    if probe.auth.bootstrap_token is None:
        token_file = data_dir / OPERATOR_TOKEN_NAME
        if make_key or token_file.exists():
            env[OPERATOR_TOKEN_VARIABLE] = local_operator_token(data_dir)
    record = read_stack_record(data_dir) if use_stack_record else None
    if record is not None:
        addresses = {NATS_URL_VARIABLE: record.nats_url, POSTGRES_DSN_VARIABLE: record.postgres_dsn}
        for variable, value in addresses.items():
            if not env.get(variable):
                env[variable] = value
    return load_settings(path, env=env), env
