"""Packaging with the real tools, then publishing and installing with the real clients, against the
session's mesh (every agent a real process, real NATS and PostgreSQL, blobs on the filesystem):
`npm pack` makes a .tgz that `npm publish <tgz>` sends as it is and `npm install` unpacks byte for
byte; `python -m build --sdist` makes an sdist alone that twine uploads and pip, in a fresh venv,
has to build itself, its build requirement (setuptools) served by the same team index.

The build requirement comes from the team's own index, not from a public upstream or this machine's
site-packages: the session mesh has no upstream and tests run offline but for the registries they
start, so the locked setuptools installed in this venv is packed back into its wheel and uploaded
next to the sdist. pip then builds the way a user's pip does (build isolation, its requirements
resolved from `--index-url`), and the fresh venv gets nothing but what the index served."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import importlib.metadata
import io
import json
import os
import posixpath
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import pytest

from services.identity import apikeys
from shared.messages.permissions import Permission
from tests.fixtures.mesh import Mesh
from tests.fixtures.teams import org_team_key
from tests.registry.npmpackages import NPM, npm, registry_url, write_npmrc
from tests.registry.pypackages import clean_env, fresh_venv, index_url, twine_upload

SDIST_NAME = "acme-from-source"
SDIST_VERSION = "2.3.1"


@dataclass(frozen=True)
class Team:
    team_id: str
    key: str  # may read and publish
    read_key: str  # a CI key: artifacts:read only


async def _team(pool: Any) -> Team:
    """A new team (an organisation's default team) with a publishing and a read-only key."""
    async with pool.acquire() as conn:
        key = await org_team_key(conn, [Permission.ARTIFACTS_READ, Permission.ARTIFACTS_PUBLISH])
        team_id = await conn.fetchval(
            "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", key.split("_")[1]
        )
        _, read_key = await apikeys.create(
            conn, team_id=team_id, name="ci", permissions=[Permission.ARTIFACTS_READ], created_by=None
        )
    return Team(str(team_id), key, str(read_key))


async def _files(pool: Any, team_id: str) -> dict[str, int]:
    """The team's stored files and how often each was downloaded."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT filename, downloads FROM artifact_manager.files WHERE team_id = $1::uuid", team_id
        )
    return {r["filename"]: r["downloads"] for r in rows}


# npm pack, npm publish <tgz>, npm install


def _sri(content: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()


def _npm_project(root: Path, name: str) -> Path:
    """A package with a README, a module in a subfolder, a binary file, a `bin` script and a file
    its `files` list leaves out of the pack."""
    folder = root / f"src-{uuid.uuid4().hex[:6]}"
    (folder / "lib" / "util").mkdir(parents=True)
    (folder / "bin").mkdir()
    (folder / "notes").mkdir()
    manifest = {
        "name": name,
        "version": "1.0.0",
        "description": "packed by npm pack",
        "main": "lib/index.js",
        "bin": {"packed-hello": "bin/hello.js"},
        "files": ["lib", "bin"],
        "license": "MIT",
        "keywords": ["registry", "pack"],
    }
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / "README.md").write_text(f"# {name}\n\nPacked with `npm pack`, published as a file.\n")
    (folder / "lib" / "index.js").write_text("module.exports = require('./util/greet');\n")
    (folder / "lib" / "util" / "greet.js").write_text(f"module.exports = () => 'hello from {name}';\n")
    (folder / "lib" / "data.bin").write_bytes(os.urandom(2048))
    (folder / "bin" / "hello.js").write_text("#!/usr/bin/env node\nconsole.log(require('../lib')());\n")
    (folder / "notes" / "private.txt").write_text("not shipped\n")
    return folder


def _members(tgz: bytes) -> dict[str, bytes]:
    """The .tgz's files by their path inside the package (`package/` taken off)."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                members[member.name.removeprefix("package/")] = extracted.read()
    return members


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.parametrize("name", ["acme-packed", "@acme/packed"])
async def test_npm_pack_then_publish_of_the_tgz_installs_its_very_bytes(
    mesh: Mesh, pool: Any, tmp_path: Path, name: str
) -> None:
    """`npm publish <tgz>` of what `npm pack` made: the registry serves those bytes with npm pack's
    integrity, shasum and counts, npm view shows them, npm install unpacks the packed files byte for
    byte (the bin runs), and publishing the same tgz again is refused with a 409, the first kept."""
    team = await _team(pool)
    publisher = write_npmrc(_mkdir(tmp_path / "rc-publisher"), mesh.edge_url, team.team_id, team.key)
    reader = write_npmrc(_mkdir(tmp_path / "rc-ci"), mesh.edge_url, team.team_id, team.read_key)
    source = _npm_project(tmp_path, name)
    out = _mkdir(tmp_path / "packed")
    packed = npm(["pack", "--json", "--pack-destination", str(out)], source, publisher)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    (info,) = json.loads(packed.stdout)
    tgz = out / info["filename"]
    content = tgz.read_bytes()
    assert info["integrity"] == _sri(content)
    assert info["shasum"] == hashlib.sha1(content).hexdigest()
    members = _members(content)
    shipped = {
        "package.json",
        "README.md",
        "lib/index.js",
        "lib/util/greet.js",
        "lib/data.bin",
        "bin/hello.js",
    }
    assert set(members) == {f["path"] for f in info["files"]} == shipped
    assert all(members[path] == (source / path).read_bytes() for path in shipped)

    published = npm(["publish", str(tgz)], tmp_path, publisher)
    assert published.returncode == 0, published.stdout + published.stderr
    assert f"+ {name}@1.0.0" in published.stdout

    view = npm(["view", name, "--json"], tmp_path, reader)
    assert view.returncode == 0, view.stdout + view.stderr
    shown = json.loads(view.stdout)
    tarball_url = registry_url(mesh.edge_url, team.team_id) + f"{name}/-/{name.split('/')[-1]}-1.0.0.tgz"
    assert shown["version"] == "1.0.0"
    assert shown["dist-tags"] == {"latest": "1.0.0"}
    assert shown["bin"] == {"packed-hello": "bin/hello.js"}
    assert shown["dist"]["integrity"] == info["integrity"]
    assert shown["dist"]["shasum"] == info["shasum"]
    # npm prints URLs with what looks like a secret (the team's UUID) masked: the URL is checked below.
    assert shown["dist"]["tarball"].endswith(tarball_url.split("/npm/", 1)[1])
    assert shown["dist"]["fileCount"] == info["entryCount"]
    assert shown["dist"]["unpackedSize"] == info["unpackedSize"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        async with http.get(registry_url(mesh.edge_url, team.team_id) + name.replace("/", "%2f")) as response:
            packument = await response.json()
        async with http.get(tarball_url) as response:
            assert response.status == 200
            assert await response.read() == content
    assert packument["versions"]["1.0.0"]["dist"]["tarball"] == tarball_url
    assert packument["readme"] == (source / "README.md").read_text()

    app = _mkdir(tmp_path / "app")
    (app / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    installed = npm(["install", f"{name}@1.0.0"], app, reader)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert _tree(app / "node_modules" / name) == members
    lock = json.loads((app / "package-lock.json").read_text())["packages"][f"node_modules/{name}"]
    assert lock["resolved"] == tarball_url
    assert lock["integrity"] == info["integrity"]
    ran = _run(app / "node_modules" / ".bin" / "packed-hello")
    assert ran.stdout.strip() == f"hello from {name}", ran.stderr

    # npm reads the packument first and refuses itself; with --force it sends the PUT: a 409.
    again = npm(["publish", str(tgz)], tmp_path, publisher)
    assert again.returncode != 0
    assert "You cannot publish over the previously published versions: 1.0.0." in again.stderr
    forced = npm(["publish", "--force", str(tgz)], tmp_path, publisher)
    assert forced.returncode != 0
    assert "409" in forced.stderr
    assert "version_exists: You cannot publish over the previously published versions" in forced.stderr
    assert set(await _files(pool, team.team_id)) == {f"{name}-1.0.0.tgz"}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {team.read_key}"}) as http:
        async with http.get(tarball_url) as response:
            assert await response.read() == content


def _run(program: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(program)], capture_output=True, text=True, timeout=30)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# python -m build --sdist, twine upload, pip install (building the sdist)


def _installed_wheel(distribution: str, outdir: Path) -> Path:
    """The wheel an installed distribution came from, made again from its RECORD (what pip added
    on install, its INSTALLER, REQUESTED, direct_url.json and byte code, left out)."""
    dist = importlib.metadata.distribution(distribution)
    wheel_info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_info.splitlines() if line.startswith("Tag:")]
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    target = outdir / f"{stem}-{tags[0]}.whl"
    info_dir = f"{stem}.dist-info"
    left_out = {f"{info_dir}/{n}" for n in ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")}
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path in dist.files or []:
            member = path.as_posix()
            if member in left_out or member.startswith("..") or "__pycache__" in path.parts:
                continue
            content = Path(str(dist.locate_file(path))).read_bytes()
            wheel.writestr(member, content)
            digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
            writer.writerow([member, f"sha256={digest}", len(content)])
        writer.writerow([f"{info_dir}/RECORD", "", ""])
        wheel.writestr(f"{info_dir}/RECORD", record.getvalue())
    return target


@pytest.fixture(scope="module")
def sdist_and_backend(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An sdist alone, built by `python -m build --sdist`, and the setuptools wheel its build needs."""
    work = tmp_path_factory.mktemp("sdist")
    module = SDIST_NAME.replace("-", "_")
    project = work / "project"
    (project / "src" / module / "data").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f"""
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{SDIST_NAME}"
version = "{SDIST_VERSION}"
description = "Published as an sdist only"
requires-python = ">=3.9"
license = "MIT"
readme = "README.md"

[tool.setuptools.package-data]
{module} = ["data/*.txt"]
"""
    )
    (project / "README.md").write_text(f"# {SDIST_NAME}\n\nBuilt from source by pip.\n")
    (project / "src" / module / "__init__.py").write_text(
        "from importlib.resources import files\n\n"
        f'VERSION = "{SDIST_VERSION}"\n'
        "GREETING = files(__name__).joinpath('data/greeting.txt').read_text().strip()\n"
    )
    (project / "src" / module / "data" / "greeting.txt").write_text("built from the sdist\n")
    out = work / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (sdist,) = out.iterdir()
    assert sdist.name == f"{module}-{SDIST_VERSION}.tar.gz"
    return sdist, _installed_wheel("setuptools", work)


def _normalised(url: str) -> str:
    """The URL with its `..` segments resolved (pip's report keeps the page's relative link as joined)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=posixpath.normpath(parts.path)))


def _pip_install_sdist(python: Path, index: str, report: Path) -> subprocess.CompletedProcess[str]:
    """This venv's pip installs into `python`'s venv from `index` alone, building the sdist (build
    isolation: its build requirements come from the same index); `report` gets pip's JSON report."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--index-url",
            index,
            "--no-binary",
            SDIST_NAME,
            "--report",
            str(report),
            SDIST_NAME,
        ],
        capture_output=True,
        text=True,
        # No cache: every file comes from the index (pip's build environment inherits this too).
        env=clean_env(PIP_NO_CACHE_DIR="1"),
        timeout=180,
    )


def _probe(python: Path, module: str) -> subprocess.CompletedProcess[str]:
    """In `python`: the module's VERSION, the installed distribution's version, the data file's
    text; then the installed wheel's WHEEL file."""
    return subprocess.run(
        [
            str(python),
            "-c",
            f"import importlib.metadata as m, {module} as p; "
            f"print(p.VERSION, m.version('{SDIST_NAME}'), p.GREETING, sep='|'); "
            f"print(m.distribution('{SDIST_NAME}').read_text('WHEEL'))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


async def _downloads(pool: Any, team_id: str, filenames: set[str], timeout: float = 10) -> dict[str, int]:
    """The files' download counts once each was counted (the edge counts in batches, about a second)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = await _files(pool, team_id)
        if all(counts.get(f, 0) > 0 for f in filenames) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def test_pip_builds_and_installs_an_sdist_served_by_the_team_index(
    mesh: Mesh, pool: Any, sdist_and_backend: tuple[Path, Path], tmp_path: Path
) -> None:
    """An sdist alone, uploaded with twine, is what the index lists; pip in a fresh venv downloads it
    from the index, builds it with the setuptools the same index serves, and the package imports."""
    sdist, backend = sdist_and_backend
    team = await _team(pool)
    uploaded = twine_upload(mesh.edge_url, team.team_id, team.key, [sdist, backend])
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    base = f"{mesh.edge_url}/registry/{team.team_id}/pypi/simple"
    basic = "Basic " + base64.b64encode(f"__token__:{team.read_key}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": basic}) as http:
        async with http.get(
            f"{base}/{SDIST_NAME}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        ) as response:
            assert response.status == 200
            page = await response.json(content_type=None)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert [(f["filename"], f["hashes"]) for f in page["files"]] == [(sdist.name, {"sha256": digest})]

    python = fresh_venv(tmp_path / "venv")
    report = tmp_path / "report.json"
    installed = _pip_install_sdist(python, index_url(mesh.edge_url, team.team_id, team.read_key), report)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (item,) = json.loads(report.read_text())["install"]
    assert item["metadata"]["name"] == SDIST_NAME
    assert item["metadata"]["version"] == SDIST_VERSION
    assert _normalised(item["download_info"]["url"]) == urljoin(
        f"{base}/{SDIST_NAME}/", page["files"][0]["url"]
    )
    assert item["download_info"]["archive_info"]["hashes"] == {"sha256": digest}

    module = SDIST_NAME.replace("-", "_")
    probe = _probe(python, module)
    assert probe.returncode == 0, probe.stderr
    first, *wheel_info = probe.stdout.splitlines()
    assert first == f"{SDIST_VERSION}|{SDIST_VERSION}|built from the sdist"
    # Built here, by the setuptools the index served (the wheel's generator names its version).
    assert f"Generator: setuptools ({importlib.metadata.version('setuptools')})" in wheel_info
    # The index counted what it served: the sdist once (to pip), setuptools (to pip's build environment).
    counts = await _downloads(pool, team.team_id, {sdist.name, backend.name})
    assert counts[sdist.name] == 1
    assert counts[backend.name] >= 1
