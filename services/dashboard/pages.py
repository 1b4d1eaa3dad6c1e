"""The dashboard's pages: one row each, with the permission its route needs.

The route of a page is declared with the same permission (agents/super_agent/routes/dashboard.py
reads it from here), so what the navigation offers and what the edge allows cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.messages.identity import SessionInfo
from shared.messages.permissions import Permission

FEATURE = "dashboard"  # the plan feature every dashboard route declares (GATED_PATHS)


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    path: str
    permission: Permission


OVERVIEW = Page("overview", "Overview", "/dashboard", Permission.COSTS_READ)
COSTS = Page("costs", "Costs", "/dashboard/costs", Permission.COSTS_READ)
BUDGETS = Page("budgets", "Budgets", "/dashboard/budgets", Permission.BUDGETS_READ)
ALERTS = Page("alerts", "Alerts", "/dashboard/alerts", Permission.ALERTS_READ)
# Reading overrides is costs:read (GET /api/v1/price-overrides); changing them is prices:write.
PRICES = Page("prices", "Prices", "/dashboard/prices", Permission.COSTS_READ)
# Every role may see who is in the team; keys and the audit log are panels its managers see.
TEAM = Page("team", "Team", "/dashboard/members", Permission.MEMBERS_READ)
# The team's package registry: everyone in the team installs its packages (billing does not).
PACKAGES = Page("packages", "Packages", "/dashboard/packages", Permission.ARTIFACTS_READ)
# The download policy, blocked versions and open findings: everyone in the team reads them.
SUPPLY_CHAIN = Page("supply_chain", "Supply chain", "/dashboard/supply-chain", Permission.SUPPLY_CHAIN_READ)
# The team's prompts as code: everyone in the team reads them (apps fetch them with a viewer's key).
PROMPTS = Page("prompts", "Prompts", "/dashboard/prompts", Permission.PROMPTS_READ)
# Everyone sees the account's GitHub link; the plan and usage are a panel for usage:read.
ACCOUNT = Page("account", "Account", "/dashboard/account", Permission.GITHUB_READ)

# In navigation order. A new page: a row here, a route in routes/dashboard.py, a template.
PAGES: tuple[Page, ...] = (
    OVERVIEW,
    COSTS,
    BUDGETS,
    ALERTS,
    PRICES,
    PACKAGES,
    SUPPLY_CHAIN,
    PROMPTS,
    TEAM,
    ACCOUNT,
)


@dataclass(frozen=True)
class NavItem:
    title: str
    path: str
    current: bool


@dataclass(frozen=True)
class TeamChoice:
    id: str
    name: str
    role: str | None
    current: bool


@dataclass(frozen=True)
class Chrome:
    """What every page shows around its content: who is signed in, in which team, where to go."""

    login: str
    team_id: str | None
    team_name: str
    role: str | None
    teams: tuple[TeamChoice, ...]
    nav: tuple[NavItem, ...]
    csrf_token: str
    permissions: frozenset[Permission]

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def offered(pages: Iterable[Page], permissions: frozenset[Permission]) -> list[Page]:
    return [page for page in pages if page.permission in permissions]


def chrome(session: SessionInfo, current: Page, pages: Iterable[Page] = PAGES) -> Chrome:
    """The chrome of `current` for the caller `GET /api/v1/session` described."""
    permissions = frozenset(session.permissions)
    acting = next((t for t in session.teams if t.team_id == session.team_id), None)
    return Chrome(
        login=session.user.login if session.user else "unknown",
        team_id=session.team_id,
        team_name=acting.name if acting else "no team",
        role=session.role,
        teams=tuple(
            TeamChoice(t.team_id, t.name, t.role, t.team_id == session.team_id) for t in session.teams
        ),
        nav=tuple(NavItem(p.title, p.path, p.key == current.key) for p in offered(pages, permissions)),
        csrf_token=session.csrf_token or "",
        permissions=permissions,
    )
