"""The fault table: one row per fault (accepted, stored, lost, doubled, time to recover, ...), printed
at the end of the run and written as JSON into build/faults/."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.faults.ingest_driver import IngestRecord

OUT_DIR = Path(__file__).resolve().parents[2] / "build" / "faults"


@dataclass(frozen=True)
class FaultResult:
    fault: str
    profile: str  # short (`make test`) or full (`make test-faults`)
    accepted: int  # ids the edge vouched for (2xx: new or duplicate)
    stored: int  # ids the cost report counts at least once
    lost: int  # accepted, not stored
    doubled: int  # stored more than once
    unexpected: int  # stored, never accepted (a client gave up on it)
    accepted_twice: int  # answered as new by two 2xx answers (the id ledger let a resend through)
    recovery_s: float  # fault (or SIGCONT) -> process back and every /readyz ready
    ingest_gap_s: float  # the longest time without a 2xx answer arriving
    stored_after_s: float  # driver stopped -> everything accepted counted by the cost report
    max_latency_s: float
    requests: int
    events_per_s: float
    non_2xx: dict[str, int]

    @classmethod
    def of(
        cls,
        fault: str,
        profile: str,
        record: IngestRecord,
        stored: Counter[str],
        recovery_s: float,
        stored_after_s: float,
    ) -> FaultResult:
        accepted = record.accepted_ids
        duration = max(record.stopped - record.started, 1e-9)
        return cls(
            fault=fault,
            profile=profile,
            accepted=len(accepted),
            stored=len(stored),
            lost=len(accepted - set(stored)),
            doubled=sum(1 for count in stored.values() if count > 1),
            unexpected=len(set(stored) - accepted),
            accepted_twice=sum(1 for count in record.accepted.values() if count > 1),
            recovery_s=round(recovery_s, 2),
            ingest_gap_s=round(record.longest_gap(), 2),
            stored_after_s=round(stored_after_s, 2),
            max_latency_s=round(record.max_latency(), 3),
            requests=len(record.attempts),
            events_per_s=round(len(accepted) / duration, 1),
            non_2xx=dict(sorted(record.non_2xx().items())),
        )


RESULTS: list[FaultResult] = []

_COLUMNS = (
    ("fault", "fault"),
    ("accepted", "accepted"),
    ("stored", "stored"),
    ("lost", "lost"),
    ("doubled", "doubled"),
    ("recovery_s", "recover s"),
    ("ingest_gap_s", "gap s"),
    ("max_latency_s", "max lat s"),
    ("stored_after_s", "drain s"),
    ("requests", "requests"),
)


def table(results: list[FaultResult]) -> str:
    rows = [[*(label for _, label in _COLUMNS), "non-2xx answers"]]
    for result in results:
        values = asdict(result)
        codes = ", ".join(f"{code}: {n}" for code, n in result.non_2xx.items()) or "none"
        rows.append([str(values[name]) for name, _ in _COLUMNS] + [codes])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


def write_json(results: list[FaultResult], profile: str) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {"profile": profile, "finished": stamp, "faults": [asdict(result) for result in results]}
    path = OUT_DIR / f"faults-{profile}-{stamp}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    (OUT_DIR / f"latest-{profile}.json").write_text(json.dumps(document, indent=2) + "\n")
    return path
