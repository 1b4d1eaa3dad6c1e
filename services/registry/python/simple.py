"""The simple repository API's pages, pure: PEP 503 HTML and PEP 691 JSON, with PEP 592 yanking,
PEP 658/714 core-metadata, and PEP 700's `versions`, `size` and `upload-time` (API version 1.1).

File URLs are relative (`../../files/<sha256>/<filename>` from a project page): pip and uv resolve
them against the page's URL, so the pages are the same whatever host or path prefix serves them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from shared.simple_api import API_VERSION, HTML_V1, JSON_V1, TEXT_HTML, is_json, negotiate

__all__ = [
    "HTML_V1",
    "JSON_V1",
    "TEXT_HTML",
    "SimpleFile",
    "index_page",
    "is_json",
    "negotiate",
    "offered_metadata",
    "project_page",
]


@dataclass(frozen=True, slots=True)
class SimpleFile:
    filename: str
    sha256: str
    size: int | None  # None for an upstream's file its page does not size
    uploaded_at: datetime | None
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    core_metadata_sha256: str | None


def _upload_time(at: datetime) -> str:
    # PEP 700: ISO 8601 in UTC with a `Z` suffix.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _file_url(file: SimpleFile) -> str:
    return f"../../files/{file.sha256}/{quote(file.filename)}"


def index_page(projects: Sequence[tuple[str, str]], media_type: str) -> str:
    """The project list: (normalised name, display name) pairs."""
    if is_json(media_type):
        return json.dumps(
            {"meta": {"api-version": API_VERSION}, "projects": [{"name": display} for _, display in projects]}
        )
    links = "\n".join(
        f'    <a href="{quote(name)}/">{html.escape(display)}</a><br/>' for name, display in projects
    )
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        "    <title>Simple index</title>\n  </head>\n  <body>\n"
        f"{links}\n  </body>\n</html>\n"
    )


def offered_metadata(
    filename: str, size: int | None, core_metadata_sha256: str | None, min_bytes: int
) -> str | None:
    """The core metadata a page offers for a file (PEP 658/714): a wheel's own at `min_bytes` or more.
    Under that, the metadata saves an installer nothing it would not spend fetching it (a round trip
    for a few kB), and an install fetches the wheel after it anyway. An sdist's PKG-INFO is not
    offered: its dependencies may be computed at build time, which is what PEP 658 data must not be."""
    if core_metadata_sha256 is None or not filename.endswith(".whl"):
        return None
    if size is not None and size < min_bytes:
        return None
    return core_metadata_sha256


def project_page(name: str, versions: Sequence[str], files: Sequence[SimpleFile], media_type: str) -> str:
    """One project's files (`name` normalised; `versions` every published version, PEP 700)."""
    if is_json(media_type):
        return json.dumps(
            {
                "meta": {"api-version": API_VERSION},
                "name": name,
                "versions": list(versions),
                "files": [_json_file(f) for f in files],
            }
        )
    anchors = "\n".join(f"    {_anchor(f)}<br/>" for f in files)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>Links for {html.escape(name)}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {html.escape(name)}</h1>\n{anchors}\n  </body>\n</html>\n"
    )


def _json_file(file: SimpleFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": file.filename,
        "url": _file_url(file),
        "hashes": {"sha256": file.sha256},
    }
    if file.size is not None:
        entry["size"] = file.size
    if file.uploaded_at is not None:
        entry["upload-time"] = _upload_time(file.uploaded_at)
    if file.requires_python:
        entry["requires-python"] = file.requires_python
    if file.core_metadata_sha256:
        # PEP 714's name, and PEP 658's older one for clients that still read it.
        entry["core-metadata"] = {"sha256": file.core_metadata_sha256}
        entry["dist-info-metadata"] = {"sha256": file.core_metadata_sha256}
    if file.yanked:
        entry["yanked"] = file.yanked_reason or True
    return entry


def _anchor(file: SimpleFile) -> str:
    attributes = [f'href="{html.escape(_file_url(file))}#sha256={file.sha256}"']
    if file.requires_python:
        attributes.append(f'data-requires-python="{html.escape(file.requires_python)}"')
    if file.core_metadata_sha256:
        value = f"sha256={file.core_metadata_sha256}"
        attributes.append(f'data-core-metadata="{value}"')
        attributes.append(f'data-dist-info-metadata="{value}"')
    if file.yanked:
        attributes.append(f'data-yanked="{html.escape(file.yanked_reason or "")}"')
    return f"<a {' '.join(attributes)}>{html.escape(file.filename)}</a>"
