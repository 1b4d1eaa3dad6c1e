"""`npm deprecate name@range "message"`: npm GETs the full packument, sets `deprecated` on the versions
the range matches (an empty message un-deprecates) and PUTs the whole document back. Only the
`deprecated` fields are read from it; everything else in the body is the registry's own, echoed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.registry.ecosystems.interface import NotFound
from services.registry.npm.publish import InvalidPublish

MAX_MESSAGE_CHARS = 1024


def parse_deprecation(body: Mapping[str, Any], current: Mapping[str, str | None]) -> dict[str, str | None]:
    """The versions whose deprecation changes, with their new message (None: no longer deprecated).
    `current` maps each published version to its deprecation message (None if not deprecated)."""
    versions = body.get("versions")
    if not isinstance(versions, dict):
        raise InvalidPublish("versions must be a JSON object")
    changes: dict[str, str | None] = {}
    for version, document in versions.items():
        if version not in current:
            raise NotFound(f"version {version!r} is not published")
        if not isinstance(document, dict):
            raise InvalidPublish(f"versions[{version!r}] must be a JSON object")
        message = document.get("deprecated")
        if message is not None and not isinstance(message, str):
            raise InvalidPublish(f"versions[{version!r}].deprecated must be a string")
        if message is not None and len(message) > MAX_MESSAGE_CHARS:
            raise InvalidPublish(f"deprecation message longer than {MAX_MESSAGE_CHARS} characters")
        wanted = message or None
        if wanted != current[version]:
            changes[version] = wanted
    return changes
