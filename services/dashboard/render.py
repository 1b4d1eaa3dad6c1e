"""Templates into responses, every one with the headers that keep pages to what this origin serves."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from aiohttp import web

from services.dashboard import assets, formatting
from services.dashboard.answers import Unavailable

# No inline script or style anywhere: behaviour is in static/*.js, looks in static/*.css, data for
# charts in data- attributes. Nothing from another origin; no framing (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Pages show one user's data: never kept by shared caches, nor by the browser's back button.
    "Cache-Control": "no-store",
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=formatting.usd, count=formatting.count, when=formatting.when)
    env.globals.update(asset=assets.url)
    # `{% if panel is unavailable %}`: an answer the page could not get (answers.py).
    env.tests["unavailable"] = lambda value: isinstance(value, Unavailable)
    return env


def html(
    template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> web.Response:
    """A page or an htmx fragment, rendered with the security headers."""
    text = environment().get_template(template).render(**context)
    return web.Response(
        text=text, status=status, content_type="text/html", headers={**SECURITY_HEADERS, **(headers or {})}
    )
