"""The aiohttp application of the edge, built from the route table.

Every route gets the same treatment: correlation id and trace context, authentication and the
route's permission, input validation into the route's pydantic model, dispatch (to an agent over
NATS, or a local handler), a typed JSON error for anything that goes wrong, an access-log record
and a latency histogram.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.gateway.auth import Authenticator
from services.gateway.errors import CODE_OF_STATUS, HttpProblem, error_response
from services.gateway.route_table import Call, Forward, Route, check_table
from shared.bus.client import Bus
from shared.bus.codec import validation_details
from shared.bus.context import MessageContext, TraceParent, valid_correlation_id
from shared.bus.errors import BusError
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.permissions import roles_allow
from shared.metrics import HTTP_REQUEST_SECONDS

REQUEST_ID_HEADER = "X-Request-Id"

log = structlog.get_logger("mno.edge")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    routes: list[Route],
    *,
    bus: Bus,
    authenticator: Authenticator,
    max_body_bytes: int,
) -> web.Application:
    check_table(routes)
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[_observe, _errors],
    )
    for route in routes:
        app.router.add_route(
            route.method, route.path, _endpoint(route, bus, authenticator), name=route.operation_id
        )
    return app


def request_context(request: web.Request) -> MessageContext:
    ctx = request.get("mno_ctx")
    assert isinstance(ctx, MessageContext)
    return ctx


@web.middleware
async def _observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Correlation id, trace context, access log and latency histogram for every request."""
    correlation_id = valid_correlation_id(request.headers.get(REQUEST_ID_HEADER))
    trace = TraceParent.parse(request.headers.get("traceparent"))
    ctx = MessageContext(trace=trace.child() if trace else TraceParent.new())
    if correlation_id:
        ctx = MessageContext(correlation_id=correlation_id, trace=ctx.trace)
    request["mno_ctx"] = ctx
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
    ctx = request_context(request)
    try:
        return await handler(request)
    except HttpProblem as problem:
        headers = {"WWW-Authenticate": "Bearer"} if problem.body.code == ErrorCode.UNAUTHENTICATED else None
        return error_response(problem.body, ctx.correlation_id, headers=headers)
    except BusError as error:
        return error_response(error.body, ctx.correlation_id)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = CODE_OF_STATUS.get(error.status, ErrorCode.BAD_REQUEST)
        message = error.reason if error.status != 413 else "the request body is larger than allowed"
        return error_response(ErrorBody(code=code, message=message), ctx.correlation_id, status=error.status)
    except Exception:
        log.exception("unhandled error at the edge")
        return error_response(
            ErrorBody(code=ErrorCode.INTERNAL, message="internal error; quote the correlation id"),
            ctx.correlation_id,
        )


def _endpoint(route: Route, bus: Bus, authenticator: Authenticator) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request_context(request)
        if route.permission != "public":
            principal = await authenticator.authenticate(request)
            if principal is None:
                raise HttpProblem(ErrorCode.UNAUTHENTICATED, "a valid bearer token is required")
            if not roles_allow(principal.roles, route.permission):
                raise HttpProblem(ErrorCode.FORBIDDEN, f"this needs the {route.permission.value} permission")
            ctx = MessageContext(correlation_id=ctx.correlation_id, trace=ctx.trace, principal=principal)
            request["mno_ctx"] = ctx
            structlog.contextvars.bind_contextvars(**ctx.log_fields())
        model = route.input_model
        data = await _decode_input(request, route, model) if model is not None else None
        if isinstance(route.target, Forward):
            result: BaseModel | web.StreamResponse = await bus.request(route.target.endpoint, data, ctx)
        else:
            result = await route.target.handler(Call(request=request, input=data, ctx=ctx))
        if isinstance(result, web.StreamResponse):
            return result
        return web.Response(
            text=result.model_dump_json(), status=route.status, content_type="application/json"
        )

    return handle


async def _decode_input(request: web.Request, route: Route, model: type[BaseModel]) -> BaseModel:
    fields: dict[str, Any] = {}
    if route.has_body:
        fields.update(await _json_body(request))
    else:
        fields.update(request.query)
    for name in route.path_params:
        if name in fields and fields[name] != request.match_info[name]:
            raise HttpProblem(ErrorCode.BAD_REQUEST, f"{name} in the body differs from the path")
        fields[name] = request.match_info[name]
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise HttpProblem(
            ErrorCode.VALIDATION_FAILED, "the request does not match its schema", validation_details(error)
        ) from error


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # raises 413 past client_max_size
    if not raw.strip():
        return {}
    declared = request.headers.get("Content-Type")
    if declared is not None and not _is_json(request.content_type):
        raise HttpProblem(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpProblem(ErrorCode.BAD_REQUEST, f"the body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the body must be a JSON object")
    return body


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")
