"""The dashboard's pure page logic: ranges asked of the API, budget states, money as people read it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.dashboard import formatting, overview
from services.dashboard.answers import unavailable
from services.dashboard.pages import OVERVIEW, PAGES, chrome
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.identity import SessionInfo, SessionUser, TeamMembership
from shared.messages.permissions import Permission, permissions_of_roles


def test_window_ranges_are_hour_aligned_and_cover_now() -> None:
    """The month and today ranges start at UTC midnight / the 1st and end on the next whole hour."""
    win = overview.window(datetime(2025, 3, 14, 9, 27, 5, tzinfo=UTC))
    assert win.month_start == datetime(2025, 3, 1, tzinfo=UTC)
    assert win.today_start == datetime(2025, 3, 14, tzinfo=UTC)
    assert win.until == datetime(2025, 3, 14, 10, tzinfo=UTC)
    assert win.recent_until == datetime(2025, 3, 14, 9, 28, tzinfo=UTC)
    assert (win.recent_until - win.recent_since).total_seconds() == 3600


def test_usd_keeps_sub_cent_amounts_readable() -> None:
    """Dollars with thousands separators; amounts under a cent keep four places instead of $0.00."""
    assert formatting.usd(Decimal("1234.5")) == "$1,234.50"
    assert formatting.usd(Decimal("0.0042")) == "$0.0042"
    assert formatting.usd(Decimal(0)) == "$0.00"
    assert formatting.usd(None) == "—"


def test_plan_refusals_read_differently_from_role_refusals() -> None:
    """A plan's missing feature is shown with the plan's name; a role's refusal hides the panel."""
    plan = unavailable(
        ErrorBody(
            code=ErrorCode.FORBIDDEN,
            message="x",
            details=[{"type": "plan_feature", "plan": "free", "feature": "anomaly_detection"}],
        )
    )
    assert plan.reason == "plan"
    assert "free" in plan.message
    assert not plan.hidden
    role = unavailable(ErrorBody(code=ErrorCode.FORBIDDEN, message="this needs the alerts:read permission"))
    assert role.hidden


def test_navigation_offers_only_pages_the_role_may_use() -> None:
    """A page whose permission the caller lacks is not in the navigation."""

    def session(role: str) -> SessionInfo:
        return SessionInfo(
            user=SessionUser(id="u", login="ann"),
            teams=[TeamMembership(team_id="t", slug="t", name="T", role=role, account="a")],
            team_id="t",
            role=role,
            permissions=sorted(permissions_of_roles((role,))),
        )

    for page in PAGES:
        for role in ("owner", "admin", "member", "viewer", "billing"):
            shown = [item.path for item in chrome(session(role), OVERVIEW).nav]
            assert (page.path in shown) == (page.permission in permissions_of_roles((role,))), (page, role)
    assert chrome(session("viewer"), OVERVIEW).may(Permission.BUDGETS_WRITE) is False


def test_span_drops_line_leads_with_lost_spend_and_its_fix() -> None:
    """The ingest panel's drop line: money-losing reasons with their fix first, expected ones as counts."""
    from services.ingest.otlp_genai import DroppedSpan, DropReason, SpanRef
    from services.ingest.otlp_libraries import Library
    from services.ingest.span_drops import aggregate, report

    def drop(reason: DropReason, name: str, detail: str = "") -> DroppedSpan:
        return DroppedSpan(SpanRef("t", "s", name, Library.OTHER), reason, detail)

    drops = [drop(DropReason.NOT_GENAI, "GET /")] * 5 + [
        drop(DropReason.NO_USAGE, "chat gpt-4o"),
        drop(DropReason.INVALID, "chat", "input_tokens: must be >= 0"),
        drop(DropReason.DUPLICATE_CALL, "openai.chat"),
    ]
    rows = [(r.reason, r.library, r.spans, r.example) for r in aggregate(drops)]
    at = datetime(2025, 3, 14, 9, tzinfo=UTC)
    line = overview.span_drops(report("t", at, at, rows))
    assert line.total == 8
    assert [(d.reason, d.spans) for d in line.losing] == [("invalid", 1), ("no_usage", 1)]
    assert "include_usage" in line.losing[1].fix
    assert line.losing[0].example == "chat: input_tokens: must be >= 0"
    assert line.expected == [("not_genai", 5), ("duplicate_call", 1)]
