"""The OpenAPI 3.1 document, generated from the route table and pydantic's JSON schemas."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.gateway.errors import STATUS_OF, ErrorResponse
from services.gateway.route_table import RequestBody, Route

REF = "#/components/schemas/{model}"
# `{name:regex}` segments (aiohttp's syntax for a parameter spanning several segments, e.g. the rest of
# a proxied path): documented as a string path parameter `name`.
_REGEX_PARAM = re.compile(r"{([a-z_][a-z0-9_]*):[^}]*}")
ERROR_STATUSES_ALWAYS = (400, 500)
# Answers with no body, hence no media type: a redirect (its Location says where) and 204.
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_CONTENT = frozenset({204, 304}) | _REDIRECTS


def document_path(path: str) -> str:
    """The route's path as OpenAPI templates it: `{tail:.*}` (aiohttp's regex) is `{tail}`."""
    return _REGEX_PARAM.sub(r"{\1}", path)


def _error_statuses(route: Route) -> list[int]:
    statuses = set(ERROR_STATUSES_ALWAYS)
    if route.permission != "public":
        statuses |= {401, 403}
    if route.input_model is not None:
        statuses.add(422)
    if route.has_body:
        statuses |= {413, 415}
    if route.routed_to != "gateway":
        statuses |= {503, 504}
    statuses |= set(route.extra_status)
    return sorted(statuses)


def openapi_document(routes: list[Route], *, title: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorResponse}
    for route in routes:
        for model in (route.input_model, route.output_model):
            if model is not None:
                models.add(model)
        if route.body is not None:
            models |= {m for m in route.body.content.values() if isinstance(m, type)}
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schemas = models_json_schema([(model, "validation") for model in ordered], ref_template=REF)
    components = schemas.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(document_path(route.path), {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": list(route.tags),
        "x-mno-permission": route.permission if route.permission == "public" else route.permission.value,
        "x-mno-routed-to": route.routed_to,
        # The plan feature the team must have (403 `feature_not_in_plan` otherwise); null: every plan.
        "x-mno-feature": route.feature,
        "security": [] if route.permission == "public" else [{"bearer": []}],
    }
    model = route.input_model
    rules = _rules(model)
    if rules:
        # Cross-field rules JSON Schema cannot state (and query parameters carry no schema of their
        # model): named on the operation, so clients know every rule the server enforces.
        operation["x-mno-rules"] = rules
        operation["description"] = "Rules: " + "; ".join(rules) + "."
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _field_schema(model, name)}
        for name in route.path_params
    ]
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _REGEX_PARAM.findall(route.path)
    ]
    if model is not None and (not route.has_body or route.reads_own_body):
        for name, field in model.model_fields.items():
            if name not in route.path_params:
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": field.is_required(),
                        "schema": _field_schema(model, name),
                    }
                )
    if parameters:
        operation["parameters"] = parameters
    if route.reads_own_body:
        if route.body is None:
            raise ValueError(f"{route.method} {route.path} reads its own body: declare it (`body=`)")
        operation["requestBody"] = _own_body(route.body)
    elif model is not None and route.has_body:
        operation["requestBody"] = {
            "required": any(
                f.is_required() for n, f in model.model_fields.items() if n not in route.path_params
            ),
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
    responses: dict[str, Any] = {}
    output = route.output_model
    if output is not None:
        success: dict[str, Any] = {route.media_type: {"schema": {"$ref": REF.format(model=output.__name__)}}}
    else:
        success = {route.media_type: {}}
    for media_type in route.other_media_types:
        success[media_type] = {}
    responses[str(route.status)] = _response("success", route.status, success)
    error_content = _error_content(route)
    for status in _error_statuses(route):
        if str(status) not in responses:
            responses[str(status)] = _response(_describe(status), status, error_content)
    operation["responses"] = responses
    return operation


def _own_body(body: RequestBody) -> dict[str, Any]:
    content: dict[str, Any] = {}
    for media_type, schema in body.content.items():
        if isinstance(schema, type):
            content[media_type] = {"schema": {"$ref": REF.format(model=schema.__name__)}}
        else:
            content[media_type] = {"schema": schema or {"type": "string", "contentMediaType": media_type}}
    return {"required": body.required, "description": body.description, "content": content}


def _error_content(route: Route) -> dict[str, Any]:
    """What the route's errors look like: pages for the dashboard's (whatever its success media
    type, e.g. a CSV export), the provider's own JSON shape for the proxy's, ours otherwise."""
    if route.error_page is not None:
        return {route.error_page_media_type: {}}
    if route.error_shape is not None:
        return {"application/json": {"schema": {"type": "object"}}}
    return {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}


def _response(description: str, status: int, content: dict[str, Any]) -> dict[str, Any]:
    if status not in _NO_CONTENT:
        return {"description": description, "content": content}
    if status in _REDIRECTS:
        location = {"Location": {"required": True, "schema": {"type": "string"}}}
        return {"description": "redirect", "headers": location}
    return {"description": description}


def _rules(model: type[BaseModel] | None) -> list[str]:
    extra = model.model_config.get("json_schema_extra") if model is not None else None
    rules = extra.get("x-mno-rules") if isinstance(extra, dict) else None
    return [str(rule) for rule in rules] if isinstance(rules, list) else []


def _field_schema(model: type[BaseModel] | None, name: str) -> dict[str, Any]:
    if model is None:
        return {"type": "string"}
    schema = model.model_json_schema(ref_template=REF)
    prop: dict[str, Any] = schema.get("properties", {}).get(name, {"type": "string"})
    return prop


def _describe(status: int) -> str:
    if status in _REDIRECTS:
        return "redirect"
    for code, known in STATUS_OF.items():
        if known == status:
            return code.value.replace("_", " ")
    return "error"
