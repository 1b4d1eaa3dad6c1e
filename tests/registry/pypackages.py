"""Real Python distributions for the registry's tests and benchmark, built by `python -m build`, and
the real clients (twine, pip) pointed at an index, each in an environment free of this machine's pip
configuration (its extra indexes and find-links would answer in our index's place)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TWINE_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


def build_project(
    workdir: Path,
    name: str,
    version: str,
    *,
    dependencies: tuple[str, ...] = (),
    summary: str = "A test package",
    payload_bytes: int = 0,
    sdist: bool = True,
    readme: str | None = None,
) -> list[Path]:
    """Builds a wheel (and an sdist) of a one-module project; returns the files. `readme`: the
    Markdown long description (a one-line one otherwise)."""
    module = name.replace("-", "_").lower()
    project = workdir / f"src-{module}-{version}"
    (project / module).mkdir(parents=True, exist_ok=True)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (project / "pyproject.toml").write_text(
        f"""
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "{summary}"
requires-python = ">=3.9"
license = "MIT"
keywords = ["registry", "test"]
dependencies = [{deps}]
readme = {{file = "README.md", content-type = "text/markdown"}}

[project.urls]
Repository = "https://example.com/{name}"
"""
    )
    (project / "README.md").write_text(readme if readme is not None else f"# {name}\n\nThe long description.")
    (project / module / "__init__.py").write_text(f'VERSION = "{version}"\n')
    if payload_bytes:
        # Incompressible bytes, so the wheel really is about that large.
        (project / module / "payload.bin").write_bytes(os.urandom(payload_bytes))
        (project / "MANIFEST.in").write_text(f"include {module}/payload.bin\n")
        with (project / "pyproject.toml").open("a") as f:
            f.write(f'\n[tool.setuptools.package-data]\n{module} = ["payload.bin"]\n')
    out = workdir / "dist"
    kinds = ["--wheel", "--sdist"] if sdist else ["--wheel"]
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", *kinds, "--outdir", str(out), str(project)],
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    stem = f"{module}-{version}"
    return sorted(p for p in out.iterdir() if p.name.startswith(stem))


def twine_upload(edge_url: str, team: str, key: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            f"{edge_url}/registry/{team}/pypi/legacy/",
            "--username",
            "__token__",
            "--password",
            key,
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )


def index_url(edge_url: str, team: str, key: str) -> str:
    """`http://__token__:KEY@host/registry/<team>/pypi/simple/`: pip sends Basic auth from the URL."""
    parts = urlsplit(edge_url)
    return urlunsplit(
        (parts.scheme, f"__token__:{key}@{parts.netloc}", f"/registry/{team}/pypi/simple/", "", "")
    )


def fresh_venv(path: Path) -> Path:
    """A new, empty environment (no pip of its own: this venv's pip installs into it)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def pip_install(python: Path, index: str, *requirements: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-cache-dir",
            "--index-url",
            index,
            *requirements,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=180,
    )


def installed_version(python: Path, module: str) -> str:
    result = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.VERSION)"], capture_output=True, text=True
    )
    return result.stdout.strip() or result.stderr.strip()


def minimal_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A wheel made in memory (a module and its .dist-info), for tests that need a file, not a build."""
    import io
    import zipfile

    stem = f"{name.replace('-', '_')}-{version}"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: made in memory\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr(f"{name.replace('-', '_')}/__init__.py", f'VERSION = "{version}"\n')
        wheel.writestr(f"{stem}.dist-info/METADATA", metadata)
        wheel.writestr(
            f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{stem}.dist-info/RECORD", "")
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


def big_wheel(name: str, version: str, size: int) -> tuple[str, bytes]:
    """A wheel of at least `size` bytes: a minimal one plus incompressible data."""
    import io
    import os
    import zipfile

    filename, content = minimal_wheel(name, version)
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as wheel:
        wheel.writestr(f"{name.replace('-', '_')}/data.bin", os.urandom(size))
    return filename, buffer.getvalue()


async def upload_bytes(
    edge_url: str, team: str, key: str, name: str, version: str, filename: str, content: bytes
) -> tuple[int, str]:
    """One twine-shaped upload (the form fields twine sends) from memory."""
    import aiohttp

    from mno.demo_supply_chain import twine_form

    form = twine_form(name, version, filename, content)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        async with http.post(f"{edge_url}/registry/{team}/pypi/legacy/", data=form) as response:
            return response.status, await response.text()
