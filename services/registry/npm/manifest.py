"""What the registry reads from a published package.json (pure): its declared dependencies by kind,
and the ecosystem-neutral metadata (summary, licence, people, links, keywords) of `VersionInfo`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from services.registry.licenses import npm_license_ids, npm_license_text
from shared.messages.artifacts import Dependency, DependencyKind

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_KINDS = (
    ("dependencies", DependencyKind.RUNTIME),
    ("optionalDependencies", DependencyKind.OPTIONAL),
    ("peerDependencies", DependencyKind.PEER),
    ("devDependencies", DependencyKind.DEV),
)


def _line(value: Any, limit: int = 2000) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL.sub(" ", value).strip()[:limit]
    return cleaned or None


def _optional_peers(manifest: Mapping[str, Any]) -> set[str]:
    """The peer dependencies `peerDependenciesMeta` marks `optional: true` (npm does not install them)."""
    meta = manifest.get("peerDependenciesMeta")
    if not isinstance(meta, Mapping):
        return set()
    return {
        name for name, entry in meta.items() if isinstance(entry, Mapping) and entry.get("optional") is True
    }


def dependencies_of(manifest: Mapping[str, Any]) -> list[Dependency]:
    """One row per declared dependency; a name under `dependencies` and `optionalDependencies` is
    optional (npm installs it from the latter), so is a peer `peerDependenciesMeta` marks optional;
    the first kind wins otherwise."""
    found: dict[str, Dependency] = {}
    optional = manifest.get("optionalDependencies")
    optional_names = set(optional) if isinstance(optional, Mapping) else set()
    optional_peers = _optional_peers(manifest)
    for field, kind in _KINDS:
        declared = manifest.get(field)
        if not isinstance(declared, Mapping):
            continue
        for name, requirement in declared.items():
            clean_name = _line(name, 214)
            if clean_name is None or clean_name in found:
                continue
            if (kind is DependencyKind.RUNTIME and name in optional_names) or (
                kind is DependencyKind.PEER and name in optional_peers
            ):
                kind_here = DependencyKind.OPTIONAL
            else:
                kind_here = kind
            found[clean_name] = Dependency(
                name=clean_name, requirement=_line(requirement, 1000) or "", kind=kind_here
            )
    return sorted(found.values(), key=lambda d: d.name)


def _person(value: Any) -> str | None:
    if isinstance(value, Mapping):
        name, email = _line(value.get("name"), 200), _line(value.get("email"), 200)
        return f"{name} <{email}>" if name and email else name or email
    return _line(value, 300)


def _url(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _line(value.get("url"))
    return _line(value)


def license_ids_of(manifest: Mapping[str, Any]) -> list[str]:
    """The SPDX ids the version's licence names (licenses.py)."""
    return npm_license_ids(manifest.get("license"), manifest.get("licenses"))


def version_fields(manifest: Mapping[str, Any], readme: str | None) -> dict[str, Any]:
    """The version's metadata as the store keeps it for every ecosystem (see VersionInfo)."""
    contributors = manifest.get("contributors")
    people = [manifest.get("author"), *(contributors if isinstance(contributors, list) else [])]
    keywords = manifest.get("keywords")
    # `license` (or the deprecated {"type": "MIT", "url": ...}), else the deprecated `licenses` list.
    license_value = npm_license_text(manifest.get("license"), manifest.get("licenses"))
    return {
        "display_name": manifest.get("name"),
        "summary": _line(manifest.get("description"), 512),
        "description": readme,
        "description_content_type": "text/markdown" if readme else None,
        "license": _line(license_value, 200),
        "authors": [p for p in (_person(x) for x in people if x) if p],
        "homepage": _line(manifest.get("homepage")),
        "repository": _url(manifest.get("repository")),
        "keywords": [k for k in (_line(w, 100) for w in keywords) if k] if isinstance(keywords, list) else [],
    }
