"""The route table model: every HTTP route declared once, with everything the edge and the docs need."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from shared.bus.context import MessageContext
from shared.messages.permissions import Permission
from shared.messages.registry import Endpoint

PUBLIC: Literal["public"] = "public"

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_PATH_PARAM = re.compile(r"{([a-z_][a-z0-9_]*)}")


@dataclass(frozen=True)
class Call:
    """What a gateway-local handler receives: the validated input and who is asking."""

    request: web.Request
    input: Any
    ctx: MessageContext
    body: bytes | None = None  # the raw body, for routes declared with raw_body=True


LocalHandler = Callable[[Call], Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True)
class Local:
    """A route the gateway answers itself (health, discovery, fan-out over several agents)."""

    handler: LocalHandler
    description: str = "answered by the gateway"


@dataclass(frozen=True)
class Forward:
    """A route forwarded as a request to one agent endpoint; its models are the endpoint's."""

    endpoint: Endpoint[Any, Any]


@dataclass(frozen=True)
class Route:
    method: HttpMethod
    path: str
    summary: str
    permission: Permission | Literal["public"]
    target: Forward | Local
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ()
    media_type: str = "application/json"
    extra_status: tuple[int, ...] = field(default=())
    # The body handed over unparsed (e.g. to verify a signature over the exact bytes), and a
    # route-specific size limit (None: the edge's http.max_body_bytes).
    raw_body: bool = False
    max_body_bytes: int | None = None
    # A plan feature the caller's team must have (403 naming it otherwise), e.g. "prompts".
    feature: str | None = None

    @property
    def input_model(self) -> type[BaseModel] | None:
        if isinstance(self.target, Forward):
            return self.target.endpoint.request
        return self.request

    @property
    def output_model(self) -> type[BaseModel] | None:
        if isinstance(self.target, Forward):
            return self.target.endpoint.response
        return self.response

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def has_body(self) -> bool:
        return self.method in BODY_METHODS

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[{}]", "", self.path).strip("/").replace("/", "_").replace("-", "_")
        return f"{self.method.lower()}_{words}"

    @property
    def routed_to(self) -> str:
        if isinstance(self.target, Forward):
            return self.target.endpoint.subject
        return "gateway"


def local_route(
    method: HttpMethod,
    path: str,
    summary: str,
    permission: Permission,
    handler: LocalHandler,
    *,
    tags: tuple[str, ...],
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    extra: tuple[int, ...] = (),
) -> Route:
    """A route the edge answers itself, for a permission (the usual shape of team-scoped routes)."""
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        request=request,
        response=response,
        status=status,
        tags=tags,
        extra_status=extra,
    )


def check_table(routes: list[Route]) -> None:
    """Refuse a table with duplicate (method, path) pairs or path parameters the model lacks."""
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.method, route.path)
        if key in seen:
            raise ValueError(f"route declared twice: {route.method} {route.path}")
        seen.add(key)
        model = route.input_model
        for param in route.path_params:
            if model is None or param not in model.model_fields:
                raise ValueError(
                    f"{route.method} {route.path}: path parameter {param} is not in the input model"
                )
