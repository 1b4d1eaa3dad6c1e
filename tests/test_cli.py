"""The `mno` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from tests.fixtures.mesh import REPO, Mesh
from tests.fixtures.stack import free_port

MNO = [sys.executable, "-m", "mno.cli"]


def mno(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    return subprocess.run(
        [*MNO, *args], cwd=REPO, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["agent"],
        ["status"],
        ["migrate"],
        ["config"],
        ["config", "check"],
        ["audit"],
        ["audit", "verify"],
        ["supply-chain"],
        ["supply-chain", "policy"],
        ["supply-chain", "blocked"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    """`--help` works on every command and sub-command."""
    result = mno(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_config_check_accepts_the_shipped_file() -> None:
    """`mno config check` loads the shipped configuration with no environment set."""
    result = mno("config", "check", "config/machine-native-ops.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_config_check_names_the_bad_key(tmp_path: Path) -> None:
    """`mno config check` on a misspelled key exits 2 and names it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  prot: 80\n")
    result = mno("config", "check", str(bad))
    assert result.returncode == 2
    assert "http.prot" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_reports_every_agent_through_the_mesh(mesh: Mesh, tmp_path: Path) -> None:
    """`mno status --json` lists all five agents up, with request counts from $SRV.STATS."""
    config = tmp_path / "status.yaml"
    config.write_text(yaml.safe_dump({"nats": {"servers": [mesh.launcher.nats_url]}}))
    result = mno("status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["agents"]) == 5
    assert all(row["instances"] >= 1 for row in report["agents"])


def test_status_exits_non_zero_when_agents_are_missing(isolated_nats, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`mno status` on a NATS with no agents shows them down and exits 1."""
    config = tmp_path / "status.yaml"
    config.write_text(yaml.safe_dump({"nats": {"servers": [isolated_nats.url]}}))
    result = mno("status", "--config", str(config))
    assert result.returncode == 1
    assert "down" in result.stdout


def test_migrate_applies_every_schema_then_is_up_to_date(postgres_dsn: str, tmp_path: Path) -> None:
    """`mno migrate` brings every agent schema up to date; a second run has nothing to do."""
    config = tmp_path / "migrate.yaml"
    config.write_text(yaml.safe_dump({"postgres": {"dsn": postgres_dsn}}))
    first = mno("migrate", "--config", str(config))
    assert first.returncode == 0, first.stderr
    second = mno("migrate", "--config", str(config))
    assert second.returncode == 0, second.stderr
    for schema in ("super_agent", "monitoring", "artifact_manager", "supply_chain", "learning"):
        assert f"{schema}: up to date" in second.stdout


def test_permission_matrix_document_is_generated_from_the_table() -> None:
    """docs/PERMISSIONS.md equals what `mno docs permissions` prints from the permission table."""
    result = mno("docs", "permissions")
    assert result.returncode == 0, result.stderr
    assert (REPO / "docs" / "PERMISSIONS.md").read_text() == result.stdout


# Every command that talks to a server: its words (`{edge}` becomes a URL nobody answers on), the
# exit code when that server does not answer, and the server named in the one line it prints.
EDGE_ARGS = ["--url", "{edge}", "--token", "operator-token"]
SERVER_COMMANDS: list[tuple[list[str], int, str]] = [
    (["status"], 3, "NATS"),
    (["status", "--json"], 3, "NATS"),
    (["migrate"], 3, "PostgreSQL"),
    (["audit", "verify"], 2, "PostgreSQL"),
    (["config", "check", "{config}", "--plans-seen"], 3, "PostgreSQL"),
    (["operator", "deliveries", *EDGE_ARGS], 3, "the edge"),
    (["operator", "delivery", "1", *EDGE_ARGS], 3, "the edge"),
    (["operator", "reprocess", "1", *EDGE_ARGS], 3, "the edge"),
    (["operator", "subscriptions", *EDGE_ARGS], 3, "the edge"),
    (["operator", "subscription", "1", *EDGE_ARGS], 3, "the edge"),
    (["operator", "installations", *EDGE_ARGS], 3, "the edge"),
    (["demo", "remove", "--url", "{edge}"], 3, "the edge"),
    (["advisories", "import", "{config}", *EDGE_ARGS], 3, "the edge"),
    (["scan", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["verify", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["supply-chain", "policy", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["supply-chain", "blocked", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["prompts", "push", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["prompts", "pull", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["prompts", "status", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["prompts", "diff", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
    (["prompts", "lock", "{config}", "--url", "{edge}", "--api-key", "mno_k_s"], 3, "the edge"),
]
# Commands that reach no server of an existing stack: `run` starts its own, `agent` is a
# long-running process that waits for its servers (as a pod must), the rest read files only.
NO_SERVER_COMMANDS = {"run", "agent", "config check", "docs permissions"}


def leaf_commands(group: Any, prefix: tuple[str, ...] = ()) -> set[str]:
    """The full names of the commands under a (Typer's) click group."""
    names = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names |= leaf_commands(command, (*prefix, name))
        else:
            names.add(" ".join((*prefix, name)))
    return names


def command_name(words: list[str]) -> str:
    """The command's words before its first argument or option."""
    named = []
    for word in words:
        if word.startswith("-") or word.isdigit() or word.startswith("{"):
            break
        named.append(word)
    return " ".join(named)


def test_every_command_is_classed_for_unreachable_servers() -> None:
    """Each `mno` command either has an unreachable-server case below or is known to reach no server."""
    from mno.cli import app

    root = typer.main.get_command(app)
    covered = {command_name(words) for words, _, _ in SERVER_COMMANDS} | NO_SERVER_COMMANDS
    assert leaf_commands(root) - covered == set(), "add the new command to SERVER_COMMANDS"


@pytest.mark.parametrize(
    ("command", "code", "server"), SERVER_COMMANDS, ids=[" ".join(c[:2]) for c, _, _ in SERVER_COMMANDS]
)
def test_commands_fail_fast_with_one_line_when_servers_are_unreachable(
    command: list[str], code: int, server: str, tmp_path: Path
) -> None:
    """A command whose server does not answer exits non-zero in seconds with one line naming it."""
    config = tmp_path / "dead.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "nats": {"servers": [f"nats://127.0.0.1:{free_port()}"]},
                "postgres": {"dsn": f"postgresql://mno:secret-pw@127.0.0.1:{free_port()}/mno"},
            }
        )
    )
    words = [w.format(edge=f"http://127.0.0.1:{free_port()}", config=config) for w in command]
    if "{config}" not in command:
        words += ["--config", str(config)]
    started = time.monotonic()
    try:
        result = mno(*words, timeout=30)
    except subprocess.TimeoutExpired as error:
        stderr = (error.stderr or b"")[-400:]
        raise AssertionError(f"`mno {' '.join(command)}` still running after 30 s: {stderr!r}") from None
    elapsed = time.monotonic() - started
    assert result.returncode == code, (result.stdout, result.stderr)
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mno "), lines[0]
    assert f"cannot reach {server} at " in lines[0], lines[0]
    assert "secret-pw" not in lines[0], "a DSN's password must never be shown"
