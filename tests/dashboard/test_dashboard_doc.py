"""docs/DASHBOARD.md's table of pages and routes stays true to the route table."""

from __future__ import annotations

import re
from pathlib import Path

from agents.super_agent.routes import ROUTES
from services.dashboard.pages import PAGES

DOC = Path(__file__).resolve().parents[2] / "docs" / "DASHBOARD.md"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`")


def documented_rows() -> dict[tuple[str, str], tuple[list[tuple[str, str]], str]]:
    """The section's rows: (method, path) -> (API routes named, permission)."""
    text = DOC.read_text()
    section = text.split("## Pages and their routes", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], tuple[list[tuple[str, str]], str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not ROUTE.fullmatch(cells[0]):
            continue
        found = ROUTE.fullmatch(cells[0])
        assert found is not None
        key = (found[1], found[2])
        assert key not in rows, f"{key} documented twice"
        rows[key] = (ROUTE.findall(cells[2]), cells[3].strip("`"))
    return rows


def test_every_dashboard_route_is_documented_and_every_documented_one_exists() -> None:
    """The doc's table names exactly the dashboard's routes (/ and /dashboard...), each with the
    permission the route table declares, and every API route it says a page calls exists."""
    table = {(r.method, r.path): r for r in ROUTES}
    dashboard = {key for key in table if key[1] == "/" or key[1].startswith("/dashboard")}
    rows = documented_rows()
    assert sorted(dashboard - set(rows)) == [], "add these to docs/DASHBOARD.md's pages table"
    assert sorted(set(rows) - dashboard) == [], "docs/DASHBOARD.md names routes that do not exist"
    for key, (calls, permission) in rows.items():
        assert permission == str(table[key].permission), key
        unknown = [call for call in calls if call not in table]
        assert unknown == [], f"{key} names API routes that do not exist: {unknown}"
    for page in PAGES:
        assert rows[("GET", page.path)][1] == page.permission.value, page.key
