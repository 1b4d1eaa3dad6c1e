"""What every agent needs to know of the caller of a request: its team, and whether it holds a
permission (agents check again what the edge checked)."""

from __future__ import annotations

from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission, allows


def team_of(principal: Principal) -> str:
    """The team the request acts in; 403 for a credential that belongs to no team (the operator token)."""
    if principal.team_id is None:
        raise AgentError(ErrorCode.FORBIDDEN, "this credential is not tied to a team")
    return principal.team_id


def require(principal: Principal | None, permission: Permission) -> Principal:
    """The principal, if it holds `permission`; 403 otherwise. Agents check again what the edge
    checked, so a message that reached them some other way gets no further."""
    if principal is None or not allows(principal, permission):
        raise AgentError(ErrorCode.FORBIDDEN, f"this needs the {permission.value} permission")
    return principal


def team_with(principal: Principal | None, permission: Permission) -> str:
    """The team a request holding `permission` acts in (see `require` and `team_of`)."""
    return team_of(require(principal, permission))
