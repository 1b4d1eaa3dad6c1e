"""The Team and Account pages' pure view models: key presets, the audit chain's verdict, plan usage,
the GitHub link's rows."""

from __future__ import annotations

from datetime import UTC, datetime

from services.audit.chain import canonical_content, entry_hash, genesis_hash
from services.audit.models import AuditActor, AuditEntry
from services.dashboard import account, team
from services.dashboard.answers import Unavailable
from shared.messages.github_links import LedgerPage, LinkedInstallation, RepositoryPage
from shared.messages.identity import PlanUsage
from shared.messages.permissions import Permission

TEAM = "3f1c1f9e-2a7b-4a36-9d1e-6a0c4b2b9d11"


def chain(count: int) -> list[AuditEntry]:
    """`count` entries of one team, correctly chained, oldest first."""
    entries, prev = [], genesis_hash(TEAM)
    for seq in range(1, count + 1):
        content = {
            "id": f"00000000-0000-4000-8000-{seq:012d}",
            "team_id": TEAM,
            "seq": seq,
            "occurred_at": datetime(2025, 1, 1, 0, seq, tzinfo=UTC),
            "actor": AuditActor(kind="api_key", api_key_id="k1"),
            "action": "apikeys.create",
            "resource_type": "api_key",
            "resource_id": f"k{seq}",
        }
        draft = AuditEntry(**content, prev_hash=prev, hash="0" * 64)
        digest = entry_hash(prev, canonical_content(draft))
        entries.append(draft.model_copy(update={"hash": digest}))
        prev = digest
    return entries


def test_key_presets_never_exceed_the_callers_permissions() -> None:
    """A key preset is cut to what the caller holds: "all" is exactly their own permissions."""
    mine = {Permission.COSTS_READ, Permission.TOKEN_EVENTS_WRITE}
    assert team.key_permissions("ingest", mine) == ["token_events:write"]
    assert team.key_permissions("read", mine) == ["costs:read"]
    assert team.key_permissions("all", mine) == sorted(p.value for p in mine)
    assert team.key_permissions("ingest", {Permission.COSTS_READ}) == []


def test_chain_status_is_intact_for_a_whole_chain_and_names_an_altered_entry() -> None:
    """A whole, untouched chain is intact; a changed entry (newest-first order as the API pages) is
    reported; a chain read from its middle checks only the links it has."""
    entries = chain(5)
    assert team.chain_status(list(reversed(entries)), complete=True).intact
    altered = entries[2].model_copy(update={"resource_id": "changed"})
    broken = team.chain_status([entries[4], entries[3], altered, entries[1], entries[0]], complete=True)
    assert not broken.intact
    assert any("entry 3" in p for p in broken.problems), broken.problems
    assert team.chain_status(entries[2:], complete=False).intact
    assert not team.chain_status(entries[2:], complete=True).intact


def test_account_rows_read_unlimited_and_metered_limits() -> None:
    """Huge limits read as unlimited; a metered limit has its share; unknown features are listed too."""
    view = account.build(
        PlanUsage(
            plan="team",
            limits={"monthly_token_events": 1000, "seats": 10**12},
            features=["dashboard", "custom"],
            usage={"monthly_token_events": 850},
        )
    )
    events = next(r for r in view.limits if r.key == "monthly_token_events")
    seats = next(r for r in view.limits if r.key == "seats")
    assert (events.used, events.limit, events.percent, events.state) == (850, 1000, 85.0, "warning")
    assert (seats.used, seats.limit, seats.percent) == (None, None, None)
    assert ("Dashboard", True) in view.features
    assert ("Anomaly detection", False) in view.features
    assert ("custom", True) in view.features


def test_github_rows_count_repositories_beyond_those_shown_and_name_event_actions() -> None:
    """An installation's row lists the repositories fetched and counts the rest; a deleted one asks for
    none; a refused repositories call is the row's note; deliveries read `event.action`."""
    at = datetime(2025, 3, 14, 9, tzinfo=UTC)

    def installation(github_id: int, status: str, repositories: int) -> LinkedInstallation:
        return LinkedInstallation(
            github_id=github_id,
            account_login="acme",
            target_type="Organization",
            repository_selection="selected",
            status=status,  # type: ignore[arg-type]
            repositories=repositories,
            suspended_at=None,
            deleted_at=None,
            created_at=at,
            updated_at=at,
        )

    live, gone, refused = (
        installation(1, "active", 3),
        installation(2, "deleted", 0),
        installation(3, "active", 1),
    )
    assert [account.wants_repositories(i) for i in (live, gone, refused)] == [True, False, True]
    page = RepositoryPage.model_validate(
        {
            "installation_id": 1,
            "repositories": [{"id": 9, "full_name": "acme/api", "private": True, "added_at": at}],
        }
    )
    note = Unavailable("unavailable", "try again")
    rows = account.installation_rows([live, gone, refused], {1: page, 3: note})
    assert [(r.repositories, r.more) for r in rows] == [
        ([account.RepositoryRow("acme/api", True)], 2),
        ([], 0),
        (note, 1),
    ]
    assert rows[0].selection == "selected repositories"
    ledger = LedgerPage.model_validate(
        {
            "deliveries": [
                {
                    "id": 5,
                    "endpoint": "app",
                    "guid": "g",
                    "event": "installation",
                    "action": "created",
                    "status": "processed",
                    "attempt": 1,
                    "redeliveries": 0,
                    "replays": 0,
                    "outcome": "ok",
                    "received_at": at,
                    "processed_at": at,
                },
                {
                    "id": 4,
                    "endpoint": "app",
                    "guid": "h",
                    "event": "push",
                    "action": None,
                    "status": "received",
                    "attempt": 1,
                    "redeliveries": 0,
                    "replays": 0,
                    "outcome": None,
                    "received_at": at,
                    "processed_at": None,
                },
            ]
        }
    )
    assert [(d.event, d.outcome) for d in account.delivery_rows(ledger)] == [
        ("installation.created", "ok"),
        ("push", "waiting to be applied"),
    ]
