"""CycloneDX JSON: our graph written as a 1.6 BOM with cyclonedx-python-lib, and BOMs made elsewhere
(1.2 to 1.7) read back into a graph after validation against the schema the library ships (offline).

The schemas are the library's files, but they are compiled and run by jsonschema-rs rather than by the
library's own validator (`jsonschema`): that one checks `uniqueItems` by comparing every pair of
components (and of dependencies), ~4 s for a 1,000-component BOM, where jsonschema-rs takes ~10 ms for
the same schema, draft 7 with format checking, the `$ref`s to the bundled SPDX/JSF/cryptography
schemas answered from the library's files (never fetched).

What CycloneDX has no field for travels as namespaced properties: the dependency kind (its `scope`
has three values for our six) and the requirement of a dependency without a pinned version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentScope, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import License
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON
from jsonschema_rs import Draft7Validator
from packageurl import PackageURL

from services.supply_chain.sbom.graph import (
    Component,
    ComponentGraph,
    DependencyKind,
    SbomError,
    assemble,
    identity_from_purl,
)
from services.supply_chain.sbom.limits import load_json

KIND_PROPERTY = "machinenativeops:dependency_kind"
REQUIREMENT_PROPERTY = "machinenativeops:requirement"
TOOL_NAME = "machine-native-ops"
READABLE_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")

_SCOPES = {
    DependencyKind.RUNTIME: ComponentScope.REQUIRED,
    DependencyKind.PEER: ComponentScope.REQUIRED,
    DependencyKind.OPTIONAL: ComponentScope.OPTIONAL,
    DependencyKind.DEV: ComponentScope.EXCLUDED,
    DependencyKind.BUILD: ComponentScope.EXCLUDED,
    DependencyKind.TEST: ComponentScope.EXCLUDED,
}
_KINDS_OF_SCOPES = {
    "required": DependencyKind.RUNTIME,
    "optional": DependencyKind.OPTIONAL,
    "excluded": DependencyKind.DEV,
}
_KIND_VALUES = {k.value for k in DependencyKind}
_HASHES = {"SHA-256": HashAlgorithm.SHA_256, "SHA-512": HashAlgorithm.SHA_512, "SHA-1": HashAlgorithm.SHA_1}


def serial_number(graph: ComponentGraph, created: datetime) -> UUID:
    """Stable for one root and instant: writing the same SBOM twice gives the same document."""
    return uuid5(NAMESPACE_URL, f"{graph.root.ref}#{created.isoformat()}")


def to_cyclonedx(graph: ComponentGraph, *, created: datetime, tool_version: str) -> str:
    """The graph as CycloneDX 1.6 JSON."""
    bom = Bom(serial_number=serial_number(graph, created))
    bom.metadata.timestamp = created
    bom.metadata.tools.components.add(
        CdxComponent(type=ComponentType.APPLICATION, name=TOOL_NAME, version=tool_version)
    )
    # One licence text (of a few dozen in a BOM) made once: the factory validates it as an SPDX
    # expression each time (~0.2 ms), and the licence objects are only read from here on.
    licence = cache(LicenseFactory().make_from_string)
    root = _component(graph.root, ComponentType.APPLICATION, licence, scope=False)
    bom.metadata.component = root
    written = {graph.root.ref: root}
    for component in graph.components:
        written[component.ref] = _component(component, ComponentType.LIBRARY, licence, scope=True)
    # Bom.components is a SortedSet whose every comparison builds two 30-field tuples of a component:
    # added in the set's own order, each component is appended after one comparison instead of being
    # bisected into place (~10); a graph of several ecosystems, sorted by purl, is far from that order
    # (~15% of the whole write for 1,000 or 5,000 components). The order is for speed only: the set
    # sorts whatever it gets.
    for cdx in sorted((written[c.ref] for c in graph.components), key=_set_order):
        bom.components.add(cdx)
    # Bom.register_dependency searches its dependencies linearly (quadratic for a 1,000-component
    # BOM: seconds); the graph already has one entry per ref, so they are added directly.
    depends_on = graph.depends_on()
    for ref, cdx in written.items():
        targets = [Dependency(ref=written[t].bom_ref) for t in depends_on.get(ref, ())]
        bom.dependencies.add(Dependency(ref=cdx.bom_ref, dependencies=targets))
    # The writer calls Bom.validate (deprecated upstream), which registers each component's dependency
    # entry through the same linear search (~0.9 s of 2 s for 1,000 components) and checks that every
    # dependency names a component: both hold by construction here (one entry per ref, from the
    # graph's own refs). The output is checked against the 1.6 schema in tests/supply_chain/test_sbom.py.
    bom.validate = _constructed_valid  # type: ignore[method-assign]
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def _constructed_valid() -> bool:
    return True


def _set_order(component: CdxComponent) -> tuple[bool, str, str, bool, str, str]:
    """cyclonedx-python-lib's order of components (type, group, name, version, bom-ref; None last), for
    ours: all libraries, bom-refs unique."""
    return (
        component.group is None,
        component.group or "",
        component.name,
        component.version is None,
        component.version or "",
        str(component.bom_ref.value),
    )


def _component(
    component: Component, type_: ComponentType, licence: Callable[[str], License], *, scope: bool
) -> CdxComponent:
    group, name = _group_and_name(component)
    properties = [Property(name=KIND_PROPERTY, value=component.kind.value)] if scope else []
    if component.requirement:
        properties.append(Property(name=REQUIREMENT_PROPERTY, value=component.requirement))
    return CdxComponent(
        type=type_,
        bom_ref=component.ref,
        group=group,
        name=name,
        version=component.version,
        description=component.summary,
        scope=_SCOPES[component.kind] if scope else None,
        purl=PackageURL.from_string(component.purl) if component.purl else None,
        hashes=[
            HashType(alg=_HASHES[alg], content=value) for alg, value in component.hashes if alg in _HASHES
        ],
        licenses=[licence(component.license)] if component.license else None,
        properties=properties,
    )


def _group_and_name(component: Component) -> tuple[str | None, str]:
    # CycloneDX's convention: Maven's groupId and npm's scope are the group.
    if component.ecosystem == "maven" and ":" in component.name:
        group, _, name = component.name.partition(":")
        return group, name
    if component.ecosystem == "npm" and component.name.startswith("@") and "/" in component.name:
        scope, _, name = component.name.partition("/")
        return scope, name
    return None, component.name


# What the bundled schemas `$ref` by URL, as the library's own validator registers them.
_SCHEMA_URL = "http://cyclonedx.org/schema/"
_REFERENCED = {
    f"{_SCHEMA_URL}spdx.SNAPSHOT.schema.json": SPDX_JSON,
    f"{_SCHEMA_URL}jsf-0.82.SNAPSHOT.schema.json": JSF,
    f"{_SCHEMA_URL}cryptography-defs.SNAPSHOT.schema.json": CRYPTOGRAPHY_DEFS,
}


def _bundled(uri: str) -> Any:
    path = _REFERENCED.get(uri)
    if path is None:
        raise ValueError(f"{uri} is not a schema bundled with cyclonedx-python-lib")  # never fetched
    return json.loads(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=len(READABLE_VERSIONS))
def _validator(version: str) -> Draft7Validator:
    """Compiled once per version and process (~10 ms each)."""
    path = BOM_JSON[SchemaVersion.from_version(version)]
    assert path is not None  # every readable version has a JSON schema
    schema = json.loads(Path(path).read_text(encoding="utf-8"))
    return Draft7Validator(schema, validate_formats=True, retriever=_bundled)


def validate_cyclonedx(document: str | dict[str, Any], version: str) -> None:
    """Raises SbomError with the schema's first complaint and where it is."""
    data = json.loads(document) if isinstance(document, str) else document
    error = next(_validator(version).iter_errors(data), None)
    if error is not None:
        where = "/".join(str(p) for p in error.instance_path) or "(document)"
        raise SbomError(f"not a valid CycloneDX {version} document at {where}: {error.message}")


def read_cyclonedx(content: str | bytes) -> ComponentGraph:
    """A CycloneDX JSON BOM (1.2 to 1.7) made anywhere, validated, as a graph."""
    document = load_json(content)
    if document.get("bomFormat") != "CycloneDX":
        raise SbomError('not a CycloneDX JSON document (bomFormat is not "CycloneDX")')
    version = document.get("specVersion")
    if version not in READABLE_VERSIONS:
        raise SbomError(f"CycloneDX specVersion {version!r} is not one of {', '.join(READABLE_VERSIONS)}")
    validate_cyclonedx(document, version)
    metadata = document.get("metadata") or {}
    root_data = metadata.get("component") or {"name": "unnamed", "bom-ref": "sbom-root"}
    root = _read_component(root_data, fallback_ref="sbom-root")
    components = [
        _read_component(data, fallback_ref=f"component-{n}")
        for n, data in enumerate(_walk(document.get("components") or []))
    ]
    dependencies = document.get("dependencies")
    if dependencies is None:
        # No dependency graph given: everything listed is taken as the root's direct dependency.
        depends_on = {root.ref: [c.ref for c in components]}
    else:
        depends_on = {d["ref"]: list(d.get("dependsOn") or []) for d in dependencies}
    return assemble(root, components, depends_on)


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])


def _read_component(data: dict[str, Any], *, fallback_ref: str) -> Component:
    properties = {p.get("name"): p.get("value") for p in data.get("properties") or []}
    purl = data.get("purl")
    try:
        ecosystem, purl_name, purl_version = identity_from_purl(purl)
    except ValueError as error:
        raise SbomError(f"component {data.get('name')!r}: {error}") from error
    group = data.get("group")
    name = purl_name or (f"{group}/{data['name']}" if group else data["name"])
    kind_text = properties.get(KIND_PROPERTY)
    kind = DependencyKind(kind_text) if kind_text in _KIND_VALUES else None
    return Component(
        ref=data.get("bom-ref") or purl or fallback_ref,
        name=name,
        ecosystem=ecosystem,
        version=data.get("version") or purl_version,
        requirement=properties.get(REQUIREMENT_PROPERTY),
        purl=purl,
        kind=kind or _KINDS_OF_SCOPES.get(data.get("scope", "required"), DependencyKind.RUNTIME),
        hashes=tuple((h["alg"], h["content"]) for h in data.get("hashes") or []),
        license=_license(data.get("licenses") or []),
        summary=data.get("description"),
    )


def _license(licenses: list[dict[str, Any]]) -> str | None:
    for entry in licenses:
        if "expression" in entry:
            return str(entry["expression"])
        license_ = entry.get("license") or {}
        if license_.get("id") or license_.get("name"):
            return str(license_.get("id") or license_.get("name"))
    return None
