"""The /api/v1/invitations operations: invite by e-mail or GitHub login, re-send, revoke, accept.

Inviting, re-sending and revoking act on the principal's team; accepting is done by a signed-in
person holding the token, who then joins the invitation's team with its role. Seats are checked
when inviting (early, clear) and again when accepting (under the account's row lock, so two
acceptances cannot both take the last seat).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import structlog

from services.identity import invitations, members, teams
from services.identity.audit_api import Acting
from services.identity.plans import PlanBook
from services.identity.teams_api import lock_acting_team, not_found, page_after, require
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission, may_grant
from shared.messages.teams import (
    AcceptedInvitation,
    AcceptInvitation,
    CreateInvitation,
    InvitationInfo,
    InvitationList,
    InvitationRef,
    IssuedInvitation,
    ListInvitations,
)
from shared.principals import team_of

log = structlog.get_logger("mno.invitations")

# Never a member of anything: asking PlanBook.require_seat about it asks "is there room for one more".
_NOBODY = "00000000-0000-0000-0000-000000000000"


class InvitationMailer(Protocol):
    """What sending an invitation needs of an e-mail sender (services/email/sender.py: EmailSender
    has this shape). Failures raise an exception carrying a `transient` flag."""

    async def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class SessionUser:
    """The signed-in person accepting an invitation (session authentication only)."""

    user_id: str
    login: str


@dataclass
class InvitationDesk:
    pool: Any
    plans: PlanBook
    ttl: timedelta
    accept_url: str  # where the e-mail sends people; the token follows as `#token=`
    mailer: InvitationMailer | None = None

    async def list(self, principal: Principal, request: ListInvitations) -> InvitationList:
        after = page_after(request.cursor)
        async with self.pool.acquire() as conn:
            page, cursor = await invitations.list_invitations(
                conn, team_of(principal), status=request.status, limit=request.limit, after=after
            )
        return InvitationList(invitations=page, next_cursor=cursor)

    async def get(self, principal: Principal, request: InvitationRef) -> InvitationInfo:
        async with self.pool.acquire() as conn:
            row = await invitations.get(conn, team_of(principal), str(request.invitation_id))
        if row is None:
            raise not_found("invitation", str(request.invitation_id))
        return invitations.info(row)

    async def invite(self, acting: Acting, request: CreateInvitation) -> IssuedInvitation:
        async with self.pool.acquire() as conn, conn.transaction():
            team_id, actor = await lock_acting_team(conn, acting.principal)
            require(actor, Permission.MEMBERS_INVITE)
            if not may_grant(actor, request.role):
                raise AgentError(
                    ErrorCode.FORBIDDEN,
                    f"you cannot invite someone as {request.role.value}: it carries permissions you lack",
                    [
                        {
                            "loc": "role",
                            "message": f"not yours to grant: {request.role.value}",
                            "type": "escalation",
                        }
                    ],
                )
            existing = await invitations.open_for(
                conn, team_id, email=request.email, github_login=request.github_login
            )
            if existing is not None:
                raise AgentError(
                    ErrorCode.CONFLICT,
                    "this person already has an open invitation to the team: re-send or revoke it",
                    [{"loc": "invitation_id", "invitation_id": existing["id"], "type": "conflict"}],
                )
            if await _already_member(conn, team_id, request.email, request.github_login):
                raise AgentError(ErrorCode.CONFLICT, "this person is already in the team")
            team = await teams.get(conn, team_id)
            assert team is not None
            await self.plans.require_seat(conn, team.account_id, _NOBODY)
            issued, token = await invitations.create(
                conn,
                team_id,
                email=request.email,
                github_login=request.github_login,
                role=request.role,
                invited_by=acting.principal.user_id,
                ttl=self.ttl,
            )
            await acting.record(
                conn, team_id, "invitations.create", "invitation", issued.id, after=_state(issued)
            )
        return await self._deliver(issued, token, team.name)

    async def resend(self, acting: Acting, request: InvitationRef) -> IssuedInvitation:
        """A new token (the old one stops working) and a new expiry, mailed again for e-mail invitations."""
        invitation_id = str(request.invitation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            team_id, actor, before = await _locked_invitation(conn, acting, invitation_id)
            if before.status in ("accepted", "revoked"):
                raise AgentError(
                    ErrorCode.CONFLICT, f"the invitation is {before.status}: invite again instead"
                )
            if not may_grant(actor, before.role):
                raise AgentError(ErrorCode.FORBIDDEN, f"you cannot invite someone as {before.role.value}")
            renewed, token = await invitations.renew(conn, invitation_id, ttl=self.ttl)
            await acting.record(
                conn,
                team_id,
                "invitations.resend",
                "invitation",
                invitation_id,
                before=_state(before),
                after=_state(renewed),
            )
            team = await teams.get(conn, team_id)
            assert team is not None
        return await self._deliver(renewed, token, team.name)

    async def revoke(self, acting: Acting, request: InvitationRef) -> InvitationInfo:
        invitation_id = str(request.invitation_id)
        async with self.pool.acquire() as conn, conn.transaction():
            team_id, _actor, before = await _locked_invitation(conn, acting, invitation_id)
            if before.status == "accepted":
                raise AgentError(ErrorCode.CONFLICT, "the invitation was accepted: remove the member instead")
            if before.status == "revoked":
                return before
            revoked = await invitations.revoke(conn, invitation_id, acting.principal.user_id)
            await acting.record(
                conn,
                team_id,
                "invitations.revoke",
                "invitation",
                invitation_id,
                before=_state(before),
                after=_state(revoked),
            )
        return revoked

    async def accept(
        self, user: SessionUser, acting: Acting, request: AcceptInvitation
    ) -> AcceptedInvitation:
        presented = invitations.parse(request.token)
        forged = AgentError(ErrorCode.NOT_FOUND, "this invitation token is not valid")
        if presented is None:
            raise forged
        async with self.pool.acquire() as conn, conn.transaction():
            row = await invitations.get_by_id(conn, presented.invitation_id)
            if row is None or not invitations.matches(row, presented.secret):
                raise forged
            invitation = invitations.info(row)
            if invitation.status != "pending":
                raise AgentError(
                    ErrorCode.CONFLICT,
                    f"this invitation is {invitation.status}: ask for a new one",
                    [
                        {
                            "loc": "token",
                            "status": invitation.status,
                            "type": "invitation_" + invitation.status,
                        }
                    ],
                )
            login = invitation.github_login
            if login is not None and login.lower() != user.login.lower():
                raise AgentError(ErrorCode.FORBIDDEN, "this invitation is for another GitHub user")
            team = await teams.get(conn, invitation.team_id, lock=True)
            if team is None:
                raise forged
            if await members.get(conn, team.id, user.user_id) is not None:
                raise AgentError(ErrorCode.CONFLICT, "you are already in this team")
            # The account's row serialises acceptances into any of its teams: seats are per account.
            await conn.execute(
                "SELECT 1 FROM super_agent.accounts WHERE id = $1::uuid FOR UPDATE", team.account_id
            )
            await self.plans.require_seat(conn, team.account_id, user.user_id)
            member = await members.add(conn, team.id, user.user_id, invitation.role)
            accepted = await invitations.mark_accepted(conn, invitation.id, user.user_id)
            invitee = Acting(
                principal=Principal(team_id=team.id, user_id=user.user_id, roles=(invitation.role.value,)),
                ip=acting.ip,
                user_agent=acting.user_agent,
                correlation_id=acting.correlation_id,
            )
            await invitee.record(
                conn,
                team.id,
                "invitations.accept",
                "invitation",
                invitation.id,
                before=_state(invitation),
                after={**_state(accepted), "user_id": user.user_id},
            )
        return AcceptedInvitation(
            invitation=accepted, member=member, team=team.model_copy(update={"your_role": invitation.role})
        )

    async def _deliver(self, invitation: InvitationInfo, token: str, team_name: str) -> IssuedInvitation:
        if invitation.email is None or self.mailer is None:
            return IssuedInvitation(invitation=invitation, token=token, emailed=False)
        subject = f"You are invited to the {team_name} team on MachineNativeOps"
        text = (
            f"You have been invited to join the team {team_name} on MachineNativeOps as "
            f"{invitation.role.value}.\n\n"
            f"Sign in with GitHub and accept: {self.accept_url}#token={token}\n\n"
            f"The invitation expires at {invitation.expires_at:%Y-%m-%d %H:%M} UTC and works once.\n"
            "If you did not expect it, ignore this message.\n"
        )
        try:
            await self.mailer.send(
                [invitation.email], subject, text, headers={"X-MNO-Invitation": invitation.id}
            )
        except Exception as error:  # EmailDeliveryError, or anything a mailer raises: the token still stands
            log.warning("invitation e-mail not sent", invitation_id=invitation.id, error=repr(error))
            return IssuedInvitation(
                invitation=invitation, token=token, emailed=False, delivery_error=str(error)
            )
        return IssuedInvitation(invitation=invitation, token=token, emailed=True)


async def _locked_invitation(
    conn: Connection, acting: Acting, invitation_id: str
) -> tuple[str, Principal, InvitationInfo]:
    """(team id, actor, invitation) of an invitation of the acting team, locked for a change the actor
    may invite for; 404 when the team has no such invitation."""
    team_id, actor = await lock_acting_team(conn, acting.principal)
    require(actor, Permission.MEMBERS_INVITE)
    row = await invitations.get(conn, team_id, invitation_id, lock=True)
    if row is None:
        raise not_found("invitation", invitation_id)
    return team_id, actor, invitations.info(row)


async def _already_member(conn: Connection, team_id: str, email: str | None, login: str | None) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM super_agent.team_members m "
        "JOIN super_agent.users u ON u.id = m.user_id "
        "WHERE m.team_id = $1::uuid AND (lower(u.email) = lower($2) OR lower(u.login) = lower($3)))",
        team_id,
        email,
        login,
    )
    return found


def _state(invitation: InvitationInfo) -> dict[str, Any]:
    # Never the token: audit entries cannot be deleted.
    return {
        "email": invitation.email,
        "github_login": invitation.github_login,
        "role": invitation.role.value,
        "status": invitation.status,
        "expires_at": invitation.expires_at.isoformat(),
        "send_count": invitation.send_count,
    }
