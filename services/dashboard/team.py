"""The Team page: members and roles, invitations, API keys, the audit log and its chain.

Pure: API answers in, rows out. Which writes a row offers is decided here from the caller's
permissions (the routes refuse them anyway); the chain status is `services.audit.chain`'s verdict
over the entries `GET /api/v1/audit` returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.audit.chain import ProblemKind, verify_chain
from services.audit.models import AuditEntry
from shared.messages.identity import ApiKeyInfo
from shared.messages.permissions import Permission, Role
from shared.messages.teams import InvitationInfo, MemberInfo

ROLES: tuple[str, ...] = tuple(role.value for role in Role)
AUDIT_SHOWN = 50
# The chain check reads the log a page (the API's largest) at a time, up to this many entries: past
# that it says how many it checked rather than stall the page (`mno audit verify` checks everything).
CHAIN_PAGE = 500
CHAIN_MAX_ENTRIES = 20_000

# What a new key may do, as presets of the caller's own permissions (the API takes any subset).
KeyAccess = Literal["ingest", "read", "all"]
KEY_ACCESS: dict[str, str] = {
    "ingest": "Send events only (token_events:write)",
    "read": "Read costs, budgets and alerts",
    "all": "Everything you may do",
}
_READ = frozenset(
    {Permission.COSTS_READ, Permission.BUDGETS_READ, Permission.ALERTS_READ, Permission.TEAMS_READ}
)


def key_permissions(access: str, mine: Iterable[Permission]) -> list[str]:
    """The permissions of a key of `access`, never more than the caller's own (sorted, for the API)."""
    own = frozenset(mine)
    wanted: frozenset[Permission]
    if access == "ingest":
        wanted = frozenset({Permission.TOKEN_EVENTS_WRITE})
    elif access == "read":
        wanted = _READ
    else:
        wanted = own
    return sorted(p.value for p in wanted & own)


@dataclass(frozen=True)
class MemberRow:
    user_id: str
    login: str
    name: str | None
    role: str
    joined_at: datetime
    you: bool
    may_change: bool  # the caller may change this member's role / remove them


def member_rows(
    members: Sequence[MemberInfo], *, me: str | None, permissions: frozenset[Permission]
) -> list[MemberRow]:
    manage = Permission.MEMBERS_MANAGE in permissions
    rows = [
        MemberRow(
            m.user_id, m.login, m.name, m.role.value, m.joined_at, m.user_id == me, manage and m.user_id != me
        )
        for m in members
    ]
    # Owners first, then by login: who can do what reads from the top.
    order = {role: i for i, role in enumerate(ROLES)}
    return sorted(rows, key=lambda r: (order.get(r.role, len(order)), r.login.lower()))


@dataclass(frozen=True)
class InvitationRow:
    id: str
    invitee: str
    role: str
    status: str
    sent_at: datetime
    send_count: int
    expires_at: datetime
    open: bool  # pending: may be resent or revoked


def invitation_rows(invitations: Sequence[InvitationInfo]) -> list[InvitationRow]:
    rows = [
        InvitationRow(
            i.id,
            i.email or (f"@{i.github_login}" if i.github_login else "?"),
            i.role.value,
            str(i.status),
            i.sent_at,
            i.send_count,
            i.expires_at,
            str(i.status) == "pending",
        )
        for i in invitations
    ]
    return sorted(rows, key=lambda r: (not r.open, -r.sent_at.timestamp()))


@dataclass(frozen=True)
class KeyRow:
    key_id: str
    name: str
    permissions: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def key_rows(keys: Sequence[ApiKeyInfo]) -> list[KeyRow]:
    rows = [
        KeyRow(
            k.key_id,
            k.name,
            _permission_summary(k.permissions),
            k.created_at,
            k.expires_at,
            k.last_used_at,
            k.revoked_at is not None,
        )
        for k in keys
    ]
    return sorted(rows, key=lambda r: (r.revoked, -r.created_at.timestamp()))


def _permission_summary(permissions: Sequence[Permission]) -> str:
    if len(permissions) <= 3:
        return ", ".join(p.value for p in permissions)
    return f"{len(permissions)} permissions"


@dataclass(frozen=True)
class AuditRow:
    seq: int
    occurred_at: datetime
    action: str
    actor: str
    resource: str


def audit_rows(entries: Sequence[AuditEntry], logins: dict[str, str]) -> list[AuditRow]:
    """Newest first, as the API pages them; actors by login where the member list names them."""
    rows = []
    for e in entries:
        actor = e.actor
        if actor.api_key_id:
            who = f"key {actor.api_key_id}"
        elif actor.user_id:
            who = logins.get(actor.user_id, actor.user_id)
        else:
            who = actor.kind.value
        rows.append(
            AuditRow(
                e.seq,
                e.occurred_at,
                e.action,
                who,
                e.resource_type + (f" {e.resource_id}" if e.resource_id else ""),
            )
        )
    return rows


@dataclass(frozen=True)
class ChainStatus:
    intact: bool
    checked: int
    complete: bool  # every entry of the log was read (not cut at CHAIN_MAX_ENTRIES)
    problems: list[str]


def chain_status(newest_first: Sequence[AuditEntry], *, complete: bool) -> ChainStatus:
    """The hash chain over the entries read (the API gives them newest first).

    Read from the start (complete), a changed, removed or reordered entry shows; cut short, only
    the links among the entries read are checked, from the oldest one read."""
    entries = sorted(newest_first, key=lambda e: e.seq)
    if not entries:
        return ChainStatus(True, 0, complete, [])
    if complete:
        problems = verify_chain(entries)
    else:
        # Without the entries before the oldest read, neither their absence nor the oldest one's
        # link to them means anything: only those two findings are dropped.
        first = entries[0].seq
        problems = [
            p
            for p in verify_chain(entries)
            if not (p.kind is ProblemKind.MISSING and (p.seq or 0) < first)
            and not (p.kind is ProblemKind.BROKEN_LINK and p.seq == first)
        ]
    return ChainStatus(not problems, len(entries), complete, [p.message for p in problems[:5]])
