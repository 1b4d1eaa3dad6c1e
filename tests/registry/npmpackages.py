"""Real npm packages for the registry's tests and benchmark: package folders for the npm CLI, each run
with its own `.npmrc` and cache (nothing of this machine's npm configuration), and publish documents
made in memory, as libnpmpublish makes them, for requests npm would never send (tampered, malicious)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

NPM = shutil.which("npm")


def registry_url(edge_url: str, team: str) -> str:
    return f"{edge_url}/registry/{team}/npm/"


def write_npmrc(folder: Path, edge_url: str, team: str, key: str) -> Path:
    """`registry=` and the registry URL's `_authToken` (npm sends it as a Bearer token)."""
    url = registry_url(edge_url, team)
    parts = urlsplit(url)
    rc = folder / ".npmrc"
    rc.write_text(f"registry={url}\n//{parts.netloc}{parts.path}:_authToken={key}\n")
    return rc


def write_package(
    root: Path,
    name: str,
    version: str,
    *,
    dependencies: dict[str, str] | None = None,
    description: str = "a test package",
    keywords: tuple[str, ...] = ("registry", "test"),
    payload_bytes: int = 0,
) -> Path:
    folder = root / f"src-{name.replace('/', '-').lstrip('@')}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "main": "index.js",
        "license": "MIT",
        "keywords": list(keywords),
    }
    if dependencies:
        manifest["dependencies"] = dependencies
    (folder / "package.json").write_text(json.dumps(manifest, indent=2))
    (folder / "index.js").write_text(f"module.exports = {json.dumps(version)};\n")
    (folder / "README.md").write_text(f"# {name}\n\n{description}\n")
    if payload_bytes:
        (folder / "payload.bin").write_bytes(os.urandom(payload_bytes))
    return folder


def npm(
    args: list[str], cwd: Path, userconfig: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    return subprocess.run(
        [
            NPM,
            *args,
            "--userconfig",
            str(userconfig),
            "--cache",
            str(userconfig.parent / ".npm-cache"),
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def tarball(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A gzipped tar as npm packs one (`package/...`), optionally with symbolic links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for member, target in (symlinks or {}).items():
            info = tarfile.TarInfo(member)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def package_tarball(name: str, version: str, **extra: bytes) -> bytes:
    manifest = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    return tarball({"package/package.json": manifest, "package/index.js": b"module.exports = 1;\n", **extra})


def publish_document(name: str, version: str, content: bytes, **manifest: Any) -> dict[str, Any]:
    """`npm publish`'s PUT body for `content`, digests computed as libnpmpublish computes them."""
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(content).digest()).decode()
    version_doc = {
        "name": name,
        "version": version,
        "_id": f"{name}@{version}",
        **manifest,
        "dist": {
            "integrity": integrity,
            "shasum": hashlib.sha1(content).hexdigest(),
            "tarball": f"http://registry.invalid/{name}/-/{name.split('/')[-1]}-{version}.tgz",
        },
    }
    return {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {version: version_doc},
        "access": None,
        "_attachments": {
            f"{name}-{version}.tgz": {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(content).decode(),
                "length": len(content),
            }
        },
    }


async def put_document(
    edge_url: str, team: str, key: str, name: str, document: dict[str, Any]
) -> tuple[int, Any]:
    """PUT a publish document as npm does (the scoped name's slash encoded)."""
    import aiohttp

    url = registry_url(edge_url, team) + name.replace("/", "%2f")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.put(url, json=document) as response:
            return response.status, await response.json(content_type=None)
