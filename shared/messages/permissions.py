"""Permissions as `resource:action`, and which roles hold them. The teams/RBAC issue grows this table;
the edge checks it on every route and agents check it again on what they serve."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"
    BILLING = "billing"


class Permission(StrEnum):
    MESH_READ = "mesh:read"
    MESH_WRITE = "mesh:write"


ROLE_PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.MESH_READ: frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER}),
    Permission.MESH_WRITE: frozenset({Role.OWNER, Role.ADMIN}),
}


def roles_allow(roles: tuple[str, ...], permission: Permission) -> bool:
    allowed = ROLE_PERMISSIONS[permission]
    return any(role in allowed for role in roles)
