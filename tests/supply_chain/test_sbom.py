"""SBOMs: the component graph of an artifact version, CycloneDX 1.6 and SPDX 2.3 JSON written from it
(valid against the CycloneDX schema the library ships, and by spdx-tools' validation of the SPDX
specification's rules), read back into the same graph, and SBOMs made elsewhere read and refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from unittest import mock

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from services.supply_chain.index import AdvisoryIndex
from services.supply_chain.sbom.cyclonedx import read_cyclonedx, to_cyclonedx
from services.supply_chain.sbom.graph import (
    ArtifactVersion,
    Component,
    ComponentGraph,
    DeclaredDependency,
    DependencyKind,
    SbomError,
    assemble,
    from_artifact,
)
from services.supply_chain.sbom.limits import load_json
from services.supply_chain.sbom.spdx import read_spdx, to_spdx
from tests.supply_chain.records import events, record

CREATED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

ARTIFACTS = {
    "pypi": ArtifactVersion(
        "pypi",
        "demo-app",
        "1.4.0",
        (
            DeclaredDependency("requests", "==2.31.0"),
            DeclaredDependency("urllib3", ">=1.26,<3"),
            DeclaredDependency("pytest", ">=8", DependencyKind.TEST),
            DeclaredDependency("jinja2", "~=3.1", DependencyKind.OPTIONAL, resolved="3.1.2"),
        ),
        license="Apache-2.0",
        summary="A demo application",
        files=(("demo_app-1.4.0-py3-none-any.whl", SHA),),
    ),
    "npm": ArtifactVersion(
        "npm",
        "@acme/widget",
        "2.0.0",
        (
            DeclaredDependency("lodash", "4.17.20"),
            DeclaredDependency("@types/node", "^20.0.0", DependencyKind.DEV),
            DeclaredDependency("react", "^18.2.0", DependencyKind.PEER),
        ),
        license="MIT OR Apache-2.0",
    ),
    "maven": ArtifactVersion(
        "maven",
        "com.acme:service",
        "3.1",
        (
            DeclaredDependency("org.apache.logging.log4j:log4j-core", "2.14.1"),
            DeclaredDependency("junit:junit", "[4.13,5)", DependencyKind.TEST),
        ),
    ),
    "golang": ArtifactVersion(
        "golang",
        "github.com/acme/tool",
        "v1.2.0",
        (DeclaredDependency("golang.org/x/crypto", "v0.16.0"),),
    ),
    "cargo": ArtifactVersion(
        "cargo",
        "acme-cli",
        "0.3.0",
        (DeclaredDependency("serde", "1.0"), DeclaredDependency("openssl", "=0.10.54", DependencyKind.BUILD)),
        license="GPL-2.0-or-later WITH Classpath-exception-2.0",
    ),
}


def graph(ecosystem: str) -> ComponentGraph:
    return from_artifact(ARTIFACTS[ecosystem])


def test_pinned_requirements_become_versions_and_ranges_stay_requirements() -> None:
    """==2.31.0 and a lockfile-resolved version are versions; >=1.26,<3 stays a requirement, unscanned."""
    g = graph("pypi")
    by_name = {c.name: c for c in g.components}
    assert (by_name["requests"].version, by_name["requests"].requirement) == ("2.31.0", None)
    assert by_name["requests"].purl == "pkg:pypi/requests@2.31.0"
    assert (by_name["urllib3"].version, by_name["urllib3"].requirement) == (None, ">=1.26,<3")
    assert by_name["jinja2"].version == "3.1.2"
    assert by_name["pytest"].kind is DependencyKind.TEST
    assert by_name["requests"].path == ("pkg:pypi/demo-app@1.4.0", "pkg:pypi/requests@2.31.0")
    assert g.scan_targets() == [
        ("PyPI", "demo-app", "1.4.0"),
        ("PyPI", "jinja2", "3.1.2"),
        ("PyPI", "requests", "2.31.0"),
    ]


def test_each_ecosystem_pins_in_its_own_syntax() -> None:
    """npm `4.17.20`, Maven `2.14.1`, Go `v0.16.0`, Cargo `=0.10.54` pin; Cargo `1.0`, Maven ranges do not."""
    versions = {(c.ecosystem, c.name): c.version for e in ARTIFACTS for c in graph(e).components}
    assert versions[("npm", "lodash")] == "4.17.20"
    assert versions[("npm", "@types/node")] is None
    assert versions[("maven", "org.apache.logging.log4j:log4j-core")] == "2.14.1"
    assert versions[("maven", "junit:junit")] is None
    assert versions[("golang", "golang.org/x/crypto")] == "v0.16.0"
    assert versions[("cargo", "serde")] is None  # Cargo's `1.0` is ^1.0
    assert versions[("cargo", "openssl")] == "0.10.54"
    purls = {c.purl for e in ARTIFACTS for c in graph(e).components}
    assert "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1" in purls
    assert "pkg:golang/golang.org/x/crypto@v0.16.0" in purls


@pytest.mark.parametrize("ecosystem", sorted(ARTIFACTS))
def test_cyclonedx_output_is_valid_against_the_1_6_schema(ecosystem: str) -> None:
    """The CycloneDX JSON validates against the library's strict 1.6 schema and names components by purl."""
    text = to_cyclonedx(graph(ecosystem), created=CREATED, tool_version="0.1.0")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["purl"] == graph(ecosystem).root.purl
    assert {c["purl"] for c in document["components"]} == {c.purl for c in graph(ecosystem).components}


def test_cyclonedx_output_does_not_depend_on_the_order_components_are_added() -> None:
    """Components added in any order give the same document; each lists a licence text others share."""
    components = [
        Component(ref=f"pkg:{purl}", name=name, ecosystem=purl.split("/")[0], version="1.0", license=licence)
        for purl, name, licence in [
            ("npm/%40scope/b@1.0", "@scope/b", "MIT OR Apache-2.0"),
            ("pypi/a@1.0", "a", "MIT OR Apache-2.0"),
            ("maven/org.acme/c@1.0", "org.acme:c", "MIT"),
            ("npm/a@1.0", "a", None),
            ("cargo/z@1.0", "z", "MIT"),
        ]
    ]
    root = Component(ref="pkg:pypi/app@1.0", name="app", ecosystem="pypi", version="1.0")
    g = assemble(root, components, {root.ref: [c.ref for c in components]})
    written = to_cyclonedx(g, created=CREATED, tool_version="t")
    for order in (lambda c: str(c.bom_ref.value), lambda c: str(c.bom_ref.value)[::-1]):
        with mock.patch("services.supply_chain.sbom.cyclonedx._set_order", order):
            assert to_cyclonedx(g, created=CREATED, tool_version="t") == written
    licences = {c["bom-ref"]: c.get("licenses") for c in json.loads(written)["components"]}
    assert (
        licences["pkg:pypi/a@1.0"]
        == licences["pkg:npm/%40scope/b@1.0"]
        == [{"expression": "MIT OR Apache-2.0"}]
    )
    assert licences["pkg:cargo/z@1.0"] == licences["pkg:maven/org.acme/c@1.0"] == [{"license": {"id": "MIT"}}]


@pytest.mark.parametrize("ecosystem", sorted(ARTIFACTS))
def test_spdx_output_is_valid_spdx_2_3(ecosystem: str) -> None:
    """spdx-tools parses the SPDX JSON back and finds no violation of the SPDX 2.3 rules."""
    text = to_spdx(graph(ecosystem), created=CREATED, tool_version="0.1.0")
    document = JsonLikeDictParser().parse(json.loads(text))
    assert validate_full_spdx_document(document, "SPDX-2.3") == []
    packages = json.loads(text)["packages"]
    purls = {r["referenceLocator"] for p in packages for r in p.get("externalRefs", [])}
    assert purls == {c.purl for c in (graph(ecosystem).root, *graph(ecosystem).components)}


@pytest.mark.parametrize("ecosystem", sorted(ARTIFACTS))
def test_both_formats_round_trip_to_the_same_graph(ecosystem: str) -> None:
    """Reading our CycloneDX or SPDX output gives back the graph it was written from, field for field."""
    original = graph(ecosystem)
    assert read_cyclonedx(to_cyclonedx(original, created=CREATED, tool_version="0.1.0")) == original
    assert read_spdx(to_spdx(original, created=CREATED, tool_version="0.1.0")) == original


def test_writing_is_deterministic_for_one_instant() -> None:
    """The same graph written at the same instant is byte-identical (serial number and namespace included)."""
    g = graph("npm")
    assert to_cyclonedx(g, created=CREATED, tool_version="0.1.0") == to_cyclonedx(
        g, created=CREATED, tool_version="0.1.0"
    )
    assert to_spdx(g, created=CREATED, tool_version="0.1.0") == to_spdx(
        g, created=CREATED, tool_version="0.1.0"
    )


# A CycloneDX 1.5 BOM as other tools write it: nested components, a transitive dependency graph,
# no properties of ours, scopes only.
FOREIGN_CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "version": 1,
    "metadata": {"component": {"type": "application", "name": "shop", "bom-ref": "app"}},
    "components": [
        {
            "type": "library",
            "bom-ref": "flask",
            "name": "Flask",
            "version": "2.2.0",
            "purl": "pkg:pypi/flask@2.2.0",
            "components": [
                {
                    "type": "library",
                    "bom-ref": "werkzeug",
                    "name": "Werkzeug",
                    "version": "2.2.2",
                    "purl": "pkg:pypi/werkzeug@2.2.2",
                }
            ],
        },
        {"type": "library", "bom-ref": "mypy", "name": "mypy", "version": "1.0", "scope": "excluded"},
    ],
    "dependencies": [
        {"ref": "app", "dependsOn": ["flask", "mypy"]},
        {"ref": "flask", "dependsOn": ["werkzeug"]},
    ],
}


def test_an_uploaded_cyclonedx_bom_gives_transitive_paths() -> None:
    """Nested components are read, the path to a transitive dependency is app → flask → werkzeug."""
    g = read_cyclonedx(json.dumps(FOREIGN_CYCLONEDX))
    werkzeug = g.get("werkzeug")
    assert werkzeug is not None
    assert (werkzeug.ecosystem, werkzeug.name, werkzeug.version) == ("pypi", "werkzeug", "2.2.2")
    assert werkzeug.path == ("app", "flask", "werkzeug")
    mypy = g.get("mypy")
    assert mypy is not None
    assert mypy.kind is DependencyKind.DEV
    assert mypy.ecosystem is None
    assert g.scan_targets() == [("PyPI", "flask", "2.2.0"), ("PyPI", "werkzeug", "2.2.2")]


def test_findings_of_an_uploaded_sbom_carry_the_path() -> None:
    """An advisory on werkzeug 2.2.2 is found through the graph's scan targets, with its path."""
    index = AdvisoryIndex()
    index.add(record("PyPI", "werkzeug", [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.2.3"))]))
    g = read_cyclonedx(json.dumps(FOREIGN_CYCLONEDX))
    (finding,) = index.audit(g.scan_targets())
    component = next(c for c in g.components if (c.osv_ecosystem, c.name) == ("PyPI", finding.package))
    assert component.path == ("app", "flask", "werkzeug")


FOREIGN_SPDX = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "shop",
    "documentNamespace": "https://example.com/spdx/shop-1",
    "creationInfo": {"created": "2025-01-01T00:00:00Z", "creators": ["Tool: syft-1.0"]},
    "packages": [
        {"SPDXID": "SPDXRef-app", "name": "shop", "downloadLocation": "NOASSERTION", "filesAnalyzed": False},
        {
            "SPDXID": "SPDXRef-lodash",
            "name": "lodash",
            "versionInfo": "4.17.20",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:npm/lodash@4.17.20",
                }
            ],
        },
        {
            "SPDXID": "SPDXRef-jest",
            "name": "jest",
            "versionInfo": "29.0.0",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:npm/jest@29.0.0",
                }
            ],
        },
    ],
    "relationships": [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-app",
        },
        {
            "spdxElementId": "SPDXRef-app",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-lodash",
        },
        {
            "spdxElementId": "SPDXRef-jest",
            "relationshipType": "DEV_DEPENDENCY_OF",
            "relatedSpdxElement": "SPDXRef-app",
        },
    ],
}


def test_an_uploaded_spdx_document_is_read_with_kinds_from_relationship_types() -> None:
    """DESCRIBES picks the root, DEPENDS_ON is runtime, DEV_DEPENDENCY_OF is dev; purls name packages."""
    g = read_spdx(json.dumps(FOREIGN_SPDX))
    assert g.root.ref == "SPDXRef-app"
    kinds = {c.name: c.kind for c in g.components}
    assert kinds == {"lodash": DependencyKind.RUNTIME, "jest": DependencyKind.DEV}
    assert ("npm", "lodash", "4.17.20") in g.scan_targets()


@pytest.mark.parametrize(
    ("reader", "document", "message"),
    [
        (read_cyclonedx, {**FOREIGN_CYCLONEDX, "specVersion": "0.9"}, "specVersion"),
        (read_cyclonedx, {**FOREIGN_CYCLONEDX, "bomFormat": "SPDX"}, "bomFormat"),
        (
            read_cyclonedx,
            {**FOREIGN_CYCLONEDX, "components": [{"name": "no type"}]},
            "not a valid CycloneDX 1.5",
        ),
        (
            read_cyclonedx,
            {**FOREIGN_CYCLONEDX, "dependencies": [{"ref": "app", "dependsOn": ["ghost"]}]},
            "'ghost'",
        ),
        (read_spdx, {**FOREIGN_SPDX, "spdxVersion": "SPDX-2.1"}, "SPDX-2.1"),
        (read_spdx, {**FOREIGN_SPDX, "creationInfo": {"creators": []}}, "not a valid SPDX document"),
        (
            read_spdx,
            {**FOREIGN_SPDX, "packages": [{**FOREIGN_SPDX["packages"][0], "SPDXID": "bad id"}]},  # type: ignore[index]
            "not a valid SPDX document",
        ),
    ],
)
def test_invalid_sboms_are_refused_with_the_reason(
    reader: object, document: dict[str, object], message: str
) -> None:
    """Schema violations, unsupported versions and dangling references raise SbomError naming the problem."""
    with pytest.raises(SbomError, match=message):
        reader(json.dumps(document))  # type: ignore[operator]


def _spoil(path: str, value: object) -> dict[str, object]:
    """Our CycloneDX 1.6 BOM of the PyPI artifact with one value replaced ("-" appends to a list)."""
    document = json.loads(to_cyclonedx(from_artifact(ARTIFACTS["pypi"]), created=CREATED, tool_version="t"))
    *parents, last = path.split("/")
    target = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if last == "-":
        target.append(value)
    else:
        target[int(last) if isinstance(target, list) else last] = value
    return document  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("components/0/purl", 5, "components/0/purl"),
        ("metadata/timestamp", "yesterday", "metadata/timestamp"),  # a format, checked
        ("components/0/licenses", [{"license": {"id": "NOT-A-LICENSE"}}], "components/0/licenses"),  # $ref
        ("components/0/scope", "sometimes", "components/0/scope"),
        ("unexpected", True, "(document)"),  # additionalProperties
    ],
)
def test_the_bundled_cyclonedx_schema_still_refuses_what_the_librarys_validator_refuses(
    path: str, value: object, where: str
) -> None:
    """A BOM the library's own validator refuses is refused by ours too (types, formats, refs to the
    bundled SPDX licence list, enums, unknown properties), naming where."""
    document = _spoil(path, value)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is not None
    with pytest.raises(SbomError, match=f"not a valid CycloneDX 1.6 document at {re.escape(where)}"):
        read_cyclonedx(json.dumps(document))


def test_a_duplicated_component_breaks_unique_items() -> None:
    """uniqueItems, the check the library's validator spends seconds on, is still made: a component
    listed twice is refused."""
    document = _spoil("components/-", None)
    components = document["components"]
    assert isinstance(components, list)
    components[-1] = components[0]
    with pytest.raises(SbomError, match=r"at components: .*non-unique"):
        read_cyclonedx(json.dumps(document))


def test_hostile_documents_are_refused_before_parsing() -> None:
    """Over the size limit, nested past the parser, not JSON, or not an object: SbomError each time."""
    with pytest.raises(SbomError, match="more than"):
        load_json(b" " * 101, max_bytes=100)
    with pytest.raises(SbomError, match="nests too deeply"):
        load_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SbomError, match="not JSON"):
        load_json(b"\xff\xfe{")
    with pytest.raises(SbomError, match="JSON object"):
        load_json("[1]")
