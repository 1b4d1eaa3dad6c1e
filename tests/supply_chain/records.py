"""OSV records for tests, written as the specification writes them (JSON objects)."""

from __future__ import annotations

from typing import Any

from services.supply_chain.osv import Advisory


def record(
    ecosystem: str,
    name: str,
    ranges: list[dict[str, Any]] | None = None,
    versions: list[str] | None = None,
    *,
    id: str = "OSV-TEST-1",
    modified: str = "2024-01-01T00:00:00Z",
    **fields: Any,
) -> Advisory:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if ranges is not None:
        affected["ranges"] = ranges
    if versions is not None:
        affected["versions"] = versions
    return Advisory.model_validate({"id": id, "modified": modified, "affected": [affected], **fields})


def events(range_type: str, *pairs: tuple[str, str]) -> dict[str, Any]:
    """One range: `events("SEMVER", ("introduced", "0"), ("fixed", "1.0.2"))`."""
    return {"type": range_type, "events": [{kind: version} for kind, version in pairs]}
