"""The aiohttp application of the edge, built from the route table.

Every route gets the same treatment: correlation id and trace context, authentication and the
route's permission, input validation into the route's pydantic model, dispatch (to an agent over
NATS, or a local handler), a typed JSON error for anything that goes wrong, an access-log record
and a latency histogram.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.gateway.auth import Authenticator
from services.gateway.errors import CODE_OF_STATUS, STATUS_OF, HttpProblem, error_response
from services.gateway.json_body import JsonRefused, read_json
from services.gateway.route_table import Call, ErrorPage, ErrorShape, Forward, Route, check_table
from shared.bus.client import Bus
from shared.bus.codec import validation_details
from shared.bus.context import MessageContext, TraceParent, valid_correlation_id
from shared.bus.errors import AgentError, BusError
from shared.db.data_errors import refused_value, store_unavailable
from shared.messages.envelope import ErrorBody, ErrorCode, Principal
from shared.messages.permissions import allows
from shared.metrics import HTTP_REQUEST_SECONDS

REQUEST_ID_HEADER = "X-Request-Id"
CONTEXT = web.RequestKey("mno_ctx", MessageContext)
ERROR_SHAPE: web.RequestKey[ErrorShape] = web.RequestKey("mno_error_shape")
ERROR_PAGE: web.RequestKey[ErrorPage] = web.RequestKey("mno_error_page")
AUTHENTICATOR = web.AppKey("mno_authenticator", Authenticator)
# The table the app was built from, for the handler that describes it (the OpenAPI document).
ROUTE_TABLE: web.AppKey[list[Route]] = web.AppKey("mno_route_table")
# What routes are dispatched with, for in-process calls on a request's behalf (gateway/inprocess.py).
BUS: web.AppKey[Bus] = web.AppKey("mno_bus")
PLAN_GATE: web.AppKey[PlanGate | None] = web.AppKey("mno_plan_gate")

log = structlog.get_logger("mno.edge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    routes: list[Route],
    *,
    bus: Bus,
    authenticator: Authenticator,
    max_body_bytes: int,
    plan_gate: PlanGate | None = None,
    request_timeout: float | None = None,
) -> web.Application:
    check_table(routes)
    # aiohttp's own limit is the largest any route allows; each route's own limit is applied when
    # its body is read (see _read_body).
    largest = max([max_body_bytes, *(r.max_body_bytes for r in routes if r.max_body_bytes)])
    app = web.Application(
        client_max_size=largest,
        middlewares=[_observe, _errors],
    )
    app[AUTHENTICATOR] = authenticator
    app[ROUTE_TABLE] = routes
    app[BUS] = bus
    app[PLAN_GATE] = plan_gate
    for route in routes:
        if route.feature is not None and plan_gate is None:
            raise ValueError(f"{route.method} {route.path} needs a plan gate for feature {route.feature}")
        handler = _endpoint(
            route, bus, authenticator, route.max_body_bytes or max_body_bytes, plan_gate, request_timeout
        )
        app.router.add_route(route.method, route.path, handler, name=route.operation_id)
    return app


def request_context(request: web.Request) -> MessageContext:
    return request[CONTEXT]


async def authenticate(request: web.Request) -> Principal | None:
    """Who the request's credentials prove, by the edge's own authenticators: for a public route
    that describes whoever calls (any credential, or none)."""
    return await request.app[AUTHENTICATOR].authenticate(request)


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Correlation id, trace context, access log and latency histogram for every request."""
    correlation_id = valid_correlation_id(request.headers.get(REQUEST_ID_HEADER))
    trace = TraceParent.parse(request.headers.get("traceparent"))
    ctx = MessageContext(trace=trace.child() if trace else TraceParent.new())
    if correlation_id:
        ctx = MessageContext(correlation_id=correlation_id, trace=ctx.trace)
    request[CONTEXT] = ctx
    started = time.perf_counter()
    status = 500
    with structlog.contextvars.bound_contextvars(**ctx.log_fields()):
        try:
            response = await handler(request)
            status = response.status
            response.headers[REQUEST_ID_HEADER] = ctx.correlation_id
            return response
        finally:
            elapsed = time.perf_counter() - started
            resource = request.match_info.route.resource
            template = resource.canonical if resource is not None else "unmatched"
            HTTP_REQUEST_SECONDS.labels(request.method, template, str(status)).observe(elapsed)
            log.info(
                "http request",
                method=request.method,
                path=request.path,
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                remote=request.remote,
            )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as the typed JSON error body; never an HTML page, never a traceback."""
    try:
        return await handler(request)
    except HttpProblem as problem:
        headers = {"WWW-Authenticate": "Bearer"} if problem.body.code == ErrorCode.UNAUTHENTICATED else None
        return _error(request, problem.body, headers=headers)
    except (BusError, AgentError) as error:
        return _error(request, error.body, headers=_retry_after(error.body))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = CODE_OF_STATUS.get(error.status, ErrorCode.BAD_REQUEST)
        message = error.reason if error.status != 413 else "the request body is larger than allowed"
        allow = error.headers.get("Allow")
        if isinstance(error, web.HTTPMethodNotAllowed):
            message = f"{request.method} is not allowed here; allowed: {allow or 'none'}"
        return _error(
            request,
            ErrorBody(code=code, message=message),
            status=error.status,
            headers={"Allow": allow} if allow is not None else None,
        )
    except Exception as error:
        refused = refused_value(error)
        if refused is not None:
            # Bad input that validation let through: the caller's to fix, and ours to tighten.
            log.warning("a store refused a value", error=repr(error))
            return _error(request, refused)
        unavailable = store_unavailable(error)
        if unavailable is not None:
            log.warning("a store is unavailable", error=repr(error))
            return _error(request, unavailable, headers=_retry_after(unavailable))
        log.exception("unhandled error at the edge")
        return _error(
            request, ErrorBody(code=ErrorCode.INTERNAL, message="internal error; quote the correlation id")
        )


def _error(
    request: web.Request, body: ErrorBody, *, status: int | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """The typed error body, or the route's own error shape when it declares one."""
    correlation_id = request_context(request).correlation_id
    page = request.get(ERROR_PAGE)
    if page is not None:
        answer: web.Response = page(request, body, status or STATUS_OF[body.code], correlation_id)
        return answer
    shape = request.get(ERROR_SHAPE)
    if shape is None:
        return error_response(body, correlation_id, status=status, headers=headers)
    status = status or STATUS_OF[body.code]
    return web.Response(
        text=json.dumps(shape(body, status)), status=status, content_type="application/json", headers=headers
    )


# A 503 of the bus (no agent serves the subject, the bus is down) says when to retry: about the time
# an agent or nats-server takes to restart.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


def _retry_after(body: ErrorBody) -> dict[str, str] | None:
    """A 429 or 503 names when to retry (the latest `retry_after_seconds` of its details; a 503
    without one, the default), as HTTP asks."""
    if body.code not in (ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE):
        return None
    waits = [d["retry_after_seconds"] for d in body.details if isinstance(d.get("retry_after_seconds"), int)]
    if not waits and body.code == ErrorCode.UNAVAILABLE:
        waits = [UNAVAILABLE_RETRY_AFTER_SECONDS]
    return {"Retry-After": str(max(waits))} if waits else None


class PlanGate(Protocol):
    async def require_feature(self, principal: Principal, feature: str) -> None:
        """Return if the principal's team's plan includes `feature`; raise a typed error otherwise."""
        ...


def _past_deadline(method: str, seconds: float | None) -> tuple[ErrorCode, str]:
    """What a request abandoned at the edge's deadline is told: a read can simply be asked again; a
    write may have been applied (its agent may still finish it), so its outcome is unknown."""
    if method in ("GET", "HEAD"):
        return ErrorCode.TIMEOUT, f"the request took longer than {seconds} s and was abandoned; ask again"
    return (
        ErrorCode.OUTCOME_UNKNOWN,
        f"the request took longer than {seconds} s and was abandoned; it may or may not have been applied: "
        "check before repeating it, or repeat it with the same ids where the route deduplicates them",
    )


def _endpoint(
    route: Route,
    bus: Bus,
    authenticator: Authenticator,
    body_limit: int,
    plan_gate: PlanGate | None,
    request_timeout: float | None,
) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request_context(request)
        if route.error_shape is not None:
            request[ERROR_SHAPE] = route.error_shape
        if route.error_page is not None:
            request[ERROR_PAGE] = route.error_page
        if route.permission != "public":
            principal = await authenticator.authenticate(request)
            if principal is None:
                raise HttpProblem(ErrorCode.UNAUTHENTICATED, "a valid bearer token is required")
            ctx = MessageContext(correlation_id=ctx.correlation_id, trace=ctx.trace, principal=principal)
            request[CONTEXT] = ctx
            structlog.contextvars.bind_contextvars(**ctx.log_fields())
            await admit(route, principal, plan_gate)
        deadline = asyncio.timeout(request_timeout if route.deadline else None)
        try:
            async with deadline:
                # Read only once the caller is known: an anonymous client cannot make us buffer bodies.
                body = (
                    await _read_body(request, body_limit)
                    if route.has_body and not route.streamed_body
                    else None
                )
                model = route.input_model
                data = (
                    _decode_input(request, route, model, body)
                    if model is not None and not route.raw_body
                    else None
                )
                result = await dispatch(route, bus, request, ctx, data, body if route.raw_body else None)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise HttpProblem(*_past_deadline(request.method, request_timeout)) from None
        if isinstance(result, web.StreamResponse):
            return result
        return web.Response(
            text=result.model_dump_json(), status=route.status, content_type="application/json"
        )

    return handle


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (by Content-Length at once, else as read)."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes")
    # read(n) returns what has arrived so far (at most n bytes): a large body takes several reads.
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise HttpProblem(ErrorCode.PAYLOAD_TOO_LARGE, f"the request body is larger than {limit} bytes")
    return b"".join(chunks)


def _decode_input(
    request: web.Request, route: Route, model: type[BaseModel], body: bytes | None
) -> BaseModel:
    fields: dict[str, Any] = {}
    if route.has_body:
        fields.update(_json_body(request, body or b"", _needs_body(route, model)))
    else:
        fields.update(request.query)
    for name in route.path_params:
        if name in fields and fields[name] != request.match_info[name]:
            raise HttpProblem(ErrorCode.BAD_REQUEST, f"{name} in the body differs from the path")
        fields[name] = request.match_info[name]
    return validate_input(model, fields)


def validate_input(model: type[BaseModel], fields: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise HttpProblem(
            ErrorCode.VALIDATION_FAILED, "the request does not match its schema", validation_details(error)
        ) from error


async def admit(route: Route, principal: Principal, plan_gate: PlanGate | None) -> None:
    """The route's permission and plan feature for this principal (403 naming what is missing)."""
    if route.permission == "public":
        return
    if not allows(principal, route.permission):
        raise HttpProblem(ErrorCode.FORBIDDEN, f"this needs the {route.permission.value} permission")
    if route.feature is not None and plan_gate is not None:
        await plan_gate.require_feature(principal, route.feature)


async def dispatch(
    route: Route, bus: Bus, request: web.Request, ctx: MessageContext, data: Any, raw: bytes | None
) -> BaseModel | web.StreamResponse:
    """The route's target with its validated input: the agent endpoint over the bus, or the local handler."""
    if isinstance(route.target, Forward):
        result: BaseModel = await bus.request(route.target.endpoint, data, ctx)
        return result
    return await route.target.handler(Call(request=request, input=data, ctx=ctx, body=raw))


def _needs_body(route: Route, model: type[BaseModel]) -> bool:
    """Whether the route has required fields that only a body can give (as its OpenAPI document says)."""
    return any(f.is_required() for name, f in model.model_fields.items() if name not in route.path_params)


def _json_body(request: web.Request, raw: bytes, required: bool) -> dict[str, Any]:
    if not raw.strip():
        # No body at all is "no fields" for a route whose fields are all optional; blanks are no body.
        if required:
            raise HttpProblem(
                ErrorCode.BAD_REQUEST,
                "this route needs a JSON object body",
                [{"loc": "body", "message": "the body is empty", "type": "missing_body"}],
            )
        return {}
    declared = request.headers.get("Content-Type")
    if declared is not None and not _is_json(request.content_type):
        raise HttpProblem(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        body = read_json(raw)
    except JsonRefused as error:
        raise HttpProblem(error.body.code, error.body.message, error.body.details) from error
    if not isinstance(body, dict):
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    return body


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")
