"""Maven's pom.xml: the dependencies it names with a version, `${properties}` resolved.

Read with defusedxml: a DTD, an entity or an external reference is refused outright (the billion
laughs and XXE attacks live there, and no POM needs them). A property bomb built from nested
`${...}` references is stopped by bounds on expansion depth and expanded length.

A version this file alone cannot give (inherited from a parent POM, imported from a BOM, a property
defined elsewhere) or a version range is reported as skipped: resolving it needs the repository,
which `mvn dependency:list` has and a scan of one file does not.

A POM names its direct dependencies only (what they depend on is in their own POMs, in the
repository): each is a dependency of the file itself, so a finding's path is [file, dependency].
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from services.supply_chain.lockfiles.model import (
    LockedComponent,
    LockfileError,
    LockfileResult,
    Skipped,
    bounded,
)
from services.supply_chain.pinning import maven_exact_version

_PROPERTY = re.compile(r"\$\{([^}]+)\}")
MAX_EXPANSION_DEPTH = 10
MAX_EXPANDED_LENGTH = 1000


def parse(filename: str, content: bytes) -> LockfileResult:
    project = _load(filename, content)
    properties = _properties(project)
    managed = {
        _key(d, properties): _text(d, "version")
        for d in _dependencies(project, "dependencyManagement/dependencies/dependency")
    }
    components: list[LockedComponent] = []
    skipped: list[Skipped] = []
    for dependency in _dependencies(project, "dependencies/dependency"):
        group, artifact = _key(dependency, properties)
        name = f"{group}:{artifact}"
        raw = _text(dependency, "version") or managed.get((group, artifact))
        if raw is None:
            skipped.append(Skipped(name, "no version in this file (a parent POM or an imported BOM sets it)"))
            continue
        try:
            version = expand(raw, properties)
        except ValueError as error:
            raise LockfileError(filename, f"{name}: {error}") from error
        if "${" in version:
            skipped.append(Skipped(name, f"{version}: a property this file does not define"))
            continue
        exact = maven_exact_version(version)
        if exact is None:
            skipped.append(Skipped(name, f"{version} is a version range, not one version"))
            continue
        scope = _text(dependency, "scope") or "compile"
        components.append(LockedComponent("Maven", name, exact, dev=scope == "test"))
    return LockfileResult("pom.xml", tuple(components), tuple(skipped))


def _load(filename: str, content: bytes) -> Element:
    # The bytes, not text: an XML file says its own encoding (`<?xml ... encoding="ISO-8859-1"?>`, a
    # UTF-16 byte order mark), and Maven reads it in that encoding; UTF-8 when it says none.
    try:
        root: Element = fromstring(
            bounded(filename, content), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as error:
        raise LockfileError(filename, f"refused: {type(error).__name__} ({error})") from error
    except ParseError as error:
        raise LockfileError(filename, f"not XML: {error}") from error
    for element in root.iter():
        # `{http://maven.apache.org/POM/4.0.0}project` → `project`: POMs with and without the namespace.
        element.tag = element.tag.rsplit("}", 1)[-1]
    if root.tag != "project":
        raise LockfileError(filename, f"the root element is <{root.tag}>, not <project>")
    return root


def _text(element: Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _properties(project: Element) -> dict[str, str]:
    properties = {child.tag: (child.text or "").strip() for child in project.findall("properties/*")}
    for field in ("version", "groupId", "artifactId"):
        value = _text(project, field) or _text(project, f"parent/{field}")
        if value is not None:
            properties[f"project.{field}"] = value
            properties[f"pom.{field}"] = value  # Maven 2's spelling, still honoured
    parent_version = _text(project, "parent/version")
    if parent_version is not None:
        properties["project.parent.version"] = parent_version
    return properties


def _dependencies(project: Element, path: str) -> list[Element]:
    return project.findall(path)


def _key(dependency: Element, properties: dict[str, str]) -> tuple[str, str]:
    group = expand(_text(dependency, "groupId") or "", properties)
    artifact = expand(_text(dependency, "artifactId") or "", properties)
    return group, artifact


def expand(value: str, properties: dict[str, str]) -> str:
    """`${name}` references replaced by their values, recursively within bounds; unknown ones kept."""
    for _ in range(MAX_EXPANSION_DEPTH):
        expanded = _PROPERTY.sub(lambda m: properties.get(m.group(1), m.group(0)), value)
        if len(expanded) > MAX_EXPANDED_LENGTH:
            raise ValueError(f"properties expand past {MAX_EXPANDED_LENGTH} characters")
        if expanded == value:
            return expanded
        value = expanded
    raise ValueError(f"properties still reference properties after {MAX_EXPANSION_DEPTH} expansions")
