"""Venvs of pinned third-party packages for the compatibility suite, made with uv on first use.

A venv is reused while its stamp (the exact package list it was made from) matches; otherwise it is
made again. An install that fails fails the test with uv's error: the registries are reachable
wherever the suite runs, so a missing venv is a real failure, never a skip.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.compat.rows import Venv
from tests.fixtures.mesh import REPO

ROOT = REPO / "build" / "compat-venvs"
STAMP = ".mno-compat-packages"
# Seconds each venv took to make in this session (printed at the end of the suite).
INSTALL_SECONDS: dict[str, float] = {}


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: it is in the dev extras (pip install -e '.[dev]')")
    return found


def python_of(venv: Venv) -> Path:
    """The Python of `venv`, made (or made again, when its packages changed) with uv; one maker at a
    time (pytest-xdist workers and the two suites sharing the LiteLLM venv wait for each other)."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _made(venv)


def _made(venv: Venv) -> Path:
    path = ROOT / venv.name
    python = path / "bin" / "python"
    wanted = "\n".join(venv.packages) + "\n"
    stamp = path / STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    started = time.monotonic()
    uv = _uv()
    made = subprocess.run(
        [uv, "venv", "--clear", "--quiet", "--python", sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if made.returncode:
        pytest.fail(f"uv venv {path} failed:\n{made.stderr[-3000:]}")
    installed = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), *venv.packages],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if installed.returncode:
        pytest.fail(f"installing {' '.join(venv.packages)} failed:\n{installed.stderr[-3000:]}")
    stamp.write_text(wanted)
    INSTALL_SECONDS[venv.name] = time.monotonic() - started
    return python
