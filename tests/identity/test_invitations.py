"""Invitations on a real PostgreSQL with e-mail through a real SMTP server (aiosmtpd): single use,
expiring, replaced by a re-send, revocable, bound to a GitHub login when made for one, within the
plan's seats and never above the inviter's own role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest

from services.identity import invitations
from services.identity.audit_api import Acting
from services.identity.invitations_api import InvitationDesk, SessionUser
from services.identity.plans import PlanBook
from shared.bus.errors import AgentError
from shared.config.models import DEFAULT_PLANS
from shared.email import EmailSender
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Role
from shared.messages.teams import AcceptInvitation, CreateInvitation, InvitationRef, ListInvitations
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.identity.test_teams_support import account, audit_actions, person, signed_in


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def desk_for(
    pool: asyncpg.Pool, smtp: SmtpServer | None, ttl: timedelta = timedelta(days=7)
) -> InvitationDesk:
    return InvitationDesk(
        pool,
        PlanBook(DEFAULT_PLANS, "free", pool),
        ttl,
        accept_url="https://mno.test/invitations/accept",
        mailer=EmailSender(smtp.settings()) if smtp is not None else None,
    )


def acting_as(user_id: str) -> Acting:
    return Acting(principal=Principal(user_id=user_id), ip="::1", user_agent="invitee")


async def test_email_invitation_is_mailed_accepted_once_and_audited(
    migrated_pool: asyncpg.Pool, smtp: SmtpServer
) -> None:
    """The token arrives by e-mail; the signed-in invitee joins with the role; a replay is 409."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    desk = desk_for(migrated_pool, smtp)
    issued = await desk.invite(admin.acting, CreateInvitation(email="new@example.com", role=Role.MEMBER))
    assert issued.emailed
    assert issued.invitation.status == "pending"
    [mail] = smtp.handler.received
    assert mail.rcpt_tos == ["new@example.com"]
    body = mail.message.get_content()
    token = re.search(r"#token=(\S+)", body)
    assert token is not None
    assert token.group(1) == issued.token
    stored = await migrated_pool.fetchval("SELECT secret_hash FROM super_agent.invitations")
    assert issued.token.split("_")[-1].encode() not in bytes(stored)

    invitee, _ = await signed_in(migrated_pool, "newbie")
    accepted = await desk.accept(
        SessionUser(invitee, "newbie"), acting_as(invitee), AcceptInvitation(token=issued.token)
    )
    assert accepted.member.role is Role.MEMBER
    assert accepted.team.id == team
    assert accepted.invitation.status == "accepted"
    other, _ = await signed_in(migrated_pool, "other")
    with pytest.raises(AgentError) as replay:
        await desk.accept(SessionUser(other, "other"), acting_as(other), AcceptInvitation(token=issued.token))
    assert replay.value.body.code is ErrorCode.CONFLICT
    assert replay.value.body.details[0]["status"] == "accepted"
    assert await audit_actions(migrated_pool, team) == ["invitations.create", "invitations.accept"]
    accept_entry = await migrated_pool.fetchrow(
        "SELECT actor_user_id, actor_ip, after::text FROM super_agent.audit_entries "
        "WHERE team_id = $1::uuid AND action = 'invitations.accept'",
        team,
    )
    assert accept_entry["actor_user_id"] == invitee
    assert accept_entry["actor_ip"] == "::1"
    assert issued.token not in accept_entry["after"]


async def test_resend_invalidates_the_previous_token(migrated_pool: asyncpg.Pool, smtp: SmtpServer) -> None:
    """After a re-send the old token is refused as invalid and the new one (mailed again) works."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    desk = desk_for(migrated_pool, smtp)
    first = await desk.invite(admin.acting, CreateInvitation(email="new@example.com"))
    second = await desk.resend(admin.acting, InvitationRef(invitation_id=first.invitation.id))
    assert second.token != first.token
    assert second.invitation.send_count == 2
    assert len(smtp.handler.received) == 2
    invitee, _ = await signed_in(migrated_pool, "newbie")
    user = SessionUser(invitee, "newbie")
    with pytest.raises(AgentError) as old:
        await desk.accept(user, acting_as(invitee), AcceptInvitation(token=first.token))
    assert old.value.body.code is ErrorCode.NOT_FOUND
    await desk.accept(user, acting_as(invitee), AcceptInvitation(token=second.token))
    assert await audit_actions(migrated_pool, team) == [
        "invitations.create",
        "invitations.resend",
        "invitations.accept",
    ]


async def test_expired_invitation_is_refused(migrated_pool: asyncpg.Pool) -> None:
    """An invitation past its expiry cannot be accepted, and lists as expired."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    desk = desk_for(migrated_pool, None, ttl=timedelta(milliseconds=1))
    issued = await desk.invite(admin.acting, CreateInvitation(github_login="newbie"))
    invitee, _ = await signed_in(migrated_pool, "newbie")
    with pytest.raises(AgentError) as expired:
        await desk.accept(
            SessionUser(invitee, "newbie"), acting_as(invitee), AcceptInvitation(token=issued.token)
        )
    assert expired.value.body.code is ErrorCode.CONFLICT
    assert expired.value.body.details[0]["status"] == "expired"
    listed = await desk.list(admin.principal, ListInvitations(status="expired"))
    assert [i.id for i in listed.invitations] == [issued.invitation.id]
    assert (
        await migrated_pool.fetchval(
            "SELECT count(*) FROM super_agent.team_members WHERE user_id = $1::uuid", invitee
        )
        == 0
    )


async def test_forged_tokens_are_not_found(migrated_pool: asyncpg.Pool) -> None:
    """Malformed tokens, a real id with a made-up secret and a made-up id are all 404, joining nothing."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    desk = desk_for(migrated_pool, None)
    issued = await desk.invite(admin.acting, CreateInvitation(github_login="newbie"))
    real = invitations.parse(issued.token)
    assert real is not None
    invitee, _ = await signed_in(migrated_pool, "newbie")
    for token in (
        "garbage",
        issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B"),
        invitations.token_for(real.invitation_id, invitations.new_secret()),
        invitations.token_for("8f0f7c1e-6f3c-4a59-9a55-8b9f3bb4d111", real.secret),
    ):
        with pytest.raises(AgentError) as forged:
            await desk.accept(
                SessionUser(invitee, "newbie"), acting_as(invitee), AcceptInvitation(token=token)
            )
        assert forged.value.body.code is ErrorCode.NOT_FOUND
    assert (
        await migrated_pool.fetchval(
            "SELECT count(*) FROM super_agent.team_members WHERE user_id = $1::uuid", invitee
        )
        == 0
    )


async def test_github_login_invitation_binds_that_user(migrated_pool: asyncpg.Pool) -> None:
    """Only the named GitHub user can accept (case-insensitively); anyone else holding the token is 403."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    desk = desk_for(migrated_pool, None)
    issued = await desk.invite(owner.acting, CreateInvitation(github_login="Octocat", role=Role.BILLING))
    assert not issued.emailed
    thief, _ = await signed_in(migrated_pool, "mallory")
    with pytest.raises(AgentError) as refused:
        await desk.accept(
            SessionUser(thief, "mallory"), acting_as(thief), AcceptInvitation(token=issued.token)
        )
    assert refused.value.body.code is ErrorCode.FORBIDDEN
    octo, _ = await signed_in(migrated_pool, "octocat")
    accepted = await desk.accept(
        SessionUser(octo, "octocat"), acting_as(octo), AcceptInvitation(token=issued.token)
    )
    assert accepted.member.role is Role.BILLING


async def test_revoked_invitation_is_refused(migrated_pool: asyncpg.Pool) -> None:
    """A revoked invitation cannot be accepted; the revocation is audited."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    desk = desk_for(migrated_pool, None)
    issued = await desk.invite(admin.acting, CreateInvitation(github_login="newbie"))
    revoked = await desk.revoke(admin.acting, InvitationRef(invitation_id=issued.invitation.id))
    assert revoked.status == "revoked"
    invitee, _ = await signed_in(migrated_pool, "newbie")
    with pytest.raises(AgentError) as refused:
        await desk.accept(
            SessionUser(invitee, "newbie"), acting_as(invitee), AcceptInvitation(token=issued.token)
        )
    assert refused.value.body.details[0]["status"] == "revoked"
    assert await audit_actions(migrated_pool, team) == ["invitations.create", "invitations.revoke"]


@pytest.mark.parametrize("role", [Role.OWNER, Role.BILLING])
async def test_no_invitation_above_the_inviters_role(migrated_pool: asyncpg.Pool, role: Role) -> None:
    """An admin cannot invite an owner or a billing member (permissions the admin lacks): 403."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    with pytest.raises(AgentError) as refused:
        await desk_for(migrated_pool, None).invite(
            admin.acting, CreateInvitation(github_login="x", role=role)
        )
    assert refused.value.body.code is ErrorCode.FORBIDDEN
    assert await migrated_pool.fetchval("SELECT count(*) FROM super_agent.invitations") == 0


async def test_full_plan_is_402_on_invite_and_on_accept(migrated_pool: asyncpg.Pool) -> None:
    """On the free plan (3 seats) a full account gets 402 naming the limit, inviting and accepting."""
    _, team = await account(migrated_pool, "acme")
    owner = await person(migrated_pool, team, "root", Role.OWNER)
    await person(migrated_pool, team, "two", Role.MEMBER)
    desk = desk_for(migrated_pool, None)
    pending = await desk.invite(owner.acting, CreateInvitation(github_login="late"))
    await person(migrated_pool, team, "three", Role.MEMBER)
    with pytest.raises(AgentError) as full:
        await desk.invite(owner.acting, CreateInvitation(github_login="four"))
    assert full.value.body.code is ErrorCode.PAYMENT_REQUIRED
    detail = full.value.body.details[0]
    assert (detail["limit"], detail["maximum"], detail["plan"]) == ("seats", 3, "free")
    late, _ = await signed_in(migrated_pool, "late")
    with pytest.raises(AgentError) as still_full:
        await desk.accept(SessionUser(late, "late"), acting_as(late), AcceptInvitation(token=pending.token))
    assert still_full.value.body.code is ErrorCode.PAYMENT_REQUIRED


async def test_mail_failure_keeps_the_invitation_and_says_so(
    migrated_pool: asyncpg.Pool, smtp: SmtpServer
) -> None:
    """When the relay refuses, the invitation stands, its token is returned and the failure is named."""
    smtp.handler.data_reply = "550 mailbox unavailable"
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN)
    issued = await desk_for(migrated_pool, smtp).invite(admin.acting, CreateInvitation(email="x@example.com"))
    assert not issued.emailed
    assert issued.delivery_error
    assert "550" in issued.delivery_error
    assert issued.invitation.status == "pending"


async def test_duplicates_and_members_are_conflicts(migrated_pool: asyncpg.Pool) -> None:
    """A second open invitation for the same person, or one for a member, is 409."""
    _, team = await account(migrated_pool, "acme")
    admin = await person(migrated_pool, team, "ada", Role.ADMIN, email="ada@example.com")
    desk = desk_for(migrated_pool, None)
    await desk.invite(admin.acting, CreateInvitation(github_login="newbie"))
    for again in (CreateInvitation(github_login="NEWBIE"), CreateInvitation(email="ADA@example.com")):
        with pytest.raises(AgentError) as conflict:
            await desk.invite(admin.acting, again)
        assert conflict.value.body.code is ErrorCode.CONFLICT
