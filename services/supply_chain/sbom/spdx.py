"""SPDX 2.3 JSON: our graph written with spdx-tools (which validates the document against the
specification's rules before writing it), and SPDX 2.2/2.3 JSON made elsewhere read back into a graph
after spdx-tools has parsed it and its rules have validated it (in linear time: spdx_validation).

Packages are identified by a `purl` external reference. A dependency's kind is the relationship's
type (DEPENDS_ON, DEV_DEPENDENCY_OF, ...), so no extension is needed for it; the requirement of a
dependency without a pinned version is the relationship's comment (`requirement: ^1.2`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from license_expression import ExpressionError  # type: ignore[import-untyped]
from spdx_tools.common.spdx_licensing import spdx_licensing  # type: ignore[import-untyped]
from spdx_tools.spdx.document_utils import create_document_without_duplicates
from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory, Package
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.model.spdx_none import SpdxNone
from spdx_tools.spdx.parser.error import SPDXParsingError
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.creation_info_validator import validate_creation_info
from spdx_tools.spdx.validation.package_validator import validate_packages

from services.supply_chain.sbom.graph import (
    Component,
    ComponentGraph,
    DependencyKind,
    SbomError,
    assemble,
    identity_from_purl,
    ref_for,
)
from services.supply_chain.sbom.limits import load_json
from services.supply_chain.sbom.spdx_validation import validate_document

DOCUMENT_ID = "SPDXRef-DOCUMENT"
SPDX_VERSION = "SPDX-2.3"
REQUIREMENT_PREFIX = "requirement: "

# Relationship written from the dependency to its dependent ("X DEV_DEPENDENCY_OF root"), except
# DEPENDS_ON, written from the dependent.
_RELATIONSHIPS = {
    DependencyKind.DEV: RelationshipType.DEV_DEPENDENCY_OF,
    DependencyKind.OPTIONAL: RelationshipType.OPTIONAL_DEPENDENCY_OF,
    DependencyKind.BUILD: RelationshipType.BUILD_DEPENDENCY_OF,
    DependencyKind.TEST: RelationshipType.TEST_DEPENDENCY_OF,
    DependencyKind.PEER: RelationshipType.PROVIDED_DEPENDENCY_OF,
}
_KINDS = {relationship: kind for kind, relationship in _RELATIONSHIPS.items()} | {
    RelationshipType.DEPENDENCY_OF: DependencyKind.RUNTIME,
    RelationshipType.RUNTIME_DEPENDENCY_OF: DependencyKind.RUNTIME,
}
_FORWARD = {RelationshipType.DEPENDS_ON, RelationshipType.CONTAINS}


def to_spdx(
    graph: ComponentGraph, *, created: datetime, tool_version: str, document_namespace: str | None = None
) -> str:
    """The graph as SPDX 2.3 JSON; spdx-tools refuses (ValueError) a document that breaks its rules.

    The namespace (unique per document) defaults to a name-based UUID URN of the root and the instant,
    so the same graph written at the same instant is the same document; the wiring may pass the
    download URL instead.
    """
    ids = {graph.root.ref: "SPDXRef-Root"} | {
        c.ref: f"SPDXRef-Package-{n}" for n, c in enumerate(graph.components)
    }
    kinds = {c.ref: c.kind for c in graph.components}
    requirements = {c.ref: c.requirement for c in graph.components if c.requirement}
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, ids[graph.root.ref])]
    for ref, targets in graph.edges:
        for target in targets:
            comment = REQUIREMENT_PREFIX + requirements[target] if target in requirements else None
            relationship = _RELATIONSHIPS.get(kinds.get(target, DependencyKind.RUNTIME))
            if relationship is None:
                relationships.append(
                    Relationship(ids[ref], RelationshipType.DEPENDS_ON, ids[target], comment)
                )
            else:
                relationships.append(Relationship(ids[target], relationship, ids[ref], comment))
    document = Document(
        creation_info=CreationInfo(
            spdx_version=SPDX_VERSION,
            spdx_id=DOCUMENT_ID,
            name=graph.root.purl or graph.root.name,
            document_namespace=document_namespace
            or f"urn:uuid:{uuid5(NAMESPACE_URL, f'{graph.root.ref}#{created.isoformat()}')}",
            creators=[Actor(ActorType.TOOL, f"machine-native-ops-{tool_version}")],
            created=created,
        ),
        packages=[_package(ids[c.ref], c) for c in (graph.root, *graph.components)],
        relationships=relationships,
    )
    # spdx-tools' whole-document validation rebuilds the list of every SPDX id for each id it checks
    # (quadratic: about 1 s for 1,000 packages, most of a stored scan's time). The ids and the
    # relationships between them are made here from the graph, right by construction; what comes from
    # outside (names, versions, licenses, purls, checksums) and the creation info are checked by
    # spdx-tools' own validators of each element, linearly. tests/supply_chain/test_sbom.py runs the
    # whole-document validation on the output.
    problems = [
        *validate_creation_info(document.creation_info, SPDX_VERSION),
        *validate_packages(document.packages, SPDX_VERSION),
    ]
    if problems:
        raise ValueError(f"Document is not valid. The following errors were detected: {problems}")
    converter = DocumentConverter()  # type: ignore[no-untyped-call]  # spdx-tools leaves it untyped
    document_dict = converter.convert(create_document_without_duplicates(document))
    # spdx-tools writes the category's enum name (`PACKAGE_MANAGER`), which the SPDX 2.3 JSON schema
    # as released refuses: the specification and that schema spell it `PACKAGE-MANAGER`, and the
    # 2.3.1 schema accepts both (spdx/spdx-spec#792, #793; spdx/tools-python#813). Written with the
    # dash, the document is valid against either; every reader, spdx-tools' own too, takes it.
    for package in document_dict.get("packages", []):
        for reference in package.get("externalRefs", []):
            reference["referenceCategory"] = reference["referenceCategory"].replace("_", "-")
    return json.dumps(document_dict, indent=4)  # as spdx-tools' JSON writer lays it out


def _package(spdx_id: str, component: Component) -> Package:
    license_ = _license(component.license)
    return Package(
        spdx_id=spdx_id,
        name=component.name,
        download_location=SpdxNoAssertion(),
        version=component.version,
        files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, v) for alg, v in component.hashes if alg == "SHA-256"],
        license_declared=license_,
        license_concluded=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        summary=component.summary,
        external_references=(
            [ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", component.purl)]
            if component.purl
            else []
        ),
    )


def _license(text: str | None) -> Any:
    if not text:
        return SpdxNoAssertion()
    try:
        return spdx_licensing.parse(text, validate=True)
    except ExpressionError:
        return SpdxNoAssertion()  # free text (a licence name, "BSD"): not an SPDX expression


def read_spdx(content: str | bytes) -> ComponentGraph:
    """An SPDX 2.2/2.3 JSON document made anywhere, parsed by spdx-tools and validated by its rules, as a
    graph. The validation is spdx_validation's: the library's whole-document validation, messages
    and all, without its quadratic id lookups (14 s for 5,000 packages)."""
    data = load_json(content)
    if data.get("spdxVersion") not in ("SPDX-2.2", "SPDX-2.3"):
        raise SbomError(f"SPDX version {data.get('spdxVersion')!r} is not SPDX-2.2 or SPDX-2.3")
    try:
        document = JsonLikeDictParser().parse(data)  # type: ignore[no-untyped-call]
    except SPDXParsingError as error:
        raise SbomError(f"not a valid SPDX document: {'; '.join(error.messages)[:2000]}") from error
    problems = validate_document(document)
    if problems:
        text = "; ".join(p.validation_message for p in problems[:10])
        raise SbomError(f"not a valid SPDX document ({len(problems)} problems): {text}")
    return _graph(document)


def _graph(document: Document) -> ComponentGraph:
    packages = {p.spdx_id: p for p in document.packages}
    edges: dict[str, list[str]] = defaultdict(list)
    kinds: dict[str, DependencyKind] = {}
    requirements: dict[str, str] = {}
    described: list[str] = []
    for relationship in document.relationships:
        source, type_ = relationship.spdx_element_id, relationship.relationship_type
        target = relationship.related_spdx_element_id
        if not isinstance(target, str):
            continue  # NONE / NOASSERTION: nothing to connect
        if type_ is RelationshipType.DESCRIBES and source == DOCUMENT_ID:
            described.append(target)
            continue
        if type_ is RelationshipType.DESCRIBED_BY and target == DOCUMENT_ID:
            described.append(source)
            continue
        if type_ in _FORWARD:
            dependent, dependency, kind = source, target, DependencyKind.RUNTIME
        elif type_ in _KINDS:
            dependent, dependency, kind = target, source, _KINDS[type_]
        else:
            continue
        if dependent not in packages or dependency not in packages:
            continue  # files and snippets: an SBOM's graph is of packages
        edges[dependent].append(dependency)
        kinds.setdefault(dependency, kind)
        comment = relationship.comment or ""
        if comment.startswith(REQUIREMENT_PREFIX):
            requirements.setdefault(dependency, comment.removeprefix(REQUIREMENT_PREFIX))
    described = [d for d in dict.fromkeys(described) if d in packages]
    components = {
        spdx_id: _component(package, kinds.get(spdx_id, DependencyKind.RUNTIME), requirements.get(spdx_id))
        for spdx_id, package in packages.items()
    }
    refs = {spdx_id: c.ref for spdx_id, c in components.items()}
    if len(described) == 1:
        root = components.pop(described[0])
    else:
        # Several packages described (or none): the document itself is the root, depending on them.
        root = Component(ref=DOCUMENT_ID, name=document.creation_info.name)
        refs[DOCUMENT_ID] = DOCUMENT_ID
        edges[DOCUMENT_ID].extend(described or list(packages))
    depends_on = {refs[k]: [refs[t] for t in v] for k, v in edges.items()}
    return assemble(root, components.values(), depends_on)


def _component(package: Package, kind: DependencyKind, requirement: str | None) -> Component:
    purl = next(
        (r.locator for r in package.external_references if r.reference_type == "purl"),
        None,
    )
    try:
        ecosystem, name, purl_version = identity_from_purl(purl)
    except ValueError as error:
        raise SbomError(f"package {package.spdx_id}: {error}") from error
    version = package.version or purl_version
    return Component(
        ref=ref_for(purl, requirement) if purl else package.spdx_id,
        name=name or package.name,
        ecosystem=ecosystem,
        version=version,
        requirement=requirement,
        purl=purl,
        kind=kind,
        hashes=tuple(
            ("SHA-256", c.value) for c in package.checksums if c.algorithm is ChecksumAlgorithm.SHA256
        ),
        license=_license_text(package.license_declared),
        summary=package.summary,
    )


def _license_text(value: Any) -> str | None:
    if value is None or isinstance(value, SpdxNoAssertion | SpdxNone):
        return None
    return str(value)
