"""An account's end: deactivated at once (no request of its teams is served, GitHub tokens are
dropped), its data purged after the retention period by every agent, each confirming, and only
then the account's own records removed (a tombstone keeps its id and login)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from services.github.client import GitHubClient
from services.github.token_cache import associated_data
from services.identity.installations import ensure_default_team
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.events import Delivery
from shared.crypto import SecretBox
from shared.db.inbox import Connection
from shared.db.locks import try_advisory_lock
from shared.messages.agents import ALL_AGENTS
from shared.messages.envelope import Principal
from shared.messages.lifecycle import AccountDeactivated, TeamDataPurged, TeamDataPurgeRequested
from shared.messages.registry import ACCOUNT_DEACTIVATED, TEAM_DATA_PURGE_REQUESTED

# A purge some agent has not confirmed is sent again after this long (the agent may have been down).
RESEND_AFTER = timedelta(minutes=10)

log = structlog.get_logger("mno.lifecycle")


async def deactivate_account(
    conn: Connection, account_id: str, *, reason: str, retention: timedelta, now: datetime | None = None
) -> AccountDeactivated | None:
    """Stop serving the account now and schedule its purge; None if it was not active."""
    now = now or datetime.now(UTC)
    row = await conn.fetchrow(
        """
        UPDATE super_agent.accounts SET status = 'deactivated', deactivated_at = $2, purge_after = $3,
            updated_at = $2
        WHERE id = $1::uuid AND status IN ('active', 'suspended')
        RETURNING purge_after
        """,
        account_id,
        now,
        now + retention,
    )
    if row is None:
        return None
    # Its installation tokens are revoked at GitHub by the lifecycle job (revoke_installation_tokens),
    # outside this transaction: a network call has no place in it.
    teams = await conn.fetch(
        "SELECT id::text AS id FROM super_agent.teams WHERE account_id = $1::uuid", account_id
    )
    return AccountDeactivated(
        account_id=account_id,
        team_ids=[t["id"] for t in teams],
        reason=reason,
        purge_after=row["purge_after"],
    )


@dataclass(frozen=True)
class GitHubTokens:
    """What revoking our installation tokens at GitHub needs."""

    github: GitHubClient
    box: SecretBox


async def revoke_installation_tokens(pool: Any, account_id: str, tokens: GitHubTokens | None) -> int:
    """Revoke at GitHub every installation token we hold for the account, then forget them.
    Without GitHub configured, or when GitHub fails, the copies are still dropped (GitHub's
    tokens expire within the hour anyway)."""
    rows = await pool.fetch(
        "SELECT t.installation_id, t.scope_key, t.ciphertext, t.expires_at "
        "FROM super_agent.installation_tokens t "
        "JOIN super_agent.installations i ON i.github_id = t.installation_id WHERE i.account_id = $1::uuid",
        account_id,
    )
    revoked = 0
    now = datetime.now(UTC)
    for row in rows:
        if tokens is None or row["expires_at"] <= now:
            continue
        try:
            token = tokens.box.decrypt(
                bytes(row["ciphertext"]), associated_data(row["installation_id"], row["scope_key"])
            ).decode()
            await tokens.github.revoke_installation_token(token)
            revoked += 1
        except Exception as error:
            log.warning(
                "could not revoke an installation token",
                installation=row["installation_id"],
                error=repr(error),
            )
    for installation_id in {row["installation_id"] for row in rows}:
        if tokens is not None:
            await tokens.github.tokens.forget_installation(installation_id)
    await pool.execute(
        "DELETE FROM super_agent.installation_tokens WHERE installation_id IN "
        "(SELECT github_id FROM super_agent.installations WHERE account_id = $1::uuid)",
        account_id,
    )
    return revoked


async def announce_deactivations(pool: Any, bus: Bus, tokens: GitHubTokens | None = None) -> int:
    """Revoke the GitHub tokens of each deactivation not yet announced, then publish it (the
    accounts table is the outbox)."""
    announced = 0
    async with try_advisory_lock(pool, "mno.lifecycle.announce") as held:
        if not held:
            return 0
        rows = await pool.fetch(
            """
            SELECT a.id::text AS account_id, a.purge_after, coalesce(array_agg(t.id::text)
                FILTER (WHERE t.id IS NOT NULL), '{}') AS team_ids
            FROM super_agent.accounts a LEFT JOIN super_agent.teams t ON t.account_id = a.id
            WHERE a.status = 'deactivated' AND a.deactivation_announced_at IS NULL
            GROUP BY a.id
            """
        )
        for row in rows:
            await revoke_installation_tokens(pool, row["account_id"], tokens)
            event = AccountDeactivated(
                account_id=row["account_id"],
                team_ids=list(row["team_ids"]),
                reason="account deactivated",
                purge_after=row["purge_after"],
            )
            await bus.publish(
                ACCOUNT_DEACTIVATED,
                event,
                MessageContext(principal=Principal.system()),
                message_id=f"deactivated:{event.account_id}:{event.purge_after.timestamp():.0f}",
            )
            await pool.execute(
                "UPDATE super_agent.accounts SET deactivation_announced_at = now() WHERE id = $1::uuid",
                row["account_id"],
            )
            announced += 1
    return announced


async def reactivate_account(conn: Connection, account_id: str, *, owners: Sequence[int] = ()) -> bool:
    """A purchase after a cancellation: the account is served again, whether it was only deactivated
    or already purged (then its teams are gone: it gets a new default team). A default team without
    an owner gets one from the people who can claim the account: `owners` (GitHub user ids, e.g. who
    bought the plan) and whoever installed the App on it, among those who have signed in."""
    status: str = await conn.execute(
        "UPDATE super_agent.accounts SET status = 'active', deactivated_at = NULL, purge_after = NULL, "
        "deactivation_announced_at = NULL, updated_at = now() "
        "WHERE id = $1::uuid AND status IN ('deactivated', 'purged')",
        account_id,
    )
    revived = status.endswith(" 1")
    if revived:
        await ensure_default_team(conn, account_id)
        await claim_ownerless_default_team(conn, account_id, owners)
    return revived


async def claim_ownerless_default_team(conn: Connection, account_id: str, owners: Sequence[int]) -> None:
    """Make the account's claimants owners of its default team, if that team has no owner."""
    await conn.execute(
        """
        INSERT INTO super_agent.team_members (team_id, user_id, role)
        SELECT t.id, u.id, 'owner' FROM super_agent.teams t
        JOIN super_agent.users u ON u.github_id = ANY($2::bigint[]) OR u.github_id IN (
            SELECT i.installed_by_github_id FROM super_agent.installations i
            WHERE i.account_id = t.account_id AND i.status <> 'deleted')
        WHERE t.account_id = $1::uuid AND t.is_default AND t.deleted_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM super_agent.team_members m
                          WHERE m.team_id = t.id AND m.role = 'owner')
        ON CONFLICT (team_id, user_id) DO UPDATE SET role = 'owner'
        """,
        account_id,
        list(owners),
    )


async def purge_own_team_data(conn: Connection, team_ids: Sequence[str]) -> int:
    """The SuperAgent's share of a team purge: keys and memberships (teams go at completion)."""
    keys: str = await conn.execute(
        "DELETE FROM super_agent.api_keys WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    members: str = await conn.execute(
        "DELETE FROM super_agent.team_members WHERE team_id = ANY($1::uuid[])", list(team_ids)
    )
    return int(keys.split()[-1]) + int(members.split()[-1])


async def request_due_purges(pool: Any, bus: Bus, *, now: datetime | None = None) -> int:
    """Start the purge of every account past its retention, and resend purges some agent has not
    confirmed. One replica at a time does this."""
    now = now or datetime.now(UTC)
    async with try_advisory_lock(pool, "mno.lifecycle.purges") as held:
        if not held:
            return 0
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO super_agent.purge_requests
                    (request_id, account_id, team_ids, reason, last_sent_at)
                SELECT 'account:' || a.id::text || ':'
                           || (extract(epoch FROM a.deactivated_at) * 1e6)::bigint,
                       a.id, coalesce(array_agg(t.id) FILTER (WHERE t.id IS NOT NULL), '{}'),
                       'account cancelled', $1
                FROM super_agent.accounts a LEFT JOIN super_agent.teams t ON t.account_id = a.id
                WHERE a.status = 'deactivated' AND a.purge_after <= $1
                  -- one purge per deactivation: a customer who returns and leaves again is purged again
                  AND NOT EXISTS (SELECT 1 FROM super_agent.purge_requests r
                                  WHERE r.account_id = a.id AND r.completed_at IS NULL)
                GROUP BY a.id
                ON CONFLICT (request_id) DO NOTHING
                """,
                now,
            )
            due = await conn.fetch(
                """
                UPDATE super_agent.purge_requests SET last_sent_at = $1
                WHERE completed_at IS NULL AND (last_sent_at = $1 OR last_sent_at <= $2)
                RETURNING request_id, team_ids::text[] AS team_ids, reason, account_id::text AS account_id
                """,
                now,
                now - RESEND_AFTER,
            )
        sent = 0
        for request in due:
            if not request["team_ids"]:
                await complete_purge(pool, request["request_id"])
                continue
            await bus.publish(
                TEAM_DATA_PURGE_REQUESTED,
                TeamDataPurgeRequested(
                    request_id=request["request_id"], team_ids=request["team_ids"], reason=request["reason"]
                ),
                MessageContext(principal=Principal.system()),
                # Each sending is its own message: a resend must get past the duplicate window.
                message_id=f"purge:{request['request_id']}:{now.timestamp():.0f}",
            )
            sent += 1
        return sent


async def record_confirmation(
    pool: Any, event: TeamDataPurged, _ctx: MessageContext, _delivery: Delivery
) -> bool:
    """Count one agent's confirmation; when every agent has confirmed, finish the purge."""
    async with pool.acquire() as conn:
        inserted = await conn.fetchval(
            "INSERT INTO super_agent.purge_confirmations (request_id, agent, rows_deleted) "
            "SELECT request_id, $2, $3 FROM super_agent.purge_requests WHERE request_id = $1 "
            "ON CONFLICT DO NOTHING RETURNING true",
            event.request_id,
            event.agent.value,
            event.rows_deleted,
        )
        confirmed = await conn.fetchval(
            "SELECT count(*) FROM super_agent.purge_confirmations WHERE request_id = $1", event.request_id
        )
    if confirmed >= len(ALL_AGENTS):
        await complete_purge(pool, event.request_id)
    return bool(inserted)


async def complete_purge(pool: Any, request_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        request = await conn.fetchrow(
            "SELECT account_id::text AS account_id, team_ids::text[] AS team_ids "
            "FROM super_agent.purge_requests WHERE request_id = $1 AND completed_at IS NULL FOR UPDATE",
            request_id,
        )
        if request is None:
            return
        await conn.execute("DELETE FROM super_agent.teams WHERE id = ANY($1::uuid[])", request["team_ids"])
        account_id = request["account_id"]
        if account_id is not None:
            ended = await conn.fetchval(
                "UPDATE super_agent.accounts SET status = 'purged', purge_after = NULL, updated_at = now() "
                "WHERE id = $1::uuid AND status = 'deactivated' RETURNING true",
                account_id,
            )
            if ended:
                await conn.execute(
                    "DELETE FROM super_agent.installations WHERE account_id = $1::uuid", account_id
                )
            else:
                # Bought again while its data was being purged: that data is gone, the account is not.
                await ensure_default_team(conn, account_id)
                await claim_ownerless_default_team(conn, account_id, ())
        await conn.execute(
            "UPDATE super_agent.purge_requests SET completed_at = now() WHERE request_id = $1", request_id
        )
    log.info("purge complete", request_id=request_id, teams=len(request["team_ids"]))
