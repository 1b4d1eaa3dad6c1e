"""Python distributions written by hand, byte for byte, for tests that need core metadata no build
backend of this machine writes: a given Metadata-Version (2.1 to 2.4), `Dynamic:` fields in an sdist's
PKG-INFO, setuptools' `License-File:` under 2.1/2.2, licence classifiers, dependencies."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Sequence


def core_metadata(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.1",
    summary: str = "written by hand",
    fields: Sequence[tuple[str, str]] = (),
    requires: Sequence[str] = (),
    description: str | None = None,
) -> str:
    """A METADATA / PKG-INFO text: the required fields, then `fields` (name, value) in order (repeat a
    name for a multiple-use field), `Requires-Dist` lines, and `description` as the message body."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {summary}",
        *(f"{field}: {value}" for field, value in fields),
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    text = "\n".join(lines) + "\n"
    if description is not None:
        text += "Description-Content-Type: text/markdown\n\n" + description
    return text


def _stem(name: str, version: str) -> str:
    return f"{name.replace('-', '_').replace('.', '_').lower()}-{version}"


def wheel(name: str, version: str, metadata: str, *, payload: bytes = b"") -> tuple[str, bytes]:
    """A pure-Python wheel of one module whose `.dist-info/METADATA` is `metadata`; `payload` adds a
    stored (uncompressed) data file, to make the wheel as large as a test needs."""
    stem = _stem(name, version)
    module = name.replace("-", "_").replace(".", "_").lower()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}/__init__.py", f'VERSION = "{version}"\n')
        if payload:
            archive.writestr(f"{module}/payload.bin", payload, compress_type=zipfile.ZIP_STORED)
        archive.writestr(f"{stem}.dist-info/METADATA", metadata)
        archive.writestr(
            f"{stem}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: by-hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


def sdist(name: str, version: str, pkg_info: str) -> tuple[str, bytes]:
    """A PEP 625 sdist (`{name}-{version}.tar.gz`, one top directory) whose PKG-INFO is `pkg_info`,
    with a setuptools pyproject.toml that would build it."""
    stem = _stem(name, version)
    module = name.replace("-", "_").replace(".", "_").lower()
    members = {
        f"{stem}/PKG-INFO": pkg_info.encode(),
        f"{stem}/pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{name}"\nversion = "{version}"\ndynamic = ["dependencies"]\n'
        ).encode(),
        f"{stem}/{module}/__init__.py": f'VERSION = "{version}"\n'.encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for directory in (stem, f"{stem}/{module}"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return f"{stem}.tar.gz", buffer.getvalue()
