"""The client configuration the dashboard's setup page gives (services/dashboard/packages.py
client_config) and the README's key-only index URL, run as written by the real clients against the
session's mesh: twine's one line uploads, npm's one line configures npm so that `npm install` of a
team package works, and pip takes the key as the URL's user name with no password."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from services.dashboard.packages import KEY_PLACEHOLDER, client_config
from tests.fixtures.mesh import Mesh
from tests.registry.npmpackages import NPM, package_tarball, publish_document, put_document
from tests.registry.pypackages import (
    build_project,
    clean_env,
    fresh_venv,
    installed_version,
    minimal_wheel,
    pip_install,
    upload_bytes,
)
from tests.registry.test_python_registry import _file_rows, _team

# The project's environment first on PATH: `twine` there is the one its lock installs.
VENV_BIN = str(Path(sys.executable).parent)


def _with_key(line: str, key: str) -> str:
    assert line.count(KEY_PLACEHOLDER) == 1, line
    return line.replace(KEY_PLACEHOLDER, shlex.quote(key))


def _shell(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`line` as a user pastes it into a shell."""
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


async def test_the_setup_pages_twine_line_uploads_with_real_twine(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """The setup page's twine line, the key put where <API_KEY> stands and run in a shell from a
    project folder, uploads its dist/* (a wheel and an sdist) to the team's registry."""
    team = await _team(pool)
    files = build_project(tmp_path, "Line-Lib", "1.0")
    assert [p.parent.name for p in files] == ["dist", "dist"]
    line = client_config(mesh.edge_url, team.team_id).twine_line
    env = clean_env(PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    result = _shell(_with_key(line, team.key), tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(await _file_rows(pool, team.team_id)) == sorted(p.name for p in files)


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
async def test_the_setup_pages_npm_line_configures_npm_to_install_from_the_team(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """The setup page's npm line, the key put where <API_KEY> stands and run in a shell, writes the
    registry and its token into ~/.npmrc: a plain `npm install` of a team package then works."""
    team = await _team(pool)
    content = package_tarball("acme-one-line", "1.2.0")
    document = publish_document("acme-one-line", "1.2.0", content)
    status, body = await put_document(mesh.edge_url, team.team_id, team.key, "acme-one-line", document)
    assert status == 201, body
    home = tmp_path / "home"
    home.mkdir()
    # Nothing of this machine's npm configuration: only what the line writes into ~/.npmrc.
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(HOME=str(home), npm_config_cache=str(tmp_path / "npm-cache"))
    line = client_config(mesh.edge_url, team.team_id).npm_line
    configured = _shell(_with_key(line, team.read_key), tmp_path, env)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    registry = f"{mesh.edge_url}/registry/{team.team_id}/npm/"
    assert (home / ".npmrc").read_text().splitlines() == [
        f"registry={registry}",
        f"//{urlsplit(registry).netloc}{urlsplit(registry).path}:_authToken={team.read_key}",
    ]
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    installed = _shell("npm install --no-audit --no-fund acme-one-line", app, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    manifest = json.loads((app / "node_modules" / "acme-one-line" / "package.json").read_text())
    assert manifest["version"] == "1.2.0"
    lock = json.loads((app / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/acme-one-line"]["resolved"].startswith(registry)


async def test_pip_installs_with_the_key_as_the_urls_user_name_and_no_password(
    mesh: Mesh, pool: Any, tmp_path: Path
) -> None:
    """Real pip with `--index-url http://<key>@host/registry/<team>/pypi/simple/` (the key as the user
    name, no password) installs a team package; another team's key in its place does not."""
    team, other = await _team(pool), await _team(pool)
    filename, content = minimal_wheel("key-user-lib", "1.0")
    status, text = await upload_bytes(
        mesh.edge_url, team.team_id, team.key, "key-user-lib", "1.0", filename, content
    )
    assert status == 200, text
    netloc = urlsplit(mesh.edge_url).netloc

    def index(key: str) -> str:
        return f"http://{key}@{netloc}/registry/{team.team_id}/pypi/simple/"

    python = fresh_venv(tmp_path / "venv")
    refused = pip_install(python, index(other.read_key), "--no-input", "key-user-lib")
    assert refused.returncode != 0, refused.stdout
    installed = pip_install(python, index(team.read_key), "--no-input", "key-user-lib")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert installed_version(python, "key_user_lib") == "1.0"
