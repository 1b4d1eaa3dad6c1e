"""Other registries started from their own releases, for the tests (as upstreams) and the benchmark
(as peers): pypiserver installed with pip into build/bench-venvs/pypiserver and Verdaccio with npm
into build/bench-npm on first use, outside the project's lock (each is a peer to compare with and
stand behind, not a dependency). Verdaccio 6.8.0: 6.10 needs Node 22; 6.8.0 runs on Node 20 with
node-fetch pinned to 2.7.0 by an `overrides` entry. It runs offline (no uplinks)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fixtures.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
PEER_VENV = ROOT / "build" / "bench-venvs" / "pypiserver"
PEER_NPM = ROOT / "build" / "bench-npm"
VERDACCIO = "6.8.0"


def ensure_pypiserver() -> Path:
    server = PEER_VENV / "bin" / "pypi-server"
    if not server.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", "pypiserver", "passlib"], check=True)
    return server


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def pypiserver(packages: Path, *, fallback: bool = True) -> Iterator[str]:
    """A pypiserver serving the files in `packages`; without `fallback`, an unknown name is a 404
    rather than a redirect to pypi.org."""
    port = free_port()
    # -a . -P .: no authentication, for downloads and uploads alike (the simplest setup).
    command = [str(ensure_pypiserver()), "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", "."]
    if not fallback:
        command.append("--disable-fallback")
    process = subprocess.Popen(
        [*command, str(packages)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/simple/")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def ensure_verdaccio() -> Path:
    binary = PEER_NPM / "node_modules" / "verdaccio" / "bin" / "verdaccio"
    if not binary.exists():
        PEER_NPM.mkdir(parents=True, exist_ok=True)
        (PEER_NPM / "package.json").write_text(
            json.dumps(
                {
                    "name": "bench-npm-peers",
                    "private": True,
                    "dependencies": {"verdaccio": VERDACCIO},
                    "overrides": {"node-fetch": "2.7.0"},
                }
            )
        )
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=PEER_NPM, check=True)
    return binary


@contextmanager
def verdaccio(workdir: Path) -> Iterator[str]:
    """A Verdaccio with no uplinks storing under `workdir/storage`; anyone may read and publish."""
    port = free_port()
    (workdir / "config.yaml").write_text(
        f"""
storage: {workdir / "storage"}
auth:
  htpasswd:
    file: {workdir / "htpasswd"}
    max_users: -1
uplinks: {{}}
packages:
  '**':
    access: $all
    publish: $all
    unpublish: $all
max_body_size: 100mb
log: {{type: stdout, format: pretty, level: error}}
"""
    )
    process = subprocess.Popen(
        ["node", str(ensure_verdaccio()), "-c", str(workdir / "config.yaml"), "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/-/ping")
        yield url
    finally:
        process.terminate()
        process.wait(10)
