"""What one fuzz run did: requests, operations, failures (with the curl that reproduces each), time."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPORT_DIR = Path(__file__).resolve().parents[2] / "build" / "fuzz"


@dataclass
class FuzzStats:
    seed: int | str
    max_examples: int
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    operations_in_document: int = 0
    excluded: list[str] = field(default_factory=list)
    # operation -> what failed, with the curl; the last one kept is Hypothesis's shrunk example
    failures: dict[str, str] = field(default_factory=dict)

    def record(self, operation: str, status: int) -> None:
        self.requests[operation] += 1
        self.statuses[status] += 1

    def fail(self, operation: str, message: str) -> None:
        self.failures[operation] = message

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def summary(self) -> str:
        lines = [
            f"requests: {sum(self.requests.values())}  operations covered: {len(self.requests)} of "
            f"{self.operations_in_document} in the document ({len(self.excluded)} excluded)  "
            f"time: {self.seconds:.0f} s  seed: {self.seed}  max examples per operation: {self.max_examples}",
            "statuses: " + ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items())),
        ]
        lines += [f"excluded: {label}" for label in self.excluded]
        lines.append(f"failures: {len(self.failures)}")
        for operation, message in sorted(self.failures.items()):
            lines.append(f"--- {operation}\n{message}")
        return "\n".join(lines)

    def write(self) -> Path:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        path = REPORT_DIR / "summary.json"
        path.write_text(
            json.dumps(
                {
                    "seed": str(self.seed),
                    "max_examples": self.max_examples,
                    "seconds": round(self.seconds, 1),
                    "requests": dict(self.requests),
                    "statuses": {str(k): v for k, v in self.statuses.items()},
                    "operations_in_document": self.operations_in_document,
                    "excluded": self.excluded,
                    "failures": self.failures,
                },
                indent=2,
                sort_keys=True,
            )
        )
        return path


RUNS: list[FuzzStats] = []
