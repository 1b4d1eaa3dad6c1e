"""What identity operations need to know of the caller."""

from __future__ import annotations

from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode, Principal


def team_of(principal: Principal) -> str:
    """The team the request acts in; 403 for a credential that belongs to no team (the operator token)."""
    if principal.team_id is None:
        raise AgentError(ErrorCode.FORBIDDEN, "this credential is not tied to a team")
    return principal.team_id
