"""The alerts store in PostgreSQL (schema `monitoring`, migration 0003_alerts.sql).

Every method that reads or changes a team's channels, alerts or deliveries takes the team id
and puts it in the WHERE clause: an id of another team's row is simply not found. The only
cross-team reads are the delivery worker's (`claim_due`), which hands out work, not data to show.

Channel secrets (a Slack webhook URL, a webhook signing secret) are sealed with `SecretBox`
bound to the team and channel id, so a ciphertext copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.alerts.models import ClaimedDispatch, StoredChannel
from services.alerts.outcome import DeliveryOutcome
from shared.crypto import SecretBox
from shared.db.inbox import Connection
from shared.messages.alerts import (
    Alert,
    AlertChannelInfo,
    AlertDeliveryInfo,
    AlertHistoryEntry,
    AlertHistoryFilters,
    AlertHistoryPage,
    AlertRecord,
    ChannelKind,
    DeliveryStatus,
)

__all__ = ["AlertStore", "ChannelNameTaken", "ChannelSecretsUnavailable", "InvalidCursor", "purge_teams"]

_CHANNEL_COLUMNS = (
    "id::text AS id, team_id::text AS team_id, kind, name, settings, sealed_secrets, enabled, "
    "created_at, updated_at"
)
_ALERT_COLUMNS = (
    "id::text AS id, team_id::text AS team_id, kind, severity, title, text, details, dedup_key, raised_at"
)
_DELIVERY_COLUMNS = (
    "alert_id::text AS alert_id, channel_id::text AS channel_id, channel_kind, channel_name, attempt, "
    "status, response_code, error, started_at, finished_at, next_attempt_at"
)
# Error texts come from remote servers: keep the history readable and bounded.
_ERROR_CHARS = 1000


class ChannelSecretsUnavailable(Exception):
    """A channel with secrets needs the encryption keyring (auth.encryption_keys), which is not set."""

    def __init__(self) -> None:
        super().__init__(
            "Slack and webhook channels need auth.encryption_keys: their secrets are stored encrypted"
        )


class ChannelNameTaken(Exception):
    """The team already has a channel of that name."""


class InvalidCursor(ValueError):
    """A history cursor that `history` did not make."""


def _team(team_id: str) -> str:
    """The team id in canonical form; ValueError if it is not a UUID (a caller's bug, not input)."""
    return str(uuid.UUID(team_id))


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _associated_data(team_id: str, channel_id: str) -> bytes:
    return f"mno.alerts.channel:{team_id}:{channel_id}".encode()


def encode_cursor(raised_at: datetime, alert_id: str) -> str:
    raw = json.dumps({"v": 1, "t": raised_at.isoformat(), "id": alert_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError
        alert_id = _uuid_or_none(str(data["id"]))
        raised_at = datetime.fromisoformat(str(data["t"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("invalid cursor") from None
    if alert_id is None or raised_at.tzinfo is None:
        raise InvalidCursor("invalid cursor")
    return raised_at, alert_id


def _alert(row: asyncpg.Record) -> AlertRecord:
    return AlertRecord.model_validate(dict(row))


def _delivery(row: asyncpg.Record) -> AlertDeliveryInfo:
    return AlertDeliveryInfo.model_validate(dict(row))


class AlertStore:
    def __init__(self, pool: Any, box: SecretBox | None) -> None:
        self._pool = pool
        self._box = box

    # --- channels ---------------------------------------------------------------------------------

    async def create_channel(
        self,
        team_id: str,
        *,
        name: str,
        kind: ChannelKind,
        settings: dict[str, Any],
        secrets: dict[str, str],
        enabled: bool = True,
    ) -> StoredChannel:
        team = _team(team_id)
        channel_id = str(uuid.uuid4())
        sealed: bytes | None = None
        if secrets:
            if self._box is None:
                raise ChannelSecretsUnavailable()
            plaintext = json.dumps(secrets, separators=(",", ":")).encode()
            sealed = self._box.encrypt(plaintext, _associated_data(team, channel_id))
        try:
            row = await self._pool.fetchrow(
                f"""
                INSERT INTO monitoring.alert_channels
                    (id, team_id, kind, name, settings, sealed_secrets, enabled)
                VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7)
                RETURNING {_CHANNEL_COLUMNS}
                """,
                channel_id,
                team,
                kind.value,
                name,
                settings,
                sealed,
                enabled,
            )
        except asyncpg.UniqueViolationError:
            raise ChannelNameTaken(f"the team already has an alert channel named {name!r}") from None
        return self._stored_channel(row, secrets)

    async def list_channels(self, team_id: str) -> list[AlertChannelInfo]:
        rows = await self._pool.fetch(
            f"SELECT {_CHANNEL_COLUMNS} FROM monitoring.alert_channels WHERE team_id = $1::uuid "
            "ORDER BY name",
            _team(team_id),
        )
        return [self._stored_channel(row, {}).info() for row in rows]

    async def channel(self, team_id: str, channel_id: str) -> StoredChannel | None:
        """The team's channel with its secrets opened, or None (unknown id, or another team's)."""
        row = await self._channel_row(team_id, channel_id)
        return None if row is None else self._stored_channel(row, self._open(row))

    async def channel_info(self, team_id: str, channel_id: str) -> AlertChannelInfo | None:
        """The team's channel without opening its secrets, or None."""
        row = await self._channel_row(team_id, channel_id)
        return None if row is None else self._stored_channel(row, {}).info()

    async def _channel_row(self, team_id: str, channel_id: str) -> Any:
        team, channel = _team(team_id), _uuid_or_none(channel_id)
        if channel is None:
            return None
        return await self._pool.fetchrow(
            f"SELECT {_CHANNEL_COLUMNS} FROM monitoring.alert_channels "
            "WHERE team_id = $1::uuid AND id = $2::uuid",
            team,
            channel,
        )

    async def set_channel_enabled(
        self, team_id: str, channel_id: str, enabled: bool
    ) -> AlertChannelInfo | None:
        team, channel = _team(team_id), _uuid_or_none(channel_id)
        if channel is None:
            return None
        row = await self._pool.fetchrow(
            f"""
            UPDATE monitoring.alert_channels SET enabled = $3, updated_at = now()
            WHERE team_id = $1::uuid AND id = $2::uuid
            RETURNING {_CHANNEL_COLUMNS}
            """,
            team,
            channel,
            enabled,
        )
        return None if row is None else self._stored_channel(row, {}).info()

    async def delete_channel(self, team_id: str, channel_id: str) -> bool:
        """Delete the channel; deliveries still owed to it are dropped, its history stays."""
        team, channel = _team(team_id), _uuid_or_none(channel_id)
        if channel is None:
            return False
        status: str = await self._pool.execute(
            "DELETE FROM monitoring.alert_channels WHERE team_id = $1::uuid AND id = $2::uuid", team, channel
        )
        return status == "DELETE 1"

    def _open(self, row: asyncpg.Record) -> dict[str, str]:
        sealed = row["sealed_secrets"]
        if sealed is None:
            return {}
        if self._box is None:
            raise ChannelSecretsUnavailable()
        plaintext = self._box.decrypt(bytes(sealed), _associated_data(row["team_id"], row["id"]))
        secrets: dict[str, str] = json.loads(plaintext)
        return secrets

    @staticmethod
    def _stored_channel(row: asyncpg.Record, secrets: dict[str, str]) -> StoredChannel:
        return StoredChannel(
            id=row["id"],
            team_id=row["team_id"],
            kind=ChannelKind(row["kind"]),
            name=row["name"],
            enabled=row["enabled"],
            settings=row["settings"],
            secrets=secrets,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    # --- alerts and the work they make --------------------------------------------------------------

    async def record_alert(
        self, team_id: str, alert: Alert, *, channel_ids: Collection[str] | None = None
    ) -> AlertRecord | None:
        """Store the alert and owe it to every enabled channel of the team (of `channel_ids` only, when
        given), in one transaction; None if the team already has an alert with this dedup key."""
        team = _team(team_id)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                INSERT INTO monitoring.alerts (id, team_id, kind, severity, title, text, details, dedup_key)
                VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (team_id, dedup_key) DO NOTHING
                RETURNING {_ALERT_COLUMNS}
                """,
                str(uuid.uuid4()),
                team,
                alert.kind.value,
                alert.severity.value,
                alert.title,
                alert.text,
                alert.details,
                alert.dedup_key,
            )
            if row is None:
                return None
            await conn.execute(
                """
                INSERT INTO monitoring.alert_dispatches (alert_id, channel_id, team_id, next_attempt_at)
                SELECT $1::uuid, id, team_id, now() FROM monitoring.alert_channels
                WHERE team_id = $2::uuid AND enabled AND ($3::uuid[] IS NULL OR id = ANY($3::uuid[]))
                """,
                row["id"],
                team,
                None if channel_ids is None else list(channel_ids),
            )
        return _alert(row)

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[ClaimedDispatch]:
        """Take up to `limit` deliveries whose time has come (any team), each for `lease_seconds`."""
        return await self._claim(
            "d.state = 'pending' AND d.next_attempt_at <= now()", [], limit, lease_seconds
        )

    async def claim_alert(
        self, team_id: str, alert_id: str, *, lease_seconds: float
    ) -> list[ClaimedDispatch]:
        """Take the due deliveries of one of the team's alerts."""
        return await self._claim(
            "d.team_id = $2::uuid AND d.alert_id = $3::uuid "
            "AND d.state = 'pending' AND d.next_attempt_at <= now()",
            [_team(team_id), alert_id],
            None,
            lease_seconds,
        )

    async def claim_next(self, previous: ClaimedDispatch, *, lease_seconds: float) -> ClaimedDispatch | None:
        """Take the next attempt of a delivery this worker made the last attempt of, unless
        another worker has taken it over since (its attempt count moved on)."""
        claimed = await self._claim(
            "d.team_id = $2::uuid AND d.alert_id = $3::uuid AND d.channel_id = $4::uuid "
            "AND d.state = 'pending' AND d.attempts = $5",
            [previous.alert.team_id, previous.alert.id, previous.channel_id, previous.attempt],
            None,
            lease_seconds,
        )
        return claimed[0] if claimed else None

    async def _claim(
        self, condition: str, args: Sequence[Any], limit: int | None, lease_seconds: float
    ) -> list[ClaimedDispatch]:
        # Claiming counts the attempt and moves next_attempt_at past the lease in one statement;
        # SKIP LOCKED lets replicas claim side by side without waiting for each other. `condition`
        # numbers its parameters from $2 ($1 is the lease).
        limit_sql = "" if limit is None else f"LIMIT {int(limit)}"
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"""
                WITH due AS (
                    SELECT d.alert_id, d.channel_id FROM monitoring.alert_dispatches d
                    WHERE {condition}
                    ORDER BY d.next_attempt_at
                    {limit_sql}
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE monitoring.alert_dispatches d
                SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
                FROM due
                WHERE d.alert_id = due.alert_id AND d.channel_id = due.channel_id
                RETURNING d.alert_id::text AS alert_id, d.channel_id::text AS channel_id, d.attempts
                """,
                float(lease_seconds),
                *args,
            )
            if not rows:
                return []
            alerts = await conn.fetch(
                f"SELECT {_ALERT_COLUMNS} FROM monitoring.alerts WHERE id = ANY($1::uuid[])",
                list({row["alert_id"] for row in rows}),
            )
        by_id = {row["id"]: _alert(row) for row in alerts}
        return [ClaimedDispatch(by_id[row["alert_id"]], row["channel_id"], row["attempts"]) for row in rows]

    async def record_attempt(
        self,
        claim: ClaimedDispatch,
        channel: StoredChannel | AlertChannelInfo,
        *,
        started_at: datetime,
        outcome: DeliveryOutcome,
        retry_in_seconds: float | None,
    ) -> DeliveryStatus:
        """Write the attempt's history row and what is still owed: sent, failed, or retrying in
        `retry_in_seconds` (None: no retry)."""
        if outcome.ok:
            status = DeliveryStatus.SENT
        elif retry_in_seconds is not None:
            status = DeliveryStatus.RETRYING
        else:
            status = DeliveryStatus.FAILED
        state = "pending" if status is DeliveryStatus.RETRYING else status.value
        error = None if outcome.error is None else outcome.error[:_ERROR_CHARS]
        team = claim.alert.team_id
        async with self._pool.acquire() as conn, conn.transaction():
            next_attempt_at = await conn.fetchval(
                """
                SELECT CASE WHEN $1::float8 IS NULL THEN NULL
                            ELSE now() + make_interval(secs => $1::float8) END
                """,
                retry_in_seconds,
            )
            # Only while this worker still holds the delivery: after its lease ran out another
            # worker may have taken over, and then that worker's result stands.
            await conn.execute(
                """
                UPDATE monitoring.alert_dispatches SET state = $5, next_attempt_at = $6
                WHERE team_id = $1::uuid AND alert_id = $2::uuid AND channel_id = $3::uuid AND attempts = $4
                """,
                team,
                claim.alert.id,
                claim.channel_id,
                claim.attempt,
                state,
                next_attempt_at,
            )
            await conn.execute(
                """
                INSERT INTO monitoring.alert_deliveries (
                    team_id, alert_id, channel_id, channel_kind, channel_name, attempt, status,
                    response_code, error, started_at, next_attempt_at
                )
                VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7, $8, $9, $10, $11)
                """,
                team,
                claim.alert.id,
                claim.channel_id,
                channel.kind.value,
                channel.name,
                claim.attempt,
                status.value,
                outcome.response_code,
                error,
                started_at,
                next_attempt_at,
            )
        return status

    async def drop_dispatch(self, claim: ClaimedDispatch) -> None:
        """Forget a delivery whose channel is gone (deleted between claim and attempt)."""
        await self._pool.execute(
            "DELETE FROM monitoring.alert_dispatches WHERE team_id = $1::uuid AND alert_id = $2::uuid "
            "AND channel_id = $3::uuid",
            claim.alert.team_id,
            claim.alert.id,
            claim.channel_id,
        )

    # --- reading ------------------------------------------------------------------------------------

    async def alert(self, team_id: str, alert_id: str) -> AlertRecord | None:
        team, alert = _team(team_id), _uuid_or_none(alert_id)
        if alert is None:
            return None
        row = await self._pool.fetchrow(
            f"SELECT {_ALERT_COLUMNS} FROM monitoring.alerts WHERE team_id = $1::uuid AND id = $2::uuid",
            team,
            alert,
        )
        return None if row is None else _alert(row)

    async def deliveries(self, team_id: str, alert_id: str) -> list[AlertDeliveryInfo]:
        team, alert = _team(team_id), _uuid_or_none(alert_id)
        if alert is None:
            return []
        rows = await self._pool.fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM monitoring.alert_deliveries "
            "WHERE team_id = $1::uuid AND alert_id = $2::uuid ORDER BY id",
            team,
            alert,
        )
        return [_delivery(row) for row in rows]

    async def history(
        self, team_id: str, filters: AlertHistoryFilters, limit: int, cursor: str | None
    ) -> AlertHistoryPage:
        """The team's alerts, newest first, each with its delivery attempts."""
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        args: list[Any] = [_team(team_id)]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        conditions = ["a.team_id = $1::uuid"]
        if filters.kind is not None:
            conditions.append(f"a.kind = {arg(filters.kind.value)}")
        if filters.severity is not None:
            conditions.append(f"a.severity = {arg(filters.severity.value)}")
        if filters.since is not None:
            conditions.append(f"a.raised_at >= {arg(filters.since)}")
        if filters.until is not None:
            conditions.append(f"a.raised_at < {arg(filters.until)}")
        if filters.channel_id is not None:
            channel = _uuid_or_none(filters.channel_id)
            if channel is None:
                return AlertHistoryPage(entries=[])
            placeholder = arg(channel)
            conditions.append(
                "(EXISTS (SELECT 1 FROM monitoring.alert_dispatches d WHERE d.alert_id = a.id "
                f"AND d.channel_id = {placeholder}::uuid) OR EXISTS (SELECT 1 FROM "
                "monitoring.alert_deliveries x WHERE x.alert_id = a.id "
                f"AND x.channel_id = {placeholder}::uuid))"
            )
        if cursor is not None:
            raised_at, alert_id = decode_cursor(cursor)
            conditions.append(f"(a.raised_at, a.id) < ({arg(raised_at)}, {arg(alert_id)}::uuid)")
        rows = await self._pool.fetch(
            f"SELECT a.id::text AS id, a.team_id::text AS team_id, a.kind, a.severity, a.title, a.text, "
            f"a.details, a.dedup_key, a.raised_at FROM monitoring.alerts a WHERE {' AND '.join(conditions)} "
            f"ORDER BY a.raised_at DESC, a.id DESC LIMIT {arg(limit + 1)}",
            *args,
        )
        page = [_alert(row) for row in rows[:limit]]
        deliveries: dict[str, list[AlertDeliveryInfo]] = {alert.id: [] for alert in page}
        if page:
            for row in await self._pool.fetch(
                f"SELECT {_DELIVERY_COLUMNS} FROM monitoring.alert_deliveries "
                "WHERE team_id = $1::uuid AND alert_id = ANY($2::uuid[]) ORDER BY id",
                args[0],
                [alert.id for alert in page],
            ):
                deliveries[row["alert_id"]].append(_delivery(row))
        next_cursor = encode_cursor(page[-1].raised_at, page[-1].id) if len(rows) > limit else None
        return AlertHistoryPage(
            entries=[AlertHistoryEntry(alert=alert, deliveries=deliveries[alert.id]) for alert in page],
            next_cursor=next_cursor,
        )


async def purge_teams(conn: Connection, team_ids: Sequence[str]) -> int:
    """Delete everything the alerts store holds for these teams (a `TeamPurger` for the mesh's
    team-data purge); returns the number of rows deleted."""
    teams = [_team(team_id) for team_id in team_ids]
    deleted = 0
    # Children first, though the cascades would do it: the count should say what went.
    for table in ("alert_deliveries", "alert_dispatches", "alerts", "alert_channels"):
        status: str = await conn.execute(
            f"DELETE FROM monitoring.{table} WHERE team_id = ANY($1::uuid[])", teams
        )
        deleted += int(status.rsplit(" ", 1)[1])
    return deleted
