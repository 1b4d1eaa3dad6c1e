"""The edge's own pages: the API's home page at `/api` and the reference rendered from our OpenAPI document.

The renderer is Swagger UI (5.x: it reads OpenAPI 3.1), whose built files the `swagger-ui-py` package
ships; we serve them from the installed package, so the pages load nothing from another host (no
CDN: the docs work offline, behind a firewall, and no third party learns who reads them). Only the
static files of that package are used, not its framework glue: every route stays in our route table.
Swagger UI's online validator badge, its one call home, is switched off.
"""

from __future__ import annotations

import html
import importlib.util
from functools import cache
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.errors import HttpProblem
from shared.messages.envelope import ErrorCode
from shared.messages.fields import Text

HOME_PATH = "/api"  # `/` is the dashboard's
DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
OPENAPI_PATH = "/api/v1/openapi.json"
RENDERER_PACKAGE = "swagger_ui"  # the `swagger-ui-py` distribution
INITIALIZER = "mno-docs.js"  # ours: points the renderer at our document
# Pages load only what this origin serves; Swagger UI sets element styles and uses data: icons.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ASSET_MAX_AGE = 86_400


class DocsAsset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(max_length=100, description="A file of the API docs renderer.")


@cache
def renderer_files() -> dict[str, Path]:
    """The renderer's built files by name, found without importing the package (its framework
    glue pulls in more than we need). Empty when the package is not installed."""
    spec = importlib.util.find_spec(RENDERER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return {}
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    if not static.is_dir():
        return {}
    return {path.name: path for path in static.iterdir() if path.is_file()}


def _page(title: str, body: str, *, head: str = "") -> web.Response:
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    return web.Response(
        text=document,
        content_type="text/html",
        headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


HOME_STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem;
       color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.version { color: #59636e; margin-top: 0; }
li { margin: 0.4rem 0; }
code { background: #f0f2f4; padding: 0.1rem 0.3rem; border-radius: 4px; }
</style>
"""


def home_page(version: str) -> web.Response:
    """The API's front page: what runs here and where to go (the dashboard is at `/`)."""
    links = [
        ("/", "Dashboard", "spend, budgets, forecasts, anomalies and alerts of your team"),
        (DOCS_PATH, "API reference", "every route, its permission, models and errors; try calls in place"),
        (OPENAPI_PATH, "OpenAPI document", "OpenAPI 3.1, for code generators and API clients"),
        ("/auth/github/login", "Sign in with GitHub", "when GitHub is configured (github.enabled)"),
        ("/readyz", "Readiness", "bus connected, stores reachable"),
        ("/metrics", "Metrics", "Prometheus metrics of the edge"),
    ]
    items = "\n".join(
        f'<li><a href="{href}">{html.escape(label)}</a> &mdash; {html.escape(note)}</li>'
        for href, label, note in links
    )
    body = (
        "<h1>MachineNativeOps</h1>\n"
        f'<p class="version">version {html.escape(version)}</p>\n'
        "<p>This is the HTTP edge of the mesh. Call the API with an API key "
        "(<code>Authorization: Bearer mno_&hellip;</code>) or a signed-in browser session.</p>\n"
        f"<ul>\n{items}\n</ul>\n"
    )
    return _page("MachineNativeOps", body, head=HOME_STYLE)


def docs_page() -> web.Response:
    """The API reference: Swagger UI, from this origin, reading `/api/v1/openapi.json`."""
    if not renderer_files():
        raise HttpProblem(
            ErrorCode.NOT_FOUND,
            f"the API docs renderer ({RENDERER_PACKAGE}) is not installed; the document is at {OPENAPI_PATH}",
        )
    head = (
        f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">\n'
        f'<link rel="stylesheet" href="{ASSETS_PATH}/index.css">\n'
        f'<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">\n'
    )
    body = (
        '<div id="swagger-ui"></div>\n'
        f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{ASSETS_PATH}/{INITIALIZER}"></script>'
    )
    return _page("MachineNativeOps API", body, head=head)


# An external file, not an inline script: the pages' policy allows scripts of this origin only.
INITIALIZER_SCRIPT = f"""window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: "{OPENAPI_PATH}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
"""


def asset(name: str) -> web.StreamResponse:
    """One of the renderer's files (or our initializer); 404 for any other name, so no path of the
    machine can be asked for."""
    headers = {"Cache-Control": f"public, max-age={ASSET_MAX_AGE}", "X-Content-Type-Options": "nosniff"}
    if name == INITIALIZER:
        return web.Response(text=INITIALIZER_SCRIPT, content_type="text/javascript", headers=headers)
    path = renderer_files().get(name)
    if path is None:
        raise HttpProblem(ErrorCode.NOT_FOUND, f"no docs asset {name}")
    return web.FileResponse(path, headers=headers)
