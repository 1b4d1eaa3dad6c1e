"""An upstream index's project page read into its files, pure: PEP 691 JSON, or PEP 503 HTML for
indexes that only speak that (pypiserver does). Only files with a SHA-256 are kept: a file we cannot
verify is never fetched, so it is never listed.

The HTML reader is the standard library's parser: the anchors and their `data-*` attributes are all
PEP 503 defines, and a dependency for that much would be more to keep than the code it replaces.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

__all__ = ["UpstreamFile", "parse_project_page"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class UpstreamFile:
    filename: str
    url: str  # absolute
    sha256: str
    size: int | None
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    uploaded_at: datetime | None = None
    """PEP 700's `upload-time` (JSON pages only): the quarantine's measure of a version's age."""


def parse_project_page(body: str, media_type: str, page_url: str) -> list[UpstreamFile]:
    """The files of a project page; `ValueError` when the page is neither JSON nor HTML we can read."""
    if "json" in media_type:
        return _from_json(body, page_url)
    return _from_html(body, page_url)


def _digest(value: object) -> str | None:
    text = str(value).lower() if isinstance(value, str) else ""
    return text if _SHA256.fullmatch(text) else None


def _from_json(body: str, page_url: str) -> list[UpstreamFile]:
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise ValueError("not a PEP 691 project page")
    files: list[UpstreamFile] = []
    for entry in document["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        hashes = entry.get("hashes")
        sha256 = _digest(hashes.get("sha256")) if isinstance(hashes, dict) else None
        filename = entry.get("filename")
        if sha256 is None or not isinstance(filename, str):
            continue
        yanked = entry.get("yanked", False)
        size = entry.get("size")
        requires = entry.get("requires-python")
        files.append(
            UpstreamFile(
                filename=filename,
                url=urljoin(page_url, entry["url"]),
                sha256=sha256,
                size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                requires_python=requires if isinstance(requires, str) and requires else None,
                yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) and yanked else None,
                uploaded_at=_instant(entry.get("upload-time")),
            )
        )
    return files


def _instant(value: object) -> datetime | None:
    """An RFC 3339 instant with an offset (PEP 700 uses `Z`); None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def _from_html(body: str, page_url: str) -> list[UpstreamFile]:
    parser = _Anchors()
    parser.feed(body)
    parser.close()
    files: list[UpstreamFile] = []
    for attrs in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, fragment = urldefrag(urljoin(page_url, href))
        algorithm, _, value = fragment.partition("=")
        sha256 = _digest(value) if algorithm == "sha256" else None
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if sha256 is None or not filename:
            continue
        yanked = attrs.get("data-yanked")
        files.append(
            UpstreamFile(
                filename=filename,
                url=url,
                sha256=sha256,
                size=None,
                requires_python=attrs.get("data-requires-python") or None,
                yanked="data-yanked" in attrs,
                yanked_reason=yanked or None,
            )
        )
    return files
