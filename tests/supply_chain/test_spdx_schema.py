"""Our SPDX output against the official SPDX 2.3 JSON schema (tests/data/spdx, where it comes from is in
its README), besides spdx-tools' rules (test_sbom.py): every ecosystem's document validates, and the
schema is live (it refuses what spdx-tools' own writer used to put in our documents)."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from services.supply_chain.sbom.spdx import read_spdx, to_spdx
from tests.supply_chain.test_sbom import ARTIFACTS, CREATED, graph

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "spdx" / "spdx-schema-2.3.json"


@cache
def _validator() -> Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def spdx_schema_problems(document: Any) -> list[str]:
    """Every violation of the SPDX 2.3 JSON schema, as `path: message` (empty when valid)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def test_the_vendored_schema_is_spdx_2_3() -> None:
    """The file is the SPDX project's 2.3 schema (its id and title), a valid draft-07 JSON Schema."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert (schema["$id"], schema["title"]) == ("http://spdx.org/rdf/terms/2.3", "SPDX 2.3")
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert _validator() is not None


@pytest.mark.parametrize("ecosystem", sorted(ARTIFACTS))
def test_every_ecosystems_spdx_output_validates_against_the_schema(ecosystem: str) -> None:
    """PyPI, npm, Maven, Go and Cargo documents (licences, checksums, purls, dependency kinds) are valid
    SPDX 2.3 JSON, their purls under the category the schema names `PACKAGE-MANAGER`."""
    document = json.loads(to_spdx(graph(ecosystem), created=CREATED, tool_version="0.1.0"))
    assert spdx_schema_problems(document) == []
    categories = {r["referenceCategory"] for p in document["packages"] for r in p.get("externalRefs", [])}
    assert categories == {"PACKAGE-MANAGER"}
    assert read_spdx(json.dumps(document)) == graph(ecosystem)  # and it still reads back


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (
            lambda d: d["packages"][0]["externalRefs"][0].update(referenceCategory="PACKAGE_MANAGER"),
            "packages/0/externalRefs/0/referenceCategory: 'PACKAGE_MANAGER' is not one of",
        ),
        (lambda d: d.pop("creationInfo"), "(document): 'creationInfo' is a required property"),
        (lambda d: d["packages"][1].pop("downloadLocation"), "'downloadLocation' is a required property"),
        (
            lambda d: d["relationships"][0].update(relationshipType="USES"),
            "relationships/0/relationshipType: 'USES' is not one of",
        ),
        (lambda d: d.update(sbomType="application"), "Additional properties are not allowed"),
    ],
    ids=["underscored-category", "no-creation-info", "no-download-location", "unknown-relationship", "extra"],
)
def test_the_schema_refuses_broken_documents(spoil: Any, problem: str) -> None:
    """Validation is live: each spoiled copy of a valid document breaks the schema, as it should."""
    document = json.loads(to_spdx(graph("npm"), created=CREATED, tool_version="0.1.0"))
    spoiled = copy.deepcopy(document)
    spoil(spoiled)
    problems = spdx_schema_problems(spoiled)
    assert any(problem in p for p in problems), problems
