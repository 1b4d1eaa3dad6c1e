"""Calling the edge's own routes in-process, on behalf of the principal of a request being served.

Server-rendered pages need data on the server. They get it through the same routes every other
client uses: the route is looked up in the table the app was built from, then the same permission
check, plan-feature gate, input validation and dispatch (the agent endpoint over the bus, or the
route's local handler) run as for an HTTP request. Only the socket is skipped: the page's request
already carries the authenticated principal, so a loopback call would verify the same credential
again and add a hop. Errors are raised exactly as the HTTP path raises them (`HttpProblem`,
`AgentError`, `BusError`), so a page can show them or let the edge answer them.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from services.gateway.edge import BUS, PLAN_GATE, ROUTE_TABLE, admit, dispatch, validate_input
from services.gateway.errors import HttpProblem
from services.gateway.route_table import HttpMethod, Route
from shared.bus.context import MessageContext
from shared.messages.envelope import ErrorCode

M = TypeVar("M", bound=BaseModel)


@cache
def _index(routes: tuple[Route, ...]) -> dict[tuple[str, str], Route]:
    return {(route.method, route.path): route for route in routes}


class EdgeApi:
    """The route table as a client, acting as the principal of `ctx` within `request`."""

    def __init__(self, request: web.Request, ctx: MessageContext) -> None:
        self._request = request
        self._ctx = ctx
        table: list[Route] = request.app[ROUTE_TABLE]
        self._routes = _index(tuple(table))

    def route(self, method: HttpMethod, path: str) -> Route:
        """The route declared for (method, path template); a programming error when there is none."""
        try:
            return self._routes[(method, path)]
        except KeyError:
            raise LookupError(f"no route {method} {path} in the table") from None

    async def call(
        self,
        method: HttpMethod,
        path: str,
        expect: type[M],
        fields: dict[str, Any] | None = None,
    ) -> M:
        """The answer of route (method, path template) to `fields` (query, body and path parameters
        in one mapping, as the route's input model takes them), checked to be an `expect`."""
        route = self.route(method, path)
        principal = self._ctx.principal
        if route.permission != "public":
            if principal is None:
                raise HttpProblem(ErrorCode.UNAUTHENTICATED, "a valid bearer token is required")
            await admit(route, principal, self._request.app[PLAN_GATE])
        model = route.input_model
        data = validate_input(model, dict(fields or {})) if model is not None else None
        result = await dispatch(route, self._request.app[BUS], self._request, self._ctx, data, None)
        if isinstance(result, web.Response) and result.status == 200 and result.text is not None:
            # A route that writes its own response (`GET /api/v1/prompts/{name}`: an ETag) answers
            # its model as JSON: read back as the route's documented model.
            return expect.model_validate_json(result.text)
        if not isinstance(result, expect):
            raise TypeError(f"{method} {path} answered {type(result).__name__}, not {expect.__name__}")
        return result

    async def get(self, path: str, expect: type[M], **query: Any) -> M:
        return await self.call("GET", path, expect, {k: v for k, v in query.items() if v is not None})

    async def post(self, path: str, expect: type[M], body: dict[str, Any]) -> M:
        return await self.call("POST", path, expect, body)
