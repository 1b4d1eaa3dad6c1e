"""The linear SPDX validator (services/supply_chain/sbom/spdx_validation.py) against spdx-tools'
`validate_full_spdx_document`: on valid documents both find nothing, on broken ones both return the same
messages (text, context and order), so reading an upload refuses what the library refuses, saying the same.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.validation_message import ValidationMessage

from services.supply_chain.sbom.graph import SbomError, from_artifact
from services.supply_chain.sbom.spdx import read_spdx, to_spdx
from services.supply_chain.sbom.spdx_validation import validate_document
from tests.supply_chain.test_sbom import ARTIFACTS, CREATED, FOREIGN_SPDX

SHA1 = "d6a770ba38583ed4bb4525bd96e50461655d2758"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SHA3_256 = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
EXTERNAL = "DocumentRef-base"
DELETE = object()
Edits = list[tuple[str, object]]

# An SPDX 2.3 document using every kind of element the validation looks at: an external document
# reference, packages with and without analysed files (verification code, licences from files, homepage,
# checksums, purl, CPE, advisory and OTHER references), files, a snippet with byte and line ranges,
# annotations, relationships to NONE, NOASSERTION and an element of the external document, extracted
# licensing info and licence expressions using it, an exception and an external licence reference.
RICH: dict[str, Any] = {
    "spdxVersion": "SPDX-2.3",
    "dataLicense": "CC0-1.0",
    "SPDXID": "SPDXRef-DOCUMENT",
    "name": "rich",
    "documentNamespace": "https://example.com/spdx/rich-1",
    "creationInfo": {
        "created": "2025-01-01T00:00:00Z",
        "creators": ["Tool: syft-1.0", "Person: Jane Doe (jane@example.com)", "Organization: Acme"],
    },
    "externalDocumentRefs": [
        {
            "externalDocumentId": EXTERNAL,
            "spdxDocument": "https://example.com/spdx/base-1",
            "checksum": {"algorithm": "SHA1", "checksumValue": SHA1},
        }
    ],
    "documentDescribes": ["SPDXRef-app"],
    "packages": [
        {
            "SPDXID": "SPDXRef-app",
            "name": "app",
            "versionInfo": "1.0",
            "downloadLocation": "git+https://github.com/acme/app.git",
            "homepage": "https://acme.example.com",
            "filesAnalyzed": True,
            "packageVerificationCode": {
                "packageVerificationCodeValue": SHA1,
                "packageVerificationCodeExcludedFiles": ["./package.spdx"],
            },
            "licenseInfoFromFiles": ["MIT", "LicenseRef-custom"],
            "licenseConcluded": "MIT AND LicenseRef-custom",
            "licenseDeclared": "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "copyrightText": "Copyright Acme",
            "checksums": [{"algorithm": "SHA256", "checksumValue": SHA256}],
            "primaryPackagePurpose": "APPLICATION",
            "releaseDate": "2025-01-01T00:00:00Z",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:npm/app@1.0",
                },
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "cpe23Type",
                    "referenceLocator": "cpe:2.3:a:acme:app:1.0:*:*:*:*:*:*:*",
                },
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "advisory",
                    "referenceLocator": "https://nvd.nist.gov/vuln/detail/CVE-2020-0001",
                },
                {"referenceCategory": "OTHER", "referenceType": "anything", "referenceLocator": "no-spaces"},
            ],
            "hasFiles": ["SPDXRef-main"],
        },
        {
            "SPDXID": "SPDXRef-lodash",
            "name": "lodash",
            "versionInfo": "4.17.20",
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": f"MIT OR {EXTERNAL}:LicenseRef-base",
            "copyrightText": "NONE",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:npm/lodash@4.17.20",
                }
            ],
            "annotations": [
                {
                    "annotator": "Tool: scanner-2",
                    "annotationDate": "2025-01-02T00:00:00Z",
                    "annotationType": "OTHER",
                    "comment": "scanned",
                }
            ],
        },
    ],
    "files": [
        {
            "SPDXID": "SPDXRef-main",
            "fileName": "./src/main.js",
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": SHA1},
                {"algorithm": "SHA3-256", "checksumValue": SHA3_256},
            ],
            "licenseConcluded": "MIT",
            "licenseInfoInFiles": ["MIT", "NOASSERTION"],
            "copyrightText": "Copyright Acme",
        },
        {
            "SPDXID": "SPDXRef-readme",
            "fileName": "./README",
            "checksums": [{"algorithm": "SHA1", "checksumValue": SHA1}],
            "licenseConcluded": "NONE",
            "licenseInfoInFiles": ["NONE"],
            "copyrightText": "NOASSERTION",
        },
    ],
    "snippets": [
        {
            "SPDXID": "SPDXRef-snippet",
            "snippetFromFile": "SPDXRef-main",
            "ranges": [
                {
                    "startPointer": {"offset": 10, "reference": "SPDXRef-main"},
                    "endPointer": {"offset": 20, "reference": "SPDXRef-main"},
                },
                {
                    "startPointer": {"lineNumber": 1, "reference": "SPDXRef-main"},
                    "endPointer": {"lineNumber": 3, "reference": "SPDXRef-main"},
                },
            ],
            "licenseConcluded": "Apache-2.0",
            "licenseInfoInSnippets": ["Apache-2.0"],
            "copyrightText": "Copyright Acme",
        }
    ],
    "annotations": [
        {
            "annotator": "Person: Jane Doe",
            "annotationDate": "2025-01-02T00:00:00Z",
            "annotationType": "REVIEW",
            "comment": "looked at it",
            "SPDXID": "SPDXRef-DOCUMENT",  # ignored by the parser: the document's own annotations
        }
    ],
    "hasExtractedLicensingInfos": [
        {
            "licenseId": "LicenseRef-custom",
            "extractedText": "Do what you like.",
            "name": "Custom",
            "seeAlsos": ["https://example.com/license"],
        }
    ],
    "relationships": [
        {
            "spdxElementId": "SPDXRef-app",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": "SPDXRef-lodash",
        },
        {
            "spdxElementId": "SPDXRef-app",
            "relationshipType": "DEPENDS_ON",
            "relatedSpdxElement": f"{EXTERNAL}:SPDXRef-base-lib",
        },
        {
            "spdxElementId": "SPDXRef-readme",
            "relationshipType": "CONTAINED_BY",
            "relatedSpdxElement": "SPDXRef-app",
        },
        {"spdxElementId": "SPDXRef-lodash", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "NONE"},
        {
            "spdxElementId": "SPDXRef-lodash",
            "relationshipType": "GENERATED_FROM",
            "relatedSpdxElement": "NOASSERTION",
        },
        {
            "spdxElementId": "SPDXRef-snippet",
            "relationshipType": "SPECIFICATION_FOR",
            "relatedSpdxElement": "SPDXRef-main",
        },
    ],
}


def _rich_2_2() -> dict[str, Any]:
    """RICH as a valid SPDX 2.2 document: without what 2.3 added (purposes, dates, SHA3, the advisory
    reference type, the SPECIFICATION_FOR relationship)."""
    document = copy.deepcopy(RICH)
    document["spdxVersion"] = "SPDX-2.2"
    app = document["packages"][0]
    del app["primaryPackagePurpose"], app["releaseDate"], app["externalRefs"][2]  # advisory: 2.3
    document["files"][0]["checksums"] = document["files"][0]["checksums"][:1]
    document["relationships"] = document["relationships"][:-1]
    return document


RICH_2_2 = _rich_2_2()


def _edit(document: dict[str, Any], path: str, value: object) -> None:
    """Replaces the value at a /-separated path ("-" appends to a list, DELETE removes the key)."""
    *parents, last = path.split("/")
    target: Any = document
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if last == "-":
        target.append(value)
    elif value is DELETE:
        del target[int(last) if isinstance(target, list) else last]
    else:
        target[int(last) if isinstance(target, list) else last] = value


def _parsed(document: dict[str, Any], edits: Edits) -> Document:
    """The document with the edits made, parsed by spdx-tools."""
    changed = copy.deepcopy(document)
    for path, value in edits:
        _edit(changed, path, value)
    return JsonLikeDictParser().parse(changed)  # type: ignore[no-untyped-call]


def _both(document: Document, spdx_version: str | None = None) -> list[ValidationMessage]:
    """The library's messages, after checking the linear validator returns exactly them."""
    expected = validate_full_spdx_document(document, spdx_version)
    assert validate_document(document, spdx_version) == expected
    return expected


def _texts(messages: list[ValidationMessage]) -> str:
    return "\n".join(m.validation_message for m in messages)


def _our_documents() -> dict[str, dict[str, Any]]:
    return {
        f"to_spdx-{ecosystem}": json.loads(
            to_spdx(from_artifact(artifact), created=CREATED, tool_version="t")
        )
        for ecosystem, artifact in ARTIFACTS.items()
    }


VALID = {"rich-2.3": RICH, "rich-2.2": RICH_2_2, "foreign": FOREIGN_SPDX, **_our_documents()}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_documents_have_no_problems_for_either(name: str) -> None:
    """Every SPDX document of the tests (ours, an uploaded one, rich 2.2 and 2.3 ones) is valid to both."""
    assert _both(_parsed(VALID[name], [])) == []


# (document, edits, what the library says): each one breaks one rule, both must say the same.
BROKEN: dict[str, tuple[dict[str, Any], Edits, str]] = {
    # ids
    "duplicate package id": (RICH, [("packages/1/SPDXID", "SPDXRef-app")], "must be unique"),
    "file id equal to a package id": (
        RICH,
        [("files/1/SPDXID", "SPDXRef-lodash"), ("relationships/2/spdxElementId", "SPDXRef-lodash")],
        "duplicates: ['SPDXRef-lodash']",
    ),
    "malformed package id": (RICH, [("packages/1/SPDXID", "SPDXRef-lo_dash")], "must begin with"),
    "id with two colons": (RICH, [("relationships/0/relatedSpdxElement", "a:b:c")], "more than one colon"),
    "document id not SPDXRef-DOCUMENT": (
        RICH,
        [("SPDXID", "SPDXRef-DOC")],
        "spdx_id must be SPDXRef-DOCUMENT",
    ),
    # references
    "relationship to an unknown id": (
        RICH,
        [("relationships/0/relatedSpdxElement", "SPDXRef-ghost")],
        'did not find the referenced spdx_id "SPDXRef-ghost"',
    ),
    "relationship from an unknown id": (
        RICH,
        [("relationships/0/spdxElementId", "SPDXRef-ghost")],
        'did not find the referenced spdx_id "SPDXRef-ghost"',
    ),
    "relationship to an undeclared external document": (
        RICH,
        [("relationships/1/relatedSpdxElement", "DocumentRef-other:SPDXRef-lib")],
        'did not find the external document reference "DocumentRef-other"',
    ),
    "relationship to a malformed external element": (
        RICH,
        [("relationships/1/relatedSpdxElement", f"{EXTERNAL}:lib")],
        "internal SPDX id part",
    ),
    "relationship to a malformed external document": (
        RICH,
        [("relationships/1/relatedSpdxElement", "Base:SPDXRef-lib")],
        "external document reference part",
    ),
    "package id in an undeclared external document": (
        RICH,
        [("packages/1/SPDXID", "DocumentRef-other:SPDXRef-lodash")],
        'did not find the external document reference "DocumentRef-other"',
    ),
    "annotation of an unknown element": (RICH, [], 'did not find the referenced spdx_id "SPDXRef-ghost"'),
    "snippet of an unknown file": (
        RICH,
        [("snippets/0/snippetFromFile", "SPDXRef-ghost")],
        "in the SPDX document's files",
    ),
    "snippet of a package, not a file": (
        RICH,
        [("snippets/0/snippetFromFile", "SPDXRef-lodash")],
        "in the SPDX document's files",
    ),
    "snippet of an external file": (
        RICH,
        [("snippets/0/snippetFromFile", "DocumentRef-other:SPDXRef-f")],
        'external document reference "DocumentRef-other"',
    ),
    # describes
    "no DESCRIBES with several packages": (RICH, [("documentDescribes", [])], "at least one relationship"),
    "DESCRIBES from another element only": (
        FOREIGN_SPDX,
        [("relationships/0/spdxElementId", "SPDXRef-jest")],
        "at least one relationship",
    ),
    # creation info
    "data licence": (RICH, [("dataLicense", "MIT")], 'data_license must be "CC0-1.0"'),
    "namespace with a fragment": (
        RICH,
        [("documentNamespace", "https://example.com/x#y")],
        "document_namespace",
    ),
    "namespace without a scheme": (RICH, [("documentNamespace", "example.com/x")], "document_namespace"),
    "external document ref id": (
        RICH,
        [("externalDocumentRefs/0/externalDocumentId", "Base")],
        "document_ref_id must only contain",
    ),
    "external document uri": (RICH, [("externalDocumentRefs/0/spdxDocument", "not a uri")], "document_uri"),
    "external document checksum": (
        RICH,
        [("externalDocumentRefs/0/checksum/checksumValue", "abc")],
        "must consist of 40 lowercase hexadecimal digits",
    ),
    # packages
    "download location": (RICH, [("packages/1/downloadLocation", "somewhere")], "download_location"),
    "homepage": (RICH, [("packages/0/homepage", "not a url")], "homepage must be a valid URL"),
    "package checksum length": (RICH, [("packages/0/checksums/0/checksumValue", "abc")], "64 lowercase"),
    "purl locator": (RICH, [("packages/1/externalRefs/0/referenceLocator", "lodash")], 'type "purl"'),
    "cpe locator": (RICH, [("packages/0/externalRefs/1/referenceLocator", "cpe:bad")], 'type "cpe23Type"'),
    "advisory locator": (
        RICH,
        [("packages/0/externalRefs/2/referenceLocator", "nope")],
        "must be a valid URL",
    ),
    "swid locator": (
        RICH,
        [("packages/0/externalRefs/2/referenceType", "swid")],
        'externalPackageRef locator of type "swid"',
    ),
    "reference type not of its category": (
        RICH,
        [("packages/1/externalRefs/0/referenceType", "cpe23Type")],
        "must be one of",
    ),
    "OTHER locator with a space": (
        RICH,
        [("packages/0/externalRefs/3/referenceLocator", "a b")],
        "must contain no spaces",
    ),
    "verification code without analysed files": (
        RICH,
        [("packages/0/filesAnalyzed", False)],
        "verification_code must be None",
    ),
    "verification code value": (
        RICH,
        [("packages/0/packageVerificationCode/packageVerificationCodeValue", "x")],
        "value of verification_code",
    ),
    "verification code excluding an absolute path": (
        RICH,
        [("packages/0/packageVerificationCode/packageVerificationCodeExcludedFiles", ["/etc/passwd"])],
        "absolute path",
    ),
    "CONTAINS a file without analysed files": (
        RICH,
        [
            ("packages/0/filesAnalyzed", False),
            ("packages/0/packageVerificationCode", DELETE),
            ("packages/0/licenseInfoFromFiles", DELETE),
        ],
        "package must contain no elements if files_analyzed is False",
    ),
    "CONTAINED_BY a package without analysed files": (
        RICH,
        [("relationships/2/relatedSpdxElement", "SPDXRef-lodash")],
        "package must contain no elements if files_analyzed is False",
    ),
    "licences from files without analysed files": (
        RICH,
        [("packages/1/licenseInfoFromFiles", ["MIT"])],
        "license_info_from_files must be None",
    ),
    # licences
    "unknown licence id": (
        RICH,
        [("packages/1/licenseDeclared", "Foo-1.0")],
        "Unrecognized license reference",
    ),
    "licence ref without extracted info": (
        RICH,
        [("packages/0/licenseConcluded", "MIT AND LicenseRef-other")],
        "Unrecognized license reference: LicenseRef-other",
    ),
    "external licence ref of an undeclared document": (
        RICH,
        [("packages/1/licenseDeclared", "DocumentRef-other:LicenseRef-x")],
        'Did not find the external document reference "DocumentRef-other"',
    ),
    "external licence ref not a LicenseRef": (
        RICH,
        [("packages/1/licenseDeclared", f"{EXTERNAL}:Custom-x")],
        'A license reference must start with "LicenseRef-"',
    ),
    "exception used as a licence": (
        RICH,
        [("packages/1/licenseDeclared", "Classpath-exception-2.0")],
        "for license_expression",
    ),
    "licence used as an exception": (
        RICH,
        [("packages/1/licenseDeclared", "MIT WITH Apache-2.0")],
        "for license",
    ),
    "licence from files unknown": (
        RICH,
        [("packages/0/licenseInfoFromFiles", ["Foo-1.0", "Bar-2.0"])],
        "Unrecognized license reference: Bar-2.0",
    ),
    "file licence unknown": (RICH, [("files/0/licenseInfoInFiles", ["Foo-1.0"])], "Unrecognized"),
    "snippet licence unknown": (RICH, [("snippets/0/licenseConcluded", "Foo-1.0")], "Unrecognized"),
    "extracted licence id": (RICH, [("hasExtractedLicensingInfos/0/licenseId", "Custom")], "LicenseRef-"),
    "extracted licence see-also": (
        RICH,
        [("hasExtractedLicensingInfos/0/seeAlsos", ["not a url"])],
        "cross_reference must be a valid URL",
    ),
    # files and snippets
    "absolute file name": (RICH, [("files/1/fileName", "/README")], "absolute path"),
    "file without SHA1": (
        RICH,
        [("files/1/checksums", [{"algorithm": "MD5", "checksumValue": "0" * 32}])],
        "must contain a SHA1",
    ),
    "byte range reversed": (
        RICH,
        [("snippets/0/ranges/0/startPointer/offset", 30)],
        "first value of byte_range",
    ),
    "byte range from 0": (RICH, [("snippets/0/ranges/0/startPointer/offset", 0)], "byte_range values"),
    "line range from 0": (RICH, [("snippets/0/ranges/1/startPointer/lineNumber", 0)], "line_range values"),
    "line range reversed": (
        RICH,
        [("snippets/0/ranges/1/startPointer/lineNumber", 9)],
        "first value of line",
    ),
    # SPDX 2.2 against 2.3
    "2.3 fields in a 2.2 document": (RICH, [("spdxVersion", "SPDX-2.2")], "not supported in SPDX-2.2"),
    "2.2 package without licences": (
        RICH_2_2,
        [("packages/1/licenseConcluded", DELETE), ("packages/1/licenseDeclared", DELETE)],
        "license_concluded is mandatory in SPDX-2.2",
    ),
    "2.2 package without copyright": (
        RICH_2_2,
        [("packages/1/copyrightText", DELETE)],
        "copyright_text is mandatory in SPDX-2.2",
    ),
    "2.2 file without licence info": (
        RICH_2_2,
        [("files/1/licenseInfoInFiles", DELETE), ("files/1/copyrightText", DELETE)],
        "license_info_in_file is mandatory in SPDX-2.2",
    ),
    "2.2 snippet without licence": (
        RICH_2_2,
        [("snippets/0/licenseConcluded", DELETE)],
        "license_concluded is mandatory in SPDX-2.2",
    ),
    "2.2 reference type": (
        RICH_2_2,
        [("packages/0/externalRefs/-", RICH["packages"][0]["externalRefs"][2])],
        'type "advisory" is not supported in SPDX-2.2',
    ),
    "2.2 without mandatory fields is fine in 2.3": (
        RICH,
        [("packages/1/copyrightText", DELETE), ("files/1/licenseInfoInFiles", DELETE), ("dataLicense", "x")],
        "data_license",
    ),
    "unsupported SPDX version": (RICH, [("spdxVersion", "SPDX-2.1"), ("dataLicense", "x")], "cancelled"),
}


def _annotate_a_ghost(document: Document) -> None:
    document.annotations[0].spdx_id = "SPDXRef-ghost"  # the JSON names no annotation's subject


CHANGES: dict[str, Callable[[Document], None]] = {"annotation of an unknown element": _annotate_a_ghost}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_documents_get_the_librarys_messages(name: str) -> None:
    """A document breaking one rule gets exactly the library's messages, naming that rule."""
    base, edits, expected = BROKEN[name]
    document = _parsed(base, edits)
    if name in CHANGES:
        CHANGES[name](document)
    messages = _both(document)
    assert messages
    assert expected in _texts(messages)


def test_rules_the_json_parser_cannot_break_are_checked_alike() -> None:
    """A tool with an e-mail address, an annotator too, and an annotation of nothing: built in the model."""
    document = _parsed(RICH, [])
    document.creation_info.creators.append(Actor(ActorType.TOOL, "tool", "tool@example.com"))
    document.annotations[0].annotator = Actor(ActorType.TOOL, "tool", "tool@example.com")
    document.annotations[1].spdx_id = "DocumentRef-other:SPDXRef-x"
    messages = _both(document)
    assert _texts(messages).count("email must be None if actor_type is TOOL") == 2
    assert 'external document reference "DocumentRef-other"' in _texts(messages)


@pytest.mark.parametrize("version", ["SPDX-2.2", "SPDX-2.3", "SPDX-3.0"])
def test_an_explicit_version_is_compared_alike(version: str) -> None:
    """Validating as a given version: a mismatch, a 2.3 document as 2.2 and an unknown version, alike."""
    messages = _both(_parsed(RICH, []), version)
    assert bool(messages) is (version != "SPDX-2.3")


def test_only_files_count_as_contained_in_a_package_without_analysed_files() -> None:
    """CONTAINS of a package, or of an id both a package and a file have, is no file: both allow it."""
    contains = {"spdxElementId": "SPDXRef-lodash", "relationshipType": "CONTAINS"}
    document = _parsed(
        RICH,
        [
            ("relationships/-", {**contains, "relatedSpdxElement": "SPDXRef-app"}),
            ("relationships/-", {**contains, "relatedSpdxElement": "SPDXRef-dual"}),
            ("packages/-", {**RICH["packages"][1], "SPDXID": "SPDXRef-dual", "annotations": []}),
            ("files/-", {**RICH["files"][1], "SPDXID": "SPDXRef-dual"}),
        ],
    )
    messages = _both(document)
    assert [m.validation_message for m in messages] == [
        "every spdx_id must be unique within the document, but found the following duplicates: "
        "['SPDXRef-dual']"
    ]


def _generated(seed: int) -> Document:
    """A random document of 20-60 packages, files and snippets, with duplicate, dangling, external and
    malformed references, containment of files and licence expressions drawn from good and bad ones."""
    rng = random.Random(seed)
    document = copy.deepcopy(RICH if rng.random() < 0.5 else RICH_2_2)
    ids = ["SPDXRef-DOCUMENT", "SPDXRef-app", "SPDXRef-lodash", "SPDXRef-main", "SPDXRef-readme"]
    licences = [
        "MIT",
        "Apache-2.0 OR MIT",
        "LicenseRef-custom",
        "LicenseRef-nope",
        "Foo",
        "NOASSERTION",
        f"{EXTERNAL}:LicenseRef-x",
        "DocumentRef-x:LicenseRef-x",
        "MIT WITH Classpath-exception-2.0",
    ]
    for n in range(rng.randint(20, 60)):
        kind = rng.choice(["package", "package", "file", "snippet"])
        spdx_id = rng.choice([f"SPDXRef-{kind}-{n}", f"SPDXRef-{kind}-{n}", rng.choice(ids), f"bad {n}"])
        ids.append(spdx_id)
        if kind == "package":
            document["packages"].append(
                {
                    "SPDXID": spdx_id,
                    "name": f"p{n}",
                    "downloadLocation": "NOASSERTION",
                    "filesAnalyzed": rng.random() < 0.3,
                    "licenseConcluded": rng.choice(licences),
                    "licenseDeclared": rng.choice(licences),
                    "copyrightText": "NOASSERTION",
                }
            )
        elif kind == "file":
            document["files"].append(
                {
                    "SPDXID": spdx_id,
                    "fileName": f"./f{n}",
                    "checksums": [{"algorithm": "SHA1", "checksumValue": SHA1}],
                    "licenseConcluded": rng.choice(licences),
                    "licenseInfoInFiles": [rng.choice(licences)],
                    "copyrightText": "NONE",
                }
            )
        else:
            snippet = copy.deepcopy(RICH["snippets"][0])
            snippet["SPDXID"] = spdx_id
            snippet["snippetFromFile"] = rng.choice(ids)
            document["snippets"].append(snippet)
    targets = [
        *ids,
        "SPDXRef-ghost",
        f"{EXTERNAL}:SPDXRef-x",
        "DocumentRef-x:SPDXRef-y",
        "NONE",
        "NOASSERTION",
    ]
    types = ["DEPENDS_ON", "CONTAINS", "CONTAINED_BY", "DESCRIBES", "DESCRIBED_BY", "SPECIFICATION_FOR"]
    document["relationships"] = [
        {"spdxElementId": rng.choice(ids), "relationshipType": rng.choice(types), "relatedSpdxElement": t}
        for t in rng.choices(targets, k=rng.randint(0, 80))
    ]
    if rng.random() < 0.5:
        document["documentDescribes"] = []
    return JsonLikeDictParser().parse(document)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("seed", range(40))
def test_generated_documents_get_the_same_messages(seed: int) -> None:
    """Random documents mixing every kind of broken reference get the same messages from both."""
    _both(_generated(seed))


def test_read_spdx_refuses_with_the_librarys_words() -> None:
    """An upload's error body lists the library's messages, as it did when the library validated."""
    broken = copy.deepcopy(FOREIGN_SPDX)
    broken["relationships"][1]["relatedSpdxElement"] = "SPDXRef-ghost"  # type: ignore[index]
    broken["dataLicense"] = "MIT"
    problems = validate_full_spdx_document(_parsed(broken, []))
    text = "; ".join(p.validation_message for p in problems[:10])
    with pytest.raises(SbomError) as raised:
        read_spdx(json.dumps(broken))
    assert str(raised.value) == f"not a valid SPDX document ({len(problems)} problems): {text}"
