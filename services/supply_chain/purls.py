"""Package URLs (purl, via packageurl-python) for components, and the bridge between purl types and
OSV ecosystem names, so an SBOM's component finds the advisories of its package.

A package's name as its ecosystem writes it (`@scope/name`, `group:artifact`, a Go module path)
maps to a purl's namespace and name here, once, for every caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from packageurl import PackageURL

# purl type → OSV ecosystem. The registry names its ecosystems by purl type (shared/messages/artifacts).
OSV_ECOSYSTEMS: dict[str, str] = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "maven": "Maven",
    "cargo": "crates.io",
    "nuget": "NuGet",
    "gem": "RubyGems",
    "composer": "Packagist",
    "hex": "Hex",
    "pub": "Pub",
}
PURL_TYPES: dict[str, str] = {osv: purl for purl, osv in OSV_ECOSYSTEMS.items()}


class InvalidPurl(ValueError):
    """Not a package URL, or one whose ecosystem name cannot be told from it."""


@dataclass(frozen=True)
class PackageId:
    purl_type: str
    name: str
    """As the ecosystem writes it: `@scope/pkg` (npm), `group:artifact` (Maven), a module path (Go)."""
    version: str | None = None

    @property
    def osv_ecosystem(self) -> str | None:
        return OSV_ECOSYSTEMS.get(self.purl_type)


def to_purl(purl_type: str, name: str, version: str | None = None) -> str:
    namespace, _, short = _split(purl_type, name)
    try:
        return str(
            PackageURL(type=purl_type, namespace=namespace, name=short, version=version or None).to_string()
        )
    except ValueError as error:
        raise InvalidPurl(f"{purl_type}/{name}: {error}") from error


def _split(purl_type: str, name: str) -> tuple[str | None, str, str]:
    if purl_type == "maven":
        group, sep, artifact = name.partition(":")
        if not sep or not group or not artifact:
            raise InvalidPurl(f"a Maven package is named group:artifact, not {name!r}")
        return group, sep, artifact
    if purl_type == "npm" and name.startswith("@"):
        scope, sep, short = name.partition("/")
        return scope, sep, short
    if purl_type in ("golang", "composer") and "/" in name:
        namespace, sep, short = name.rpartition("/")
        return namespace, sep, short
    return None, "", name


def parse_purl(text: str) -> PackageId:
    try:
        purl = PackageURL.from_string(text)
    except ValueError as error:
        raise InvalidPurl(f"{text!r}: {error}") from error
    namespace = purl.namespace or None
    if purl.type == "maven":
        if namespace is None:
            raise InvalidPurl(f"{text!r}: a Maven purl needs its group as namespace")
        name = f"{namespace}:{purl.name}"
    elif namespace is not None:
        name = f"{namespace}/{purl.name}"
    else:
        name = purl.name
    return PackageId(purl.type, name, purl.version or None)
