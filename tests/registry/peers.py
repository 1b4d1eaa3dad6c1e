"""Other registries started from their own releases, for the tests (as upstreams) and the benchmark
(as peers): pypiserver installed with pip into build/bench-venvs/pypiserver on first use, outside the
project's lock (it is a peer to compare with and stand behind, not a dependency)."""

from __future__ import annotations

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
