"""The lock files (requirements/*.txt, `make lock`) are current: every requirement the project's
pyproject.toml files and requirements/*.in declare is met by a pinned, hashed line, for the Python and
platform the lock names. Pure: reads files, no network, no installer."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.deploy.support import REPO

REQUIREMENTS = REPO / "requirements"
DEV_LOCK = REQUIREMENTS / "dev.txt"
RUNTIME_LOCK = REQUIREMENTS / "runtime.txt"
# Installed from their directories (--no-deps, after the lock), never from an index: none may be pinned.
LOCAL = {canonicalize_name(n) for n in ("machine-native-ops", "mno-wire", "mno-sdk")}
# What `make lock` passes to uv; markers are evaluated for this platform (CI's and the image's).
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"
ENVIRONMENT: dict[str, str] = {
    **{key: str(value) for key, value in default_environment().items()},
    "python_version": PYTHON_VERSION,
    "python_full_version": f"{PYTHON_VERSION}.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}


@dataclass(frozen=True)
class Lock:
    header: str
    pins: dict[NormalizedName, Version]
    hashes: dict[NormalizedName, list[str]]


def parse_lock(text: str) -> Lock:
    """A `uv pip compile --generate-hashes` output: its comment header and each `name==version` with the
    `--hash` options of its (backslash-continued) logical line. Anything else is refused."""
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    logical = re.sub(r"\\\n", " ", text)
    pins: dict[NormalizedName, Version] = {}
    hashes: dict[NormalizedName, list[str]] = {}
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", words[0])
        assert match, f"not a pinned requirement: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in pins, f"{name} pinned twice"
        pins[name] = Version(match.group(3))
        hashes[name] = [w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash=")]
        assert len(hashes[name]) == len(words) - 1, f"options other than --hash on {line!r}"
    return Lock("\n".join(header), pins, hashes)


def unmet(requirements: list[Requirement], lock: Lock) -> list[str]:
    """The requirements (those whose markers apply to the locked platform) no pin satisfies."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name in LOCAL or (requirement.marker and not requirement.marker.evaluate(ENVIRONMENT)):
            continue
        pinned = lock.pins.get(name)
        if pinned is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement}: the lock pins {pinned}")
    return problems


def project(path: Path) -> dict[str, object]:
    table = tomllib.loads(path.read_text())["project"]
    assert isinstance(table, dict)
    return table


def dependencies(path: Path, *, extras: bool) -> list[Requirement]:
    """A pyproject.toml's [project] dependencies, and with `extras` every optional-dependency group's."""
    table = project(path)
    lines = list(table.get("dependencies", []))  # type: ignore[call-overload]
    if extras:
        for group in table.get("optional-dependencies", {}).values():  # type: ignore[attr-defined]
            lines += group
    return [Requirement(line) for line in lines]


def inputs(path: Path) -> list[Requirement]:
    """The requirements of a requirements/*.in file, without our own directories (`-e ./sdk/...`, `.`)."""
    found = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith(("-e", ".", "/")):
            found.append(Requirement(line))
    return found


SERVER = REPO / "pyproject.toml"
WIRE = REPO / "sdk" / "mno-wire" / "pyproject.toml"
SDK = REPO / "sdk" / "mno-sdk" / "pyproject.toml"
# What each lock must meet: the image runs the server (and mno-wire) without extras; the dev venv is
# the server with every extra, both SDK distributions (their core, not their provider extras: the dev
# extra names those providers itself, and litellm gets a venv of its own in tests/sdk).
EXPECTED = {
    RUNTIME_LOCK: lambda: (
        dependencies(SERVER, extras=False)
        + dependencies(WIRE, extras=False)
        + inputs(REQUIREMENTS / "runtime.in")
    ),
    DEV_LOCK: lambda: (
        dependencies(SERVER, extras=True)
        + dependencies(WIRE, extras=False)
        + dependencies(SDK, extras=False)
        + inputs(REQUIREMENTS / "dev.in")
    ),
}


@pytest.fixture(scope="module")
def locks() -> dict[Path, Lock]:
    return {path: parse_lock(path.read_text()) for path in (DEV_LOCK, RUNTIME_LOCK)}


@pytest.mark.parametrize("path", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_declared_requirement_is_met_by_a_pin(path: Path, locks: dict[Path, Lock]) -> None:
    """Each dependency of pyproject.toml (its extras for the dev lock), of sdk/*/pyproject.toml and of
    requirements/*.in is satisfied by a pinned version: a dependency added without `make lock` fails."""
    problems = unmet(EXPECTED[path](), locks[path])
    assert not problems, f"{path.name} is stale, run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_pin_is_hashed_and_ours_are_not_pinned(path: Path, locks: dict[Path, Lock]) -> None:
    """Every line is `name==version` with at least one sha256 --hash (pip's hash-checking mode needs
    them), and none pins our own distributions, which are installed from their directories."""
    lock = locks[path]
    assert len(lock.pins) > 20
    unhashed = [name for name, found in lock.hashes.items() if not found]
    assert not unhashed, f"no --hash for {unhashed}"
    for name, found in lock.hashes.items():
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in found), (name, found)
    assert not LOCAL & lock.pins.keys()


@pytest.mark.parametrize("path", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_lock_names_the_python_and_platform_it_was_resolved_for(path: Path, locks: dict[Path, Lock]) -> None:
    """The header records the uv command, naming Python 3.11 and x86_64 Linux (CI's and the image's)."""
    header = locks[path].header
    assert "uv pip compile" in header
    assert "--generate-hashes" in header
    assert f"--python-version {PYTHON_VERSION}" in header
    assert f"--python-platform {PLATFORM}" in header


def test_runtime_lock_is_the_dev_lock_s_versions(locks: dict[Path, Lock]) -> None:
    """The image runs the versions the tests ran: each runtime pin equals the dev lock's (runtime.txt is
    compiled with dev.txt as a constraint), with the same hashes, and it has no `local` extra."""
    dev, runtime = locks[DEV_LOCK], locks[RUNTIME_LOCK]
    differing = {
        name: (str(version), str(dev.pins.get(name)))
        for name, version in runtime.pins.items()
        if dev.pins.get(name) != version or sorted(dev.hashes[name]) != sorted(runtime.hashes[name])
    }
    assert not differing
    for local_only in project(SERVER)["optional-dependencies"]["local"]:  # type: ignore[index]
        assert canonicalize_name(Requirement(local_only).name) not in runtime.pins


def test_setuptools_is_locked_past_its_advisory() -> None:
    """Both locks pin a setuptools >= 78.1.1 (PYSEC-2022-43012 and later fixes) and < 81 (pkg_resources)."""
    for path in (DEV_LOCK, RUNTIME_LOCK):
        pinned = parse_lock(path.read_text()).pins[canonicalize_name("setuptools")]
        assert Version("78.1.1") <= pinned < Version("81"), (path.name, pinned)


def test_the_check_finds_a_missing_or_unsatisfied_requirement(locks: dict[Path, Lock]) -> None:
    """The staleness check is not vacuous: an unpinned name, or a version range the pin misses, is
    reported; a marker for another platform, or our own distribution, is not."""
    lock = locks[DEV_LOCK]
    aiohttp = lock.pins[canonicalize_name("aiohttp")]
    problems = unmet(
        [
            Requirement("no-such-distribution-mno>=1"),
            Requirement(f"aiohttp>{aiohttp}"),
            Requirement(f"aiohttp=={aiohttp}"),
            Requirement("pywin32>=300; sys_platform == 'win32'"),
            Requirement("mno-wire>=0.1"),
        ],
        lock,
    )
    assert problems == [
        "no-such-distribution-mno>=1: not in the lock",
        f"aiohttp>{aiohttp}: the lock pins {aiohttp}",
    ]
    with pytest.raises(AssertionError, match="not a pinned requirement"):
        parse_lock("aiohttp>=3 \\\n    --hash=sha256:" + "0" * 64 + "\n")


def test_make_installs_from_the_dev_lock_with_hashes_then_ours_without_deps() -> None:
    """The Makefile's venv recipe installs requirements/dev.txt in hash-checking mode, our directories
    with --no-deps, runs pip check, and rebuilds when a lock changes."""
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile[makefile.index("$(STAMP):") :].split("\n\n", 1)[0]
    prerequisites = recipe.splitlines()[0]
    assert "$(LOCKS)" in prerequisites
    assert "LOCKS := requirements/dev.txt requirements/runtime.txt" in makefile
    assert "pip install --quiet --require-hashes -r requirements/dev.txt" in recipe
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs), installs
    assert "pip check" in recipe
