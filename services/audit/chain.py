"""The hash chain that makes a team's audit log tamper-evident (pure: no I/O).

Every entry's hash covers the previous entry's hash and the entry's own content:

    hash = sha256(bytes.fromhex(prev_hash) || canonical_content(entry)).hexdigest()

`canonical_content` is the canonical JSON (see canonical.py) of every field except the two hashes,
including the team id and `seq`, plus a format version `v`. The first entry of a team chains from
`genesis_hash(team_id)`, so chains of different teams can never be spliced together.

What verification catches: a changed entry (its hash no longer matches its content), a removed
entry (a gap in `seq`, or a `prev_hash` that is not the hash before it), reordered entries, and a
removed tail, by comparing with the head row that `store.append` updates in the same transaction.
What it cannot catch on its own: someone with write access to the database who recomputes every
hash after the change *and* rewrites the head. Copying heads somewhere else from time to time
(and passing one as `anchor` to `verify_chain` / `ChainVerifier`) closes that gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.audit.canonical import canonical_bytes, format_timestamp
from services.audit.models import AuditContent, AuditEntry, team_uuid

__all__ = [
    "CHAIN_VERSION",
    "ChainHead",
    "ChainProblem",
    "ChainVerifier",
    "ProblemKind",
    "canonical_content",
    "content_record",
    "entry_hash",
    "genesis_hash",
    "seal",
    "verify_chain",
]

# Part of every hashed content: a future change of the canonical form bumps it, and old entries
# keep verifying under the rules of their version.
CHAIN_VERSION = 1
_GENESIS_DOMAIN = b"mno.audit.genesis.v1:"


def genesis_hash(team_id: str) -> str:
    """The `prev_hash` of a team's first entry: derived from the team id alone."""
    return hashlib.sha256(_GENESIS_DOMAIN + team_uuid(team_id).encode("ascii")).hexdigest()


def content_record(content: AuditContent) -> dict[str, Any]:
    """The hashed fields of an entry as plain data (before canonical serialisation)."""
    actor = content.actor
    return {
        "v": CHAIN_VERSION,
        "id": content.id,
        "team_id": content.team_id,
        "seq": content.seq,
        "occurred_at": format_timestamp(content.occurred_at),
        "actor": {
            "kind": actor.kind.value,
            "user_id": actor.user_id,
            "api_key_id": actor.api_key_id,
            "session_id": actor.session_id,
            "ip": actor.ip,
            "user_agent": actor.user_agent,
        },
        "action": content.action,
        "resource_type": content.resource_type,
        "resource_id": content.resource_id,
        "before": content.before,
        "after": content.after,
        "correlation_id": content.correlation_id,
    }


def canonical_content(content: AuditContent) -> bytes:
    """The bytes an entry's hash covers (after the previous hash)."""
    return canonical_bytes(content_record(content))


def entry_hash(prev_hash: str, content: bytes) -> str:
    """sha256(prev_hash bytes || canonical content bytes), hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def seal(content: AuditContent, prev_hash: str) -> AuditEntry:
    """The entry `content` becomes when it follows an entry whose hash is `prev_hash`."""
    return AuditEntry(
        **{name: getattr(content, name) for name in AuditContent.model_fields},
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, canonical_content(content)),
    )


class ChainHead(BaseModel):
    """The last seq and hash of a team's chain, as recorded by the store (or kept elsewhere)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    hash: str


class ProblemKind(StrEnum):
    ALTERED = "altered"  # the entry's content (or hash) changed: hash does not match
    MISSING = "missing"  # seq numbers skipped: entries removed
    BROKEN_LINK = "broken_link"  # prev_hash is not the previous entry's hash
    OUT_OF_ORDER = "out_of_order"  # seq not increasing: entries reordered or duplicated
    FOREIGN = "foreign"  # an entry of another team in this team's chain
    MALFORMED = "malformed"  # a stored row that is not a valid entry at all
    TRUNCATED = "truncated"  # the head records more entries than there are
    BEYOND_HEAD = "beyond_head"  # entries after the recorded head (added outside the store)
    HEAD_MISMATCH = "head_mismatch"  # the last entry's hash is not the recorded head's
    NO_HEAD = "no_head"  # entries without a head row (the head was removed)
    ANCHOR_MISMATCH = "anchor_mismatch"  # an externally kept head does not match the chain


class ChainProblem(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ProblemKind
    seq: int | None  # the entry concerned (the first missing one for gaps); None for the whole chain
    message: str


class ChainVerifier:
    """Checks one team's entries fed in the order they are stored (seq ascending), one at a time,
    so a chain of any length is verified in constant memory.

    Each problem is reported once: after a changed entry, the chain continues from its *stored*
    hash, so one edited entry gives one `altered`, not a cascade.
    """

    def __init__(
        self, team_id: str, *, anchor: ChainHead | None = None, max_problems: int | None = None
    ) -> None:
        self.team_id = team_uuid(team_id)
        self.anchor = anchor
        self.entries_checked = 0
        self.problems: list[ChainProblem] = []
        self.problem_count = 0  # including those beyond max_problems
        self._max_problems = max_problems
        self._next_seq = 1
        self._prev_hash = genesis_hash(self.team_id)

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def feed(self, entry: AuditEntry) -> None:
        self.entries_checked += 1
        if entry.team_id != self.team_id:
            self._problem(ProblemKind.FOREIGN, entry.seq, f"entry {entry.id} belongs to team {entry.team_id}")
            return
        self._check_position(entry.seq, entry.prev_hash)
        recomputed = entry_hash(entry.prev_hash, canonical_content(entry))
        if recomputed != entry.hash:
            self._problem(
                ProblemKind.ALTERED,
                entry.seq,
                f"entry {entry.seq} ({entry.action}) does not match its hash: its content was changed",
            )
        self._check_anchor(entry.seq, entry.hash)
        self._advance(entry.seq, entry.hash)

    def feed_malformed(self, seq: int, stored_hash: str, error: str) -> None:
        """A stored row that does not even parse as an entry (it was written around the store)."""
        self.entries_checked += 1
        self._check_position(seq, None)
        self._problem(ProblemKind.MALFORMED, seq, f"entry {seq} is not a valid entry: {error}")
        self._check_anchor(seq, stored_hash)
        self._advance(seq, stored_hash)

    def finish(self, head: ChainHead | None, *, check_head: bool = True) -> list[ChainProblem]:
        """Every problem found, once the last entry has been fed.

        The end of the chain is compared with `head`, the head row the store keeps (None: there
        is none), unless `check_head` is False (nothing to compare with, as for an export).
        """
        last = self.last_seq
        if not check_head:
            pass
        elif head is None:
            if self.entries_checked:
                self._problem(ProblemKind.NO_HEAD, None, f"{self.entries_checked} entries but no head row")
        elif head.seq > last:
            first = last + 1
            self._problem(
                ProblemKind.TRUNCATED,
                first,
                f"the head records {head.seq} entries but the chain ends at {last}: "
                f"{_entries(first, head.seq, 'was', 'were')} removed",
            )
        elif head.seq < last:
            self._problem(
                ProblemKind.BEYOND_HEAD,
                head.seq + 1,
                f"{_entries(head.seq + 1, last, 'comes', 'come')} after the recorded head {head.seq}",
            )
        elif head.hash != self._prev_hash:
            self._problem(
                ProblemKind.HEAD_MISMATCH,
                last or None,
                f"entry {last} does not have the hash the head records: the chain was rewritten",
            )
        if self.anchor is not None and self.anchor.seq > last:
            self._problem(
                ProblemKind.ANCHOR_MISMATCH,
                self.anchor.seq,
                f"the chain no longer reaches anchored entry {self.anchor.seq}",
            )
        return list(self.problems)

    def _check_position(self, seq: int, prev_hash: str | None) -> None:
        if seq < self._next_seq:
            self._problem(ProblemKind.OUT_OF_ORDER, seq, f"entry {seq} comes after entry {self.last_seq}")
        elif seq > self._next_seq:
            self._problem(
                ProblemKind.MISSING,
                self._next_seq,
                f"{_entries(self._next_seq, seq - 1, 'is', 'are')} missing",
            )
        elif prev_hash is not None and prev_hash != self._prev_hash:
            self._problem(
                ProblemKind.BROKEN_LINK,
                seq,
                f"entry {seq} does not follow the hash of entry {self.last_seq}: "
                "an entry before it was removed or replaced",
            )

    def _check_anchor(self, seq: int, stored_hash: str) -> None:
        if self.anchor is not None and seq == self.anchor.seq and stored_hash != self.anchor.hash:
            self._problem(
                ProblemKind.ANCHOR_MISMATCH,
                seq,
                f"entry {seq} does not have the anchored hash: the chain was rewritten",
            )

    def _advance(self, seq: int, stored_hash: str) -> None:
        if seq >= self._next_seq:
            self._next_seq = seq + 1
            self._prev_hash = stored_hash

    def _problem(self, kind: ProblemKind, seq: int | None, message: str) -> None:
        self.problem_count += 1
        if self._max_problems is None or len(self.problems) < self._max_problems:
            self.problems.append(ChainProblem(kind=kind, seq=seq, message=message))


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    team_id: str | None = None,
    head: ChainHead | None = None,
    anchor: ChainHead | None = None,
) -> list[ChainProblem]:
    """Every problem in one team's entries, given in stored order; [] when the chain is intact.

    `team_id` defaults to the first entry's team. Without `head` a removed tail cannot be seen:
    only the entries and the links between them are checked.
    """
    verifier = ChainVerifier(team_id, anchor=anchor) if team_id is not None else None
    for entry in entries:
        if verifier is None:
            verifier = ChainVerifier(entry.team_id, anchor=anchor)
        verifier.feed(entry)
    if verifier is None:
        return []
    return verifier.finish(head, check_head=head is not None)


def _entries(first: int, last: int, singular: str, plural: str) -> str:
    """`entry 3 was` / `entries 3..5 were`."""
    return f"entry {first} {singular}" if first == last else f"entries {first}..{last} {plural}"
