"""The dashboard's static files: our CSS and JavaScript and the vendored libraries, served by the edge.

Only files under `static/` are served, looked up by name in the set found at start (no path of the
machine can be asked for). URLs carry the file's content hash (`?v=`): asked with the current hash
a file is cacheable for a year (a new release changes the URL), without it for revalidation only.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from aiohttp import web

from services.gateway.errors import HttpProblem
from shared.messages.envelope import ErrorCode

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/assets"
YEAR = 365 * 24 * 3600
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


@cache
def files() -> dict[str, Path]:
    return {path.relative_to(STATIC).as_posix(): path for path in STATIC.rglob("*") if path.is_file()}


@cache
def digest(name: str) -> str:
    return hashlib.sha256(files()[name].read_bytes()).hexdigest()[:16]


def url(name: str) -> str:
    """The URL of a static file, with its content hash (KeyError for a file that is not there)."""
    return f"{PREFIX}/{name}?v={digest(name)}"


def response(name: str, version: str | None) -> web.StreamResponse:
    path = files().get(name)
    if path is None:
        raise HttpProblem(ErrorCode.NOT_FOUND, f"no asset {name}")
    current = version == digest(name)
    headers = {
        "Cache-Control": f"public, max-age={YEAR}, immutable" if current else "public, no-cache",
        "ETag": f'"{digest(name)}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Type": CONTENT_TYPES.get(path.suffix, "text/plain; charset=utf-8"),
    }
    return web.FileResponse(path, headers=headers)
