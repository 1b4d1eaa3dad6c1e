"""OpenVEX 0.2.0's rules as a JSON Schema of our own, written from the specification's field tables
(OPENVEX-SPEC.md v0.2.0, "Document Struct Fields", "Statement Fields", "Status Labels", "Status
Justifications"): no installed or pip-installable package ships OpenVEX's schema, so the tests check
an export against the rules it states, not only against the fields a test happens to look at.

What it checks: the document's required fields (`@context`, `@id`, `author`, `timestamp`, `version`
an integer from 1, `statements` with at least one statement: "a data structure grouping one or more
VEX statements"), each statement's `vulnerability.name` and `status` from the four labels, the five
justification labels, `not_affected` with a justification or an impact statement (exactly one: the
specification lets an impact statement enrich a justification, OpenVEX's published JSON schema does
not, so an export that validators accept holds one), `affected` with an action statement, RFC 3339
timestamps, and no field the specification does not define.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

_RFC3339 = {"type": "string", "format": "date-time"}
_IDENTIFIERS = {
    "type": "object",
    "properties": {"purl": {"type": "string"}, "cpe22": {"type": "string"}, "cpe23": {"type": "string"}},
    "additionalProperties": False,
}
_COMPONENT = {
    "type": "object",
    "properties": {
        "@id": {"type": "string"},
        "identifiers": _IDENTIFIERS,
        "hashes": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_PRODUCT = {
    **_COMPONENT,
    "properties": {
        **_COMPONENT["properties"],  # type: ignore[dict-item]
        "subcomponents": {"type": "array", "items": {**_COMPONENT, "additionalProperties": False}},
    },
    "additionalProperties": False,
}
_STATEMENT = {
    "type": "object",
    "required": ["vulnerability", "status"],
    "properties": {
        "@id": {"type": "string"},
        "version": {"type": "integer", "minimum": 1},
        "vulnerability": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "@id": {"type": "string"},
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "aliases": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "timestamp": _RFC3339,
        "last_updated": _RFC3339,
        "products": {"type": "array", "minItems": 1, "items": _PRODUCT},
        "status": {"enum": ["not_affected", "affected", "fixed", "under_investigation"]},
        "supplier": {"type": "string"},
        "status_notes": {"type": "string"},
        "justification": {
            "enum": [
                "component_not_present",
                "vulnerable_code_not_present",
                "vulnerable_code_not_in_execute_path",
                "vulnerable_code_cannot_be_controlled_by_adversary",
                "inline_mitigations_already_exist",
            ]
        },
        "impact_statement": {"type": "string"},
        "action_statement": {"type": "string"},
        "action_statement_timestamp": _RFC3339,
    },
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"status": {"const": "not_affected"}}},
            "then": {
                "oneOf": [
                    {"required": ["justification"], "not": {"required": ["impact_statement"]}},
                    {"required": ["impact_statement"], "not": {"required": ["justification"]}},
                ]
            },
        },
        {
            "if": {"properties": {"status": {"const": "affected"}}},
            "then": {"required": ["action_statement"]},
        },
    ],
}
OPENVEX_0_2_0: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["@context", "@id", "author", "timestamp", "version", "statements"],
    "properties": {
        "@context": {"const": "https://openvex.dev/ns/v0.2.0"},
        "@id": {"type": "string", "minLength": 1},
        "author": {"type": "string", "minLength": 1},
        "role": {"type": "string"},
        "timestamp": _RFC3339,
        "last_updated": _RFC3339,
        "version": {"type": "integer", "minimum": 1},
        "tooling": {"type": "string"},
        "statements": {"type": "array", "minItems": 1, "items": _STATEMENT},
    },
    "additionalProperties": False,
}

_VALIDATOR = Draft202012Validator(OPENVEX_0_2_0, format_checker=Draft202012Validator.FORMAT_CHECKER)


def openvex_problems(document: Any) -> list[str]:
    """Every rule the document breaks, as `path: message` (empty when it is valid OpenVEX 0.2.0)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
