"""The edge's own pages through the real SuperAgent process: `/` is a page, `/api/docs` renders the
OpenAPI document, and everything those pages load comes from the edge itself (no CDN)."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

import aiohttp
import pytest

from shared.messages.agents import AgentName
from tests.fixtures.mesh import MeshLauncher


@pytest.fixture
async def edge(launcher: MeshLauncher) -> str:
    await asyncio.to_thread(launcher.start, AgentName.SUPER_AGENT)
    return launcher.edge_url


class Links(HTMLParser):
    """Every URL a page refers to (links, scripts, styles, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts_inline = 0
        self._in_script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("href", "src"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self._in_script_without_src = tag == "script" and not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script_without_src and data.strip():
            self.scripts_inline += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script_without_src = False


async def page_links(http: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientResponse, Links]:
    async with http.get(url) as response:
        text = await response.text()
    parser = Links()
    parser.feed(text)
    return response, parser


async def test_home_page_is_html_linking_the_api_docs(edge: str) -> None:
    """GET /api answers an HTML page that links the API reference, the document and the dashboard;
    GET / is the dashboard's (a redirect to it, not a JSON 404)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge}/", allow_redirects=False) as root:
            assert root.status == 302
            assert root.headers["Location"] == "/dashboard"
        response, links = await page_links(http, f"{edge}/api")
    assert "/" in links.urls
    assert response.status == 200
    assert response.content_type == "text/html"
    assert "/api/docs" in links.urls
    assert "/api/v1/openapi.json" in links.urls
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_api_docs_load_everything_from_the_edge(edge: str) -> None:
    """/api/docs renders our OpenAPI 3.1 document with Swagger UI 5, every asset from this origin."""
    async with aiohttp.ClientSession() as http:
        response, links = await page_links(http, f"{edge}/api/docs")
        assert response.status == 200
        assert response.content_type == "text/html"
        assert links.scripts_inline == 0  # the page's policy allows this origin's scripts only
        assert links.urls, "the docs page loads its renderer"
        bodies: dict[str, bytes] = {}
        for url in links.urls:
            assert url.startswith("/"), f"{url} is not served by the edge"
            assert not url.startswith("//"), f"{url} is not served by the edge"
            async with http.get(f"{edge}{url}") as asset:
                assert asset.status == 200, url
                bodies[url] = await asset.read()
        scripts = b"".join(body for url, body in bodies.items() if url.endswith(".js"))
        assert b'PACKAGE_VERSION:"5.' in scripts  # Swagger UI 5: the first to read OpenAPI 3.1
        assert b"/api/v1/openapi.json" in scripts
        assert b"validatorUrl: null" in scripts  # no call to the online validator
        async with http.get(f"{edge}/api/v1/openapi.json") as document:
            assert document.status == 200
            assert (await document.json())["openapi"].startswith("3.1")


async def test_docs_assets_serve_only_the_renderers_files(edge: str) -> None:
    """An asset name that is not one of the renderer's files is a typed 404, never a file elsewhere."""
    async with aiohttp.ClientSession() as http:
        for name in ("nope.js", "..%2F..%2F..%2Fetc%2Fpasswd", "%2E%2E", "__init__.py"):
            async with http.get(f"{edge}/api/docs/assets/{name}") as response:
                assert response.status == 404, name
                assert (await response.json())["error"]["code"] == "not_found"
