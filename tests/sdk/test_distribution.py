"""The SDK as its own distribution: mno-sdk and mno-wire built as wheels, installed from the package
index into a fresh venv that holds nothing of the server, and used there against the real edge."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.fixtures.edge import project_totals
from tests.fixtures.mesh import REPO, Mesh

WORK = REPO / "build" / "sdk-distribution"
DISTRIBUTIONS = {"mno-wire": REPO / "sdk" / "mno-wire", "mno-sdk": REPO / "sdk" / "mno-sdk"}
SCRIPT = Path(__file__).with_name("installed_sdk_calls.py")
# Everything an app gets with `pip install mno-sdk`: ours, pydantic and what pydantic needs.
# (A new entry here is a new package in every user's app: add it deliberately.)
EXPECTED_VENV = {
    "mno-sdk",
    "mno-wire",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
}
# What `python -m venv` puts there itself (setuptools only before Python 3.12).
VENV_OWN = {"pip", "setuptools"}
SUPPORTED = ["3.9", "3.10", "3.11", "3.12", "3.13"]
# pytest-timeout counts fixture setup: building two wheels and a venv from the index takes minutes
# on a busy machine.
pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Installed:
    wheels: dict[str, Path]
    python: Path
    packages: dict[str, str]


def _run(*command: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=WORK)
    assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed() -> Installed:
    """Both wheels built from this tree, and a new venv with them installed from the index."""
    wheelhouse, venv = WORK / "wheels", WORK / "venv"
    WORK.mkdir(parents=True, exist_ok=True)
    for old in wheelhouse.glob("*.whl"):
        old.unlink()
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheelhouse, *DISTRIBUTIONS.values())
    wheels = {name: next(wheelhouse.glob(f"{name.replace('-', '_')}-*.whl")) for name in DISTRIBUTIONS}
    _run(sys.executable, "-m", "venv", "--clear", venv)
    python = venv / "bin" / "python"
    # Only the wheels are named: every other package comes from their declared requirements.
    _run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *wheels.values())
    listed = json.loads(_run(python, "-m", "pip", "list", "--format", "json").stdout)
    packages = {entry["name"].lower().replace("_", "-"): entry["version"] for entry in listed}
    return Installed(wheels, python, packages)


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_the_sdk_venv_holds_only_its_small_dependency_set(installed: Installed) -> None:
    """Installing the two wheels brings pydantic and its own needs, nothing of the server (no chdb,
    aiohttp, nats, the server's distribution); the list is printed for the issue notes."""
    ours = set(installed.packages) - VENV_OWN
    print(f"\nSDK venv ({len(ours)} packages): {sorted(installed.packages.items())}")
    assert ours == EXPECTED_VENV
    assert not {"chdb", "aiohttp", "nats-py", "asyncpg", "machine-native-ops"} & ours


def test_the_wheels_declare_python_3_9_to_3_13_and_small_requirements(installed: Installed) -> None:
    """Both wheels say Requires-Python >=3.9 with classifiers 3.9 to 3.13; mno-wire requires pydantic
    only, mno-sdk mno-wire and typing-extensions, the provider libraries only as extras."""
    for name, wheel in installed.wheels.items():
        metadata = _metadata(wheel)
        assert metadata["Name"] == name
        assert metadata["Requires-Python"] == ">=3.9"
        versions = [
            c.rsplit(" :: ", 1)[1]
            for c in metadata.get_all("Classifier") or []
            if c.startswith("Programming Language :: Python :: 3.")
        ]
        assert versions == SUPPORTED, (name, versions)
    wire = [Requirement(r) for r in _metadata(installed.wheels["mno-wire"]).get_all("Requires-Dist") or []]
    assert [(r.name, r.marker) for r in wire] == [("pydantic", None)]
    sdk = [Requirement(r) for r in _metadata(installed.wheels["mno-sdk"]).get_all("Requires-Dist") or []]
    assert sorted(r.name for r in sdk if r.marker is None) == ["mno-wire", "typing-extensions"]
    extras = {str(r.marker).split('"')[1]: r.name for r in sdk if r.marker is not None}
    assert extras == {
        "openai": "openai",
        "anthropic": "anthropic",
        "gemini": "google-genai",
        "litellm": "litellm",
    }


async def _totals(mesh: Mesh, key: str, project: str, events: int, seconds: float = 30.0) -> dict[str, Any]:
    return await project_totals(mesh.edge_url, key, project, events, seconds)


async def test_the_installed_sdk_records_calls_that_the_edge_stores(
    installed: Installed, mesh: Mesh, edge_key: str
) -> None:
    """The wheels' SDK, in a venv without the server's code, imports every core module, needs the
    extras for the provider wrappers, and records OpenAI, Anthropic and tracked calls that the real
    edge accepts and the MonitoringAgent stores with the buckets mno_wire normalised."""
    project = f"installed-sdk-{uuid.uuid4().hex[:8]}"
    # -I: neither PYTHONPATH nor the working directory can lend it the source tree.
    done = await asyncio.to_thread(
        subprocess.run,
        [installed.python, "-I", SCRIPT, mesh.edge_url, edge_key, project],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=WORK,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    site = str(WORK / "venv")
    assert report["sdk_file"].startswith(site), report
    assert report["wire_file"].startswith(site), report
    assert {"client", "instrument", "streams", "track"} <= set(report["core_modules"])
    assert (report["finished"], report["sent"], report["rejected"], report["failed"]) == (True, 3, 0, 0)
    totals = await _totals(mesh, edge_key, project, events=3)
    assert {k: totals[k] for k in ("events", "input_tokens", "output_tokens", "reasoning_tokens")} == {
        "events": 3,
        "input_tokens": 600 + 50 + 7,  # OpenAI's prompt minus its cached tokens; Anthropic's; Gemini's
        "output_tokens": 200 + 20 + 3,  # OpenAI's completion minus reasoning
        "reasoning_tokens": 100,
    }
    assert (totals["cache_read_tokens"], totals["cache_write_tokens"], totals["cache_write_1h_tokens"]) == (
        400 + 200,
        10,
        20,
    )
