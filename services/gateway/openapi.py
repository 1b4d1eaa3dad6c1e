"""The OpenAPI 3.1 document, generated from the route table and pydantic's JSON schemas."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.gateway.errors import STATUS_OF, ErrorResponse
from services.gateway.route_table import Route

REF = "#/components/schemas/{model}"
# `{name:regex}` segments (aiohttp's syntax for a parameter spanning several segments, e.g. the rest of
# a proxied path): documented as a string path parameter `name`.
_REGEX_PARAM = re.compile(r"{([a-z_][a-z0-9_]*):[^}]*}")
ERROR_STATUSES_ALWAYS = (400, 500)


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
    ordered = sorted(models, key=lambda m: m.__name__)
    _, schemas = models_json_schema([(model, "validation") for model in ordered], ref_template=REF)
    components = schemas.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
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
        "security": [] if route.permission == "public" else [{"bearer": []}],
    }
    model = route.input_model
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _field_schema(model, name)}
        for name in route.path_params
    ]
    parameters += [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _REGEX_PARAM.findall(route.path)
    ]
    if model is not None and not route.has_body:
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
    if model is not None and route.has_body:
        operation["requestBody"] = {
            "required": any(
                f.is_required() for n, f in model.model_fields.items() if n not in route.path_params
            ),
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
        }
    responses: dict[str, Any] = {}
    output = route.output_model
    if output is not None:
        responses[str(route.status)] = {
            "description": "success",
            "content": {route.media_type: {"schema": {"$ref": REF.format(model=output.__name__)}}},
        }
    else:
        responses[str(route.status)] = {"description": "success", "content": {route.media_type: {}}}
    for status in _error_statuses(route):
        responses[str(status)] = {
            "description": _describe(status),
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}},
        }
    operation["responses"] = responses
    return operation


def _field_schema(model: type[BaseModel] | None, name: str) -> dict[str, Any]:
    if model is None:
        return {"type": "string"}
    schema = model.model_json_schema(ref_template=REF)
    prop: dict[str, Any] = schema.get("properties", {}).get(name, {"type": "string"})
    return prop


def _describe(status: int) -> str:
    for code, known in STATUS_OF.items():
        if known == status:
            return code.value.replace("_", " ")
    return "error"
