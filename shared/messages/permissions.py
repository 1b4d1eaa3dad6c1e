"""Permissions as `resource:action`, and which roles hold them. The teams/RBAC issue grows this table;
the edge checks it on every route and agents check it again on what they serve."""

from __future__ import annotations

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


_EVERYONE = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER})
_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})

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
}


def roles_allow(roles: tuple[str, ...], permission: Permission) -> bool:
    allowed = ROLE_PERMISSIONS[permission]
    return any(role in allowed for role in roles)


def permissions_of_roles(roles: tuple[str, ...]) -> frozenset[Permission]:
    return frozenset(p for p in Permission if roles_allow(roles, p))


def effective_permissions(principal: Principal) -> frozenset[Permission]:
    """What the principal may do: an API key's own list, else what its roles grant."""
    if principal.permissions is not None:
        return frozenset(Permission(p) for p in principal.permissions if p in Permission.__members__.values())
    return permissions_of_roles(principal.roles)


def allows(principal: Principal, permission: Permission) -> bool:
    return permission in effective_permissions(principal)
