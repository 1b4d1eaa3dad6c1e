"""verify_chain on chains built in memory: each kind of tampering is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.audit.chain import ChainHead, ChainProblem, ProblemKind, genesis_hash, seal, verify_chain
from services.audit.models import ActorKind, AuditActor, AuditContent, AuditEntry

TEAM = "0b8e8f0e-54a4-4f63-9b43-6a3c0c1d6e01"
OTHER = "0b8e8f0e-54a4-4f63-9b43-6a3c0c1d6e02"


def build(count: int, team: str = TEAM) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = genesis_hash(team)
    for seq in range(1, count + 1):
        entry = seal(
            AuditContent(
                id=f"00000000-0000-4000-8000-{seq:012d}",
                team_id=team,
                seq=seq,
                occurred_at=datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=seq),
                actor=AuditActor(kind=ActorKind.SYSTEM, user_id="system"),
                action="budgets.update",
                resource_type="budget",
                resource_id="b1",
                before={"limit": seq},
                after={"limit": seq + 1},
            ),
            prev,
        )
        entries.append(entry)
        prev = entry.hash
    return entries


def head(entries: list[AuditEntry]) -> ChainHead:
    return ChainHead(seq=entries[-1].seq, hash=entries[-1].hash)


def kinds(problems: list[ChainProblem]) -> list[tuple[ProblemKind, int | None]]:
    return [(p.kind, p.seq) for p in problems]


def test_an_intact_chain_has_no_problems() -> None:
    """A chain as sealed verifies, with and without its head."""
    entries = build(5)
    assert verify_chain(entries, head=head(entries)) == []
    assert verify_chain(entries) == []
    assert verify_chain([], team_id=TEAM, head=ChainHead(seq=0, hash=genesis_hash(TEAM))) == []


def test_an_altered_entry_is_named_once() -> None:
    """Changing one entry's content flags that entry alone, not everything after it."""
    entries = build(5)
    entries[2] = entries[2].model_copy(update={"after": {"limit": 1000}})
    assert kinds(verify_chain(entries, head=head(entries))) == [(ProblemKind.ALTERED, 3)]


def test_a_removed_entry_is_a_gap() -> None:
    """Dropping entry 3 reports entry 3 missing."""
    entries = build(5)
    del entries[2]
    assert kinds(verify_chain(entries, head=head(entries))) == [(ProblemKind.MISSING, 3)]


def test_a_removed_first_entry_is_a_gap() -> None:
    """Dropping the first entry is seen too: the chain must start at seq 1."""
    entries = build(3)[1:]
    assert kinds(verify_chain(entries, head=head(entries))) == [(ProblemKind.MISSING, 1)]


def test_reordered_entries_are_out_of_order() -> None:
    """Swapping two entries' positions is reported."""
    entries = build(5)
    entries[2], entries[3] = entries[3], entries[2]
    assert (ProblemKind.OUT_OF_ORDER, 3) in kinds(verify_chain(entries, head=head(entries)))


def test_a_removed_tail_needs_the_head() -> None:
    """Dropping the last entries is invisible without the head and reported with it."""
    entries = build(5)
    recorded = head(entries)
    kept = entries[:3]
    assert verify_chain(kept) == []
    assert kinds(verify_chain(kept, head=recorded)) == [(ProblemKind.TRUNCATED, 4)]


def test_a_recomputed_chain_differs_from_its_head_and_anchor() -> None:
    """A rewritten chain with recomputed hashes still differs from the recorded head and an anchor."""
    original = build(5)
    anchor = ChainHead(seq=3, hash=original[2].hash)
    rewritten: list[AuditEntry] = []
    prev = genesis_hash(TEAM)
    for entry in original:
        changed = entry.model_copy(update={"after": {"limit": 0}}) if entry.seq == 2 else entry
        resealed = seal(changed, prev)
        rewritten.append(resealed)
        prev = resealed.hash

    assert verify_chain(rewritten) == []
    assert kinds(verify_chain(rewritten, head=head(original))) == [(ProblemKind.HEAD_MISMATCH, 5)]
    assert kinds(verify_chain(rewritten, anchor=anchor)) == [(ProblemKind.ANCHOR_MISMATCH, 3)]


def test_an_entry_of_another_team_is_foreign() -> None:
    """Splicing in another team's entry (with a valid hash of its own) is caught."""
    entries = build(3)
    entries.insert(1, build(2, OTHER)[1])
    assert kinds(verify_chain(entries, head=head(entries))) == [(ProblemKind.FOREIGN, 2)]
