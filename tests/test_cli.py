"""The `mno` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.mesh import REPO, Mesh

MNO = [sys.executable, "-m", "mno.cli"]


def mno(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    return subprocess.run(
        [*MNO, *args], cwd=REPO, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=60
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
