"""Which versions a team's download policy blocks, pure.

A finding blocks its version's download while it is open, meaning untriaged (`under_investigation`,
where every finding starts) or triaged `affected`, and rated at least the policy's severity. Triage to
`not_affected` or `fixed` releases it; so does a per-version override. The versions are the team's own
and those its registry took from an upstream (policies.py).

A finding whose advisory gives no severity is compared with no threshold: it blocks only when the
policy says so (`block_unrated`, off unless set). Off by default because many advisory databases
(PyPA's, most of all) score few of their records: blocking every unrated finding under a `high`
policy would block on advisories nobody scored rather than on the severity the team chose, and a
policy set before the option existed keeps meaning what it meant. A team that wants unknown to count
as severe (as `mno scan` does unless `--allow-unrated`) turns it on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "OPEN_STATUSES",
    "SEVERITIES",
    "BlockKey",
    "Blocker",
    "changes",
    "normalise_ref",
    "ratings_at_least",
]

SEVERITIES = ("none", "low", "medium", "high", "critical")
OPEN_STATUSES = ("under_investigation", "affected")


@dataclass(frozen=True, order=True, slots=True)
class BlockKey:
    ecosystem: str  # purl type, as the registry names it
    name: str
    version: str


@dataclass(frozen=True, order=True, slots=True)
class Blocker:
    finding_id: str
    advisory_id: str
    severity: str | None  # None: the advisory gives none (blocking only under `block_unrated`)
    package: str
    triage_status: str


def ratings_at_least(threshold: str) -> list[str]:
    """The ratings that reach `threshold`; none for `none` (the policy is off)."""
    if threshold == "none":
        return []
    return list(SEVERITIES[SEVERITIES.index(threshold) :])


def changes(
    announced: Mapping[BlockKey, tuple[Blocker, ...]], current: Mapping[BlockKey, tuple[Blocker, ...]]
) -> list[tuple[BlockKey, tuple[Blocker, ...] | None]]:
    """What to announce so the registry's view matches `current`: each newly blocked version or one
    whose blocking findings changed (with them), and each released one (with None)."""
    out: list[tuple[BlockKey, tuple[Blocker, ...] | None]] = [
        (key, blockers) for key, blockers in current.items() if announced.get(key) != blockers
    ]
    out.extend((key, None) for key in announced.keys() - current.keys())
    return sorted(out, key=lambda change: change[0])


def group(rows: Iterable[tuple[BlockKey, Blocker]]) -> dict[BlockKey, tuple[Blocker, ...]]:
    grouped: dict[BlockKey, list[Blocker]] = {}
    for key, blocker in rows:
        grouped.setdefault(key, []).append(blocker)
    return {key: tuple(sorted(set(blockers))) for key, blockers in grouped.items()}


def normalise_ref(ecosystem: str, name: str, version: str) -> tuple[str, str]:
    """A (name, version) as the registry stores them, so an override names what a block names:
    PyPI names per PEP 503 and versions per PEP 440's normal form; other ecosystems as given."""
    if ecosystem != "pypi":
        return name, version
    with contextlib.suppress(InvalidVersion):
        version = str(Version(version))
    return canonicalize_name(name), version
