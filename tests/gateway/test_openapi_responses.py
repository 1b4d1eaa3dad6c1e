"""The OpenAPI document declares each answer as the edge sends it (classes the fuzzer found): paths
as OpenAPI templates, redirects and 204s without a body, error pages as HTML, proxy errors in the
provider's shape rather than ours."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from agents.super_agent.routes import ROUTES
from services.gateway.openapi import document_path, openapi_document

DOCUMENT = openapi_document(ROUTES, title="t", version="1")
ERROR_RESPONSE = {"$ref": "#/components/schemas/ErrorResponse"}


def _operations() -> list[tuple[object, dict[str, object]]]:
    return [(route, DOCUMENT["paths"][document_path(route.path)][route.method.lower()]) for route in ROUTES]


def test_every_path_is_an_openapi_template_whose_parameters_are_declared() -> None:
    """No aiohttp regex (`{tail:.*}`) in a documented path; every `{name}` is a declared path parameter."""
    for path, methods in DOCUMENT["paths"].items():
        assert ":" not in path, path
        names = set(re.findall(r"{([^}]+)}", path))
        for operation in methods.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == declared, (path, names, declared)


def test_redirects_and_no_content_answers_declare_no_body() -> None:
    """Every documented redirect, 204 or 304 has no content (no media type to match); a redirect names
    its Location (304 Not Modified is not one: the client keeps what it has)."""
    seen = set()
    for route, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) in (204, 301, 302, 303, 304, 307, 308):
                seen.add(int(status))
                assert "content" not in response, (route, status)
            if 300 <= int(status) < 400 and int(status) != 304:
                assert "Location" in response["headers"], (route, status)
    assert {204, 302} <= seen


def test_errors_are_documented_in_the_shape_each_route_answers_them() -> None:
    """Dashboard routes (an error page) document HTML errors, even a CSV export, and the package
    clients' routes their text; proxy routes (the provider's error shape) a JSON object; every other
    route our ErrorResponse."""
    kinds = set()
    for route, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            if route.error_page is not None:
                kinds.add("page")
                assert content == {route.error_page_media_type: {}}, (route.path, status)
                assert route.error_page_media_type in ("text/html", "text/plain"), route.path
            elif route.error_shape is not None:
                kinds.add("provider")
                assert content["application/json"]["schema"] != ERROR_RESPONSE, (route.path, status)
            else:
                kinds.add("ours")
                assert content == {"application/json": {"schema": ERROR_RESPONSE}}, (route.path, status)
    assert kinds == {"page", "provider", "ours"}


def test_a_body_the_handler_reads_itself_is_documented_as_what_it_is() -> None:
    """Routes that read their own body (raw or streamed) document its media types, never their path
    model as a JSON body; twine's upload is a multipart form with the file as binary `content`."""
    own = [(route, operation) for route, operation in _operations() if route.reads_own_body]
    assert len(own) >= 15
    for route, operation in own:
        content = operation["requestBody"]["content"]
        model = route.input_model
        assert model is None or all(
            schema.get("schema") != {"$ref": f"#/components/schemas/{model.__name__}"}
            for schema in content.values()
        ), route
    upload = DOCUMENT["paths"]["/registry/{team}/pypi/legacy/"]["post"]["requestBody"]
    form = DOCUMENT["components"]["schemas"]["TwineUploadForm"]
    assert upload["content"] == {
        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/TwineUploadForm"}}
    }
    assert form["properties"]["content"] == {"format": "binary", "title": "Content", "type": "string"}
    assert {":action", "name", "version", "filetype", "content"} <= set(form["required"])
    sboms = DOCUMENT["paths"]["/api/v1/sboms"]["post"]
    assert [p["name"] for p in sboms["parameters"] if p["in"] == "query"] == ["filename"]


def test_a_route_that_reads_its_own_body_must_declare_it() -> None:
    """A later raw-body route without `body=` fails the document's build (the gap the fuzzer cannot see)."""
    upload = next(r for r in ROUTES if r.path == "/registry/{team}/pypi/legacy/")
    with pytest.raises(ValueError, match="declare it"):
        openapi_document([replace(upload, body=None)], title="t", version="1")
