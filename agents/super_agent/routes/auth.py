"""Routes of sign-in with GitHub: login, callback, the App's setup URL, session, logout."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel

from agents.super_agent.edge_deps import EdgeDeps, deps
from services.gateway.auth import CSRF_HEADER
from services.gateway.edge import authenticate
from services.gateway.errors import HttpProblem
from services.gateway.route_table import PUBLIC, Call, Local, Route
from services.identity import sessions, teams_api
from services.identity.login import LoginFlow
from shared.messages.envelope import ErrorCode
from shared.messages.identity import (
    CallbackQuery,
    InstallationLinked,
    LoginQuery,
    SessionInfo,
    SetupQuery,
)

AUTH = ("auth",)
LOGIN_PATH = "/auth/github/login"


def _login_flow(edge: EdgeDeps) -> LoginFlow:
    if edge.login is None:
        raise HttpProblem(ErrorCode.NOT_FOUND, "sign-in with GitHub is not configured (github.enabled)")
    return edge.login


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _set_cookie(
    response: web.Response, edge: EdgeDeps, name: str, value: str, max_age: int, path: str
) -> None:
    """Every cookie we set: unreadable by scripts, HTTPS-only (unless configured off), not sent cross-site."""
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, secure=edge.cookies.secure, samesite="Lax"
    )


def _session_token(call: Call) -> str | None:
    return call.request.cookies.get(deps(call).cookies.session_name)


async def login(call: Call) -> web.StreamResponse:
    edge = deps(call)
    started = await _login_flow(edge).begin(call.input.return_to)
    response = redirect(started.authorize_url)
    _set_cookie(
        response,
        edge,
        edge.cookies.binding_name,
        started.browser_binding,
        edge.cookies.binding_max_age,
        "/auth/github",
    )
    return response


async def callback(call: Call) -> web.StreamResponse:
    edge = deps(call)
    flow = _login_flow(edge)
    query: CallbackQuery = call.input
    if query.error:
        raise HttpProblem(ErrorCode.UNAUTHENTICATED, f"GitHub sign-in did not complete: {query.error}")
    if not query.code or not query.state:
        raise HttpProblem(ErrorCode.BAD_REQUEST, "the callback needs code and state")
    signed_in = await flow.complete(
        code=query.code,
        state=query.state,
        browser_binding=call.request.cookies.get(edge.cookies.binding_name),
        previous_session=_session_token(call),
        ip=call.request.remote,
        user_agent=call.request.headers.get("User-Agent"),
    )
    response = redirect(signed_in.return_to)
    _set_cookie(
        response, edge, edge.cookies.session_name, signed_in.session_token, edge.cookies.session_max_age, "/"
    )
    response.del_cookie(edge.cookies.binding_name, path="/auth/github")
    return response


async def setup(call: Call) -> web.StreamResponse | BaseModel:
    edge = deps(call)
    flow = _login_flow(edge)
    token = _session_token(call)
    async with edge.pool.acquire() as conn:
        session = await sessions.lookup(conn, token) if token else None
    if session is None:
        # Sign in first, then come back here.
        back = f"{call.request.path}?{call.request.query_string}"
        return redirect(f"{LOGIN_PATH}?{urlencode({'return_to': back})}")
    account = await flow.confirm_installation(session.user_id, call.input.installation_id)
    return InstallationLinked(installation_id=call.input.installation_id, account=account)


async def session_info(call: Call) -> BaseModel:
    """Whoever calls, whatever the credential (session cookie, API key, operator token); the CSRF
    token only for a session, the one credential a browser sends by itself."""
    edge = deps(call)
    principal = await authenticate(call.request)
    if principal is None:
        raise HttpProblem(
            ErrorCode.UNAUTHENTICATED, "no valid credential: sign in, or send an API key or operator token"
        )
    token = _session_token(call)
    async with edge.pool.acquire() as conn:
        described = await teams_api.describe_caller(conn, principal)
        session = await sessions.lookup(conn, token) if token and described.credential == "session" else None
    if session is None or token is None:
        return described
    return described.model_copy(
        update={"csrf_token": sessions.csrf_token(token), "expires_at": session.expires_at}
    )


async def logout(call: Call) -> web.StreamResponse:
    edge = deps(call)
    token = _session_token(call)
    if token is None:
        raise HttpProblem(ErrorCode.UNAUTHENTICATED, "not signed in")
    if not sessions.csrf_matches(token, call.request.headers.get(CSRF_HEADER)):
        raise HttpProblem(
            ErrorCode.FORBIDDEN, f"logout needs the {CSRF_HEADER} header of GET /api/v1/session"
        )
    async with edge.pool.acquire() as conn:
        await sessions.revoke(conn, token)
    response = web.Response(status=204)
    response.del_cookie(edge.cookies.session_name, path="/")
    return response


AUTH_ROUTES: list[Route] = [
    Route(
        "GET",
        LOGIN_PATH,
        "Start signing in with GitHub (redirects to GitHub).",
        PUBLIC,
        Local(login),
        request=LoginQuery,
        status=302,
        tags=AUTH,
        media_type="text/plain",
        extra_status=(404,),
    ),
    Route(
        "GET",
        "/auth/github/callback",
        "GitHub's redirect back after sign-in; sets the session cookie.",
        PUBLIC,
        Local(callback),
        request=CallbackQuery,
        status=302,
        tags=AUTH,
        media_type="text/plain",
        extra_status=(401, 403, 404),
    ),
    Route(
        "GET",
        "/auth/github/setup",
        "The App's setup URL: links a new installation once GitHub confirms it.",
        PUBLIC,
        Local(setup),
        request=SetupQuery,
        response=InstallationLinked,
        tags=AUTH,
        extra_status=(302, 401, 404, 503),
    ),
    Route(
        "GET",
        "/api/v1/session",
        "Who is calling, whatever the credential: user, teams, the acting team with your role and "
        "permissions there, and for a browser session the CSRF token for writes.",
        PUBLIC,
        Local(session_info),
        response=SessionInfo,
        tags=AUTH,
        extra_status=(401,),
    ),
    Route(
        "POST",
        "/auth/logout",
        "Sign out: the session is revoked (needs the CSRF token).",
        PUBLIC,
        Local(logout),
        status=204,
        tags=AUTH,
        media_type="text/plain",
        extra_status=(401, 403),
    ),
]
