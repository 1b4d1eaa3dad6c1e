"""The edge's HTTP server: aiohttp's own, answering requests it cannot parse with our typed JSON error.

A request line over 8 KiB, a malformed header or a bad method never reaches the application (nor its
middlewares): aiohttp's protocol answers it from `RequestHandler.handle_error`, as `text/plain`.
aiohttp has no option for that body, so the runner's server makes its connections with a handler
class whose `handle_error` answers `{"error": {...}, "correlation_id"}` like every other error.
(`web.Server.__call__` is the connection factory; it is the one place the class can be chosen.)
"""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from aiohttp.web_request import BaseRequest

from services.gateway.errors import CODE_OF_STATUS, error_response
from shared.messages.envelope import ErrorBody, ErrorCode, new_message_id


class _JsonErrorRequestHandler(web.RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own logging, and its refusal when a response has begun, are kept.
        plain = super().handle_error(request, status, exc, message)
        if status >= 500:
            body = ErrorBody(code=ErrorCode.INTERNAL, message="internal error; quote the correlation id")
        else:
            reason = (message or HTTPStatus(status).phrase).strip().splitlines()[0][:200]
            code = CODE_OF_STATUS.get(status, ErrorCode.BAD_REQUEST)
            body = ErrorBody(code=code, message=f"the request is not valid HTTP: {reason}")
        response = error_response(body, new_message_id(), status=plain.status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer unparseable requests with the typed JSON error."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _JsonErrorServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
