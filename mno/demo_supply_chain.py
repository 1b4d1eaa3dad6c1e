"""The demo team's supply chain: a package of its own that pins two vulnerable dependencies, and the
two real advisories (PyPA's, vendored in demo_data/ with their licence notice) that name them.

Both go through the edge as they would for a user: the advisories through the operator's import
route (`mno advisories import`), the package as a twine upload with the demo team's key. The
SupplyChainAgent then makes the version's SBOM and findings from the `artifact.published` event, so
the Supply chain page and the package page show something real to triage.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import aiohttp

ADVISORIES = Path(__file__).parent / "demo_data" / "advisories"
ADVISORY_SOURCE = "demo (PyPA advisory database, CC-BY 4.0)"
PACKAGE, VERSION = "support-bot", "1.0.0"
# What the package pins: each version is named by one of the vendored advisories.
PINNED = ("jinja2==2.10", "requests==2.19.0")


def advisories_archive() -> bytes:
    """The vendored advisories as the tar.gz the import route takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in sorted(ADVISORIES.glob("*.yaml")):
            archive.add(file, arcname=file.name)
    return buffer.getvalue()


def package_wheel() -> tuple[str, bytes]:
    """A small pure-Python wheel of the demo package, made in memory."""
    module, stem = PACKAGE.replace("-", "_"), f"{PACKAGE.replace('-', '_')}-{VERSION}"
    requires = "".join(f"Requires-Dist: {pin}\n" for pin in PINNED)
    metadata = (
        f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: {VERSION}\n"
        "Summary: The demo team's support bot (sample data)\n"
        f"{requires}"
    )
    files = {
        f"{module}/__init__.py": f'"""Sample package of the demo team."""\n\nVERSION = "{VERSION}"\n',
        f"{stem}.dist-info/METADATA": metadata,
        f"{stem}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: mno demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + f"{stem}.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, text in {**files, f"{stem}.dist-info/RECORD": record}.items():
            wheel.writestr(path, text)
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


async def import_advisories(http: aiohttp.ClientSession, base: str, operator_token: str) -> None:
    async with http.post(
        f"{base}/api/v1/operator/advisories/import",
        params={"source": ADVISORY_SOURCE},
        data=advisories_archive(),
        headers={"Authorization": f"Bearer {operator_token}", "Content-Type": "application/gzip"},
    ) as response:
        if response.status >= 400:
            raise RuntimeError(f"advisory import refused: {response.status} {await response.text()}")


def twine_form(name: str, version: str, filename: str, content: bytes) -> aiohttp.FormData:
    """The multipart form twine sends for one file (`file_upload`, with the file's SHA-256)."""
    form = aiohttp.FormData()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }
    for field, value in fields.items():
        form.add_field(field, value)
    form.add_field("content", content, filename=filename, content_type="application/octet-stream")
    return form


async def publish_package(http: aiohttp.ClientSession, base: str, team_id: str, key: str) -> None:
    """Upload the package as twine does; an upload seen before (a re-run) is not an error."""
    filename, content = package_wheel()
    async with http.post(
        f"{base}/registry/{team_id}/pypi/legacy/",
        data=twine_form(PACKAGE, VERSION, filename, content),
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        if response.status >= 400 and response.status != 409:
            raise RuntimeError(f"demo package upload refused: {response.status} {await response.text()}")
