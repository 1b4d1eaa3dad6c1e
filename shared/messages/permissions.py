"""Permissions as `resource:action`, and which roles hold them. The teams/RBAC issue grows this table;
the edge checks it on every route and agents check it again on what they serve."""

from __future__ import annotations

import functools
from enum import StrEnum

from shared.messages.envelope import Principal


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    BILLING = "billing"


class Permission(StrEnum):
    MESH_READ = "mesh:read"
    MESH_WRITE = "mesh:write"
    APIKEYS_READ = "apikeys:read"
    APIKEYS_CREATE = "apikeys:create"
    APIKEYS_REVOKE = "apikeys:revoke"
    USAGE_READ = "usage:read"
    TOKEN_EVENTS_WRITE = "token_events:write"
    COSTS_READ = "costs:read"
    TEAMS_READ = "teams:read"
    TEAMS_CREATE = "teams:create"
    TEAMS_UPDATE = "teams:update"
    TEAMS_DELETE = "teams:delete"
    MEMBERS_READ = "members:read"
    MEMBERS_INVITE = "members:invite"
    MEMBERS_MANAGE = "members:manage"
    ROLES_READ = "roles:read"
    AUDIT_READ = "audit:read"
    BILLING_MANAGE = "billing:manage"
    PROMPTS_READ = "prompts:read"
    PROMPTS_WRITE = "prompts:write"
    PROMPTS_PROMOTE = "prompts:promote"
    PROMPTS_PROMOTE_PROTECTED = "prompts:promote_protected"
    BUDGETS_READ = "budgets:read"
    BUDGETS_WRITE = "budgets:write"
    PRICES_WRITE = "prices:write"
    ALERTS_READ = "alerts:read"
    ALERTS_WRITE = "alerts:write"
    ARTIFACTS_READ = "artifacts:read"
    ARTIFACTS_PUBLISH = "artifacts:publish"
    ARTIFACTS_YANK = "artifacts:yank"
    ARTIFACTS_DELETE = "artifacts:delete"
    ARTIFACTS_DELETE_OVERRIDE = "artifacts:delete_override"
    SUPPLY_CHAIN_READ = "supply_chain:read"
    SUPPLY_CHAIN_WRITE = "supply_chain:write"
    SUPPLY_CHAIN_TRIAGE = "supply_chain:triage"
    SUPPLY_CHAIN_POLICY = "supply_chain:policy"
    GITHUB_READ = "github:read"
    # The platform's own operations across every account (webhook ledger, subscriptions,
    # installations): no team role holds these, only the operator token (auth.bootstrap_token).
    PLATFORM_READ = "platform:read"
    PLATFORM_OPERATE = "platform:operate"


_EVERYONE = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER})
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
_ALL = _EVERYONE | {Role.BILLING}
_OWNER = frozenset({Role.OWNER})

ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.MESH_READ: _EVERYONE,
    Permission.MESH_WRITE: _MANAGERS,
    Permission.APIKEYS_READ: _MANAGERS,
    Permission.APIKEYS_CREATE: _MANAGERS,
    Permission.APIKEYS_REVOKE: _MANAGERS,
    Permission.USAGE_READ: _MANAGERS | {Role.BILLING},
    # Members report their calls; viewers only look. Billing reads what is spent.
    Permission.TOKEN_EVENTS_WRITE: _MANAGERS | {Role.MEMBER},
    Permission.COSTS_READ: _EVERYONE | {Role.BILLING},
    # Everyone in a team sees the team, who is in it and what each role may do.
    Permission.TEAMS_READ: _ALL,
    Permission.TEAMS_CREATE: _MANAGERS,
    Permission.TEAMS_UPDATE: _MANAGERS,
    # Deleting a team deletes its data in every agent: owners only.
    Permission.TEAMS_DELETE: _OWNER,
    Permission.MEMBERS_READ: _ALL,
    Permission.MEMBERS_INVITE: _MANAGERS,
    Permission.MEMBERS_MANAGE: _MANAGERS,
    Permission.ROLES_READ: _ALL,
    Permission.AUDIT_READ: _MANAGERS,
    # Billing is a separate role, not a rung: it manages the plan and spend, nothing else, and an
    # admin (who lacks billing:manage) therefore cannot make anyone billing.
    Permission.BILLING_MANAGE: _OWNER | {Role.BILLING},
    # Everyone in a team reads and renders its prompts (apps fetch them with a viewer's key); members
    # write versions and move unprotected labels (staging, their own), as they publish packages;
    # moving a protected label (production) stays with managers, behind the team's approval gate.
    Permission.PROMPTS_READ: _EVERYONE,
    Permission.PROMPTS_WRITE: _MANAGERS | {Role.MEMBER},
    Permission.PROMPTS_PROMOTE: _MANAGERS | {Role.MEMBER},
    Permission.PROMPTS_PROMOTE_PROTECTED: _MANAGERS,
    Permission.BUDGETS_READ: _ALL,
    Permission.BUDGETS_WRITE: _MANAGERS | {Role.BILLING},
    Permission.PRICES_WRITE: _MANAGERS | {Role.BILLING},
    Permission.ALERTS_READ: _EVERYONE,
    Permission.ALERTS_WRITE: _MANAGERS,
    # Everyone in a team installs its packages; members publish and yank; deleting (which breaks
    # every install that pins the version) is for managers.
    Permission.ARTIFACTS_READ: _EVERYONE,
    Permission.ARTIFACTS_PUBLISH: _MANAGERS | {Role.MEMBER},
    Permission.ARTIFACTS_YANK: _MANAGERS | {Role.MEMBER},
    Permission.ARTIFACTS_DELETE: _MANAGERS,
    # Forcing a delete the delete policy refuses (an old version other packages depend on; npm's
    # unpublish rules) breaks installs knowingly: a grant of its own, so a CI key made to clean up
    # fresh versions (artifacts:delete) cannot do it, and every override is audited.
    Permission.ARTIFACTS_DELETE_OVERRIDE: _MANAGERS,
    # Everyone sees the team's SBOMs, findings and attestations, and may scan a lockfile without
    # storing it (read-only CI keys run `mno scan`); members upload SBOMs; triage (not_affected hides
    # a finding from the team's view) is a member's call as well, and audited: the engineers who know
    # the code decide whether it is affected. The download policy and its overrides decide what every
    # install of the team may fetch, so they are the managers': a member (or a CI key) cannot switch
    # the blocking off.
    Permission.SUPPLY_CHAIN_READ: _EVERYONE,
    Permission.SUPPLY_CHAIN_WRITE: _MANAGERS | {Role.MEMBER},
    Permission.SUPPLY_CHAIN_TRIAGE: _MANAGERS | {Role.MEMBER},
    Permission.SUPPLY_CHAIN_POLICY: _MANAGERS,
    # The account's GitHub App installations, the repositories they grant and the deliveries about
    # it: everyone in the team works with those repositories (and billing with the Marketplace
    # purchases the ledger shows). Read only; payloads and processing errors stay the operator's.
    Permission.GITHUB_READ: _ALL,
    Permission.PLATFORM_READ: frozenset(),
    Permission.PLATFORM_OPERATE: frozenset(),
}


def roles_allow(roles: tuple[str, ...], permission: Permission) -> bool:
    allowed = ROLE_PERMISSIONS[permission]
    return any(role in allowed for role in roles)


@functools.lru_cache(maxsize=1024)
def permissions_of_roles(roles: tuple[str, ...]) -> frozenset[Permission]:
    # Remembered per set of roles (every request asks; there are few distinct sets).
    return frozenset(p for p in Permission if roles_allow(roles, p))


_PERMISSION_VALUES = frozenset(p.value for p in Permission)


@functools.lru_cache(maxsize=4096)
def _permissions_of_list(permissions: tuple[str, ...]) -> frozenset[Permission]:
    # Remembered per list (an API key's, asked on each of its requests); names no longer known skipped.
    return frozenset(Permission(p) for p in permissions if p in _PERMISSION_VALUES)


def operator_permissions() -> tuple[str, ...]:
    """What the operator token may do: an owner's permissions and the platform's own."""
    return tuple(p.value for p in Permission)


def effective_permissions(principal: Principal) -> frozenset[Permission]:
    """What the principal may do: an API key's own list, else what its roles grant."""
    if principal.permissions is not None:
        return _permissions_of_list(tuple(principal.permissions))
    return permissions_of_roles(tuple(principal.roles))


def allows(principal: Principal, permission: Permission) -> bool:
    return permission in effective_permissions(principal)


def may_grant(principal: Principal, role: Role) -> bool:
    """No escalation: a role may be given (or taken away) only by someone who holds every permission
    it carries. Owners may grant any role; admins every rung below them but not billing."""
    return permissions_of_roles((role.value,)) <= effective_permissions(principal)
