"""Audit entries as export lines (JSON lines and CSV) and back again (pure: no I/O).

Both formats keep every field exactly, so an export can be verified on its own: parse it back
with `from_json_line` / `from_csv_row` and give the entries to `chain.verify_chain`.

* JSON lines: one canonical JSON object per line (sorted keys, no whitespace, numbers exact),
  `\\n`-terminated. Parse numbers as Decimal (`from_json_line` does), not float.
* CSV: RFC 4180 (`\\r\\n`, quoted as needed) with a header row of `CSV_COLUMNS`; `before` and
  `after` hold canonical JSON; an empty cell is null (the models never hold empty strings).
  Values are written verbatim, not defused for spreadsheets: a cell an attacker controlled (a user
  agent, say) can start with `=`; open the file as text, or import it, rather than double-click it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.audit.canonical import canonical_json, format_timestamp, parse_json
from services.audit.models import AuditEntry

__all__ = ["CSV_COLUMNS", "entry_record", "from_csv_row", "from_json_line", "to_csv_row", "to_json_line"]

CSV_COLUMNS: tuple[str, ...] = (
    "team_id",
    "seq",
    "id",
    "occurred_at",
    "actor_kind",
    "actor_user_id",
    "actor_api_key_id",
    "actor_session_id",
    "actor_ip",
    "actor_user_agent",
    "action",
    "resource_type",
    "resource_id",
    "before",
    "after",
    "correlation_id",
    "prev_hash",
    "hash",
)


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """Every field of `entry` as JSON-ready data (what one JSON line holds)."""
    actor = entry.actor
    return {
        "id": entry.id,
        "team_id": entry.team_id,
        "seq": entry.seq,
        "occurred_at": format_timestamp(entry.occurred_at),
        "actor": {
            "kind": actor.kind.value,
            "user_id": actor.user_id,
            "api_key_id": actor.api_key_id,
            "session_id": actor.session_id,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
        },
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "before": entry.before,
        "after": entry.after,
        "correlation_id": entry.correlation_id,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def to_json_line(entry: AuditEntry) -> bytes:
    return (canonical_json(entry_record(entry)) + "\n").encode("utf-8")


def from_json_line(line: str | bytes) -> AuditEntry:
    return AuditEntry.model_validate(parse_json(line))


def to_csv_row(entry: AuditEntry) -> list[str]:
    """The cells of `entry`, in `CSV_COLUMNS` order."""
    actor = entry.actor
    return [
        entry.team_id,
        str(entry.seq),
        entry.id,
        format_timestamp(entry.occurred_at),
        actor.kind.value,
        actor.user_id or "",
        actor.api_key_id or "",
        actor.session_id or "",
        actor.ip or "",
        actor.user_agent or "",
        entry.action,
        entry.resource_type,
        entry.resource_id or "",
        "" if entry.before is None else canonical_json(entry.before),
        "" if entry.after is None else canonical_json(entry.after),
        entry.correlation_id or "",
        entry.prev_hash,
        entry.hash,
    ]


def from_csv_row(row: Mapping[str, str]) -> AuditEntry:
    """The entry of one row as `csv.DictReader` gives it."""

    def cell(name: str) -> str | None:
        value = row[name]
        return value if value != "" else None

    def json_cell(name: str) -> Any:
        value = row[name]
        return parse_json(value) if value != "" else None

    return AuditEntry.model_validate(
        {
            "id": row["id"],
            "team_id": row["team_id"],
            "seq": int(row["seq"]),
            "occurred_at": row["occurred_at"],
            "actor": {
                "kind": row["actor_kind"],
                "user_id": cell("actor_user_id"),
                "api_key_id": cell("actor_api_key_id"),
                "session_id": cell("actor_session_id"),
                "ip": cell("actor_ip"),
                "user_agent": cell("actor_user_agent"),
            },
            "action": row["action"],
            "resource_type": row["resource_type"],
            "resource_id": cell("resource_id"),
            "before": json_cell("before"),
            "after": json_cell("after"),
            "correlation_id": cell("correlation_id"),
            "prev_hash": row["prev_hash"],
            "hash": row["hash"],
        }
    )
