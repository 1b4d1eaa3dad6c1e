"""The route table model: every HTTP route declared once, with everything the edge and the docs need."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from shared.bus.context import MessageContext
from shared.messages.envelope import ErrorBody
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
# The edge's own errors (401, 403, 429, ...) as a route's callers expect them: (error, status) -> JSON.
ErrorShape = Callable[[ErrorBody, int], dict[str, Any]]
# The edge's errors as a page for people (routes answering HTML): (request, error, status, correlation id).
ErrorPage = Callable[[web.Request, ErrorBody, int, str], web.Response]


@dataclass(frozen=True)
class Local:
    """A route the gateway answers itself (health, discovery, fan-out over several agents)."""

    handler: LocalHandler
    description: str = "answered by the gateway"


@dataclass(frozen=True)
class Forward:
    """A route forwarded as a request to one agent endpoint; its models are the endpoint's."""

    endpoint: Endpoint[Any, Any]


@dataclass(frozen=True, eq=False)  # hashed by identity: Routes are hashed, and `content` holds dicts
class RequestBody:
    """The body of a route that reads it itself (raw_body or streamed_body), for the OpenAPI
    document: per media type, a model (of the body, or of a form's fields), a JSON schema, or None
    for bytes the document does not describe further (a protobuf, an archive)."""

    description: str
    content: Mapping[str, type[BaseModel] | dict[str, Any] | None]
    required: bool = True


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
    # Other media types the success answer may come in (e.g. an export's CSV beside its JSON lines).
    other_media_types: tuple[str, ...] = ()
    extra_status: tuple[int, ...] = field(default=())
    # The body handed over unparsed (e.g. to verify a signature over the exact bytes), and a
    # route-specific size limit (None: the edge's http.max_body_bytes).
    raw_body: bool = False
    max_body_bytes: int | None = None
    # The edge does not read the body: the handler streams `call.request.content` itself (webhooks
    # verify their signature as it arrives, under a budget of unverified bytes).
    streamed_body: bool = False
    # What such a route's body is (its `request` model then holds only path and query parameters).
    body: RequestBody | None = None
    # A plan feature the caller's team must have (403 naming it otherwise), e.g. "prompts".
    feature: str | None = None
    # Errors in another JSON shape than ours (proxy mode answers in its provider's, so the provider's
    # SDK shows them); None: the typed `ErrorResponse`.
    error_shape: ErrorShape | None = None
    # Errors as an HTML page (a dashboard page: sign-in for 401, a readable 403/404) instead of JSON.
    error_page: ErrorPage | None = None
    # The media type of `error_page`'s answers (package clients read text, browsers a page).
    error_page_media_type: str = "text/html"
    # Bounded by the edge's http.request_timeout_seconds (504 past it). False for answers that stream
    # for as long as they need (a proxied LLM call, an audit export).
    deadline: bool = True

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
    def reads_own_body(self) -> bool:
        """The handler reads the body (declared by `body`); the edge decodes no JSON input."""
        return self.has_body and (self.raw_body or self.streamed_body)

    @property
    def operation_id(self) -> str:
        # `{tail:.*}` (a parameter spanning segments) names itself without its pattern.
        words = re.sub(r"{([a-z_][a-z0-9_]*)(?::[^}]*)?}", r"\1", self.path)
        words = words.strip("/").replace("/", "_").replace("-", "_")
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


# The capabilities plans sell separately (the configuration's plan `features`), by the paths their
# routes live under. A route under one of these must declare that feature (`check_table` refuses
# the table otherwise), so a capability's routes cannot ship ungated, today's or a later issue's.
# Not here: `github` (sign-in and webhooks serve every plan: Marketplace purchases arrive through
# them) and capabilities gated inside a route rather than by it (a budget's forecast: `forecasts`).
GATED_PATHS: dict[str, str] = {
    "/api/v1/anomalies": "anomaly_detection",
    "/api/v1/forecasts": "forecasts",
    "/api/v1/artifacts": "artifacts",
    "/api/v1/packages": "artifacts",
    "/api/v1/registries": "artifacts",
    "/api/v1/registry": "artifacts",
    "/registry": "artifacts",
    "/api/v1/supply-chain": "supply_chain",
    "/api/v1/sboms": "supply_chain",
    "/api/v1/vulnerabilities": "supply_chain",
    "/api/v1/attestations": "supply_chain",
    "/api/v1/prompts": "prompts",
    "/api/v1/experiments": "prompts",
    "/api/v1/dashboard": "dashboard",
    "/dashboard": "dashboard",
    # The registry's pages sell with the registry (their routes check `dashboard` themselves too).
    "/dashboard/packages": "artifacts",
    # The prompts' and experiments' pages sell with prompts (they check `dashboard` themselves too).
    "/dashboard/prompts": "prompts",
    "/dashboard/experiments": "prompts",
}


def feature_of_path(path: str) -> str | None:
    """The plan feature a route at `path` must declare: that of the longest prefix it lies under
    (whole path segments: /api/v1/prompts covers /api/v1/prompts/{id}, not /api/v1/promptsx)."""
    best: str | None = None
    for prefix in GATED_PATHS:
        if (path == prefix or path.startswith(prefix + "/")) and (best is None or len(prefix) > len(best)):
            best = prefix
    return GATED_PATHS[best] if best is not None else None


def check_table(routes: list[Route]) -> None:
    """Refuse a table with duplicate (method, path) pairs, path parameters the model lacks, or a
    route of a gated capability that does not declare its plan feature."""
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.method, route.path)
        if key in seen:
            raise ValueError(f"route declared twice: {route.method} {route.path}")
        seen.add(key)
        needed = feature_of_path(route.path)
        if needed is not None and route.feature != needed:
            raise ValueError(
                f"{route.method} {route.path} belongs to the {needed} capability: declare feature={needed!r}"
            )
        model = route.input_model
        for param in route.path_params:
            if model is None or param not in model.model_fields:
                raise ValueError(
                    f"{route.method} {route.path}: path parameter {param} is not in the input model"
                )
