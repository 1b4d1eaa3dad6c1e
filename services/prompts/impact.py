"""Which prompts a label move reaches through includes: before moving `refund-policy@production`,
the dashboard shows every version that includes it by that label, directly or through other
includes, with the labels those versions carry (what will serve the new text once it moves).
An include pinned to a version is not reached; an include by label follows where that label points."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.prompts.model import Include


@dataclass(frozen=True)
class IncludeEdge:
    """Version `from_version` of prompt `from_name` includes `target`."""

    from_name: str
    from_version: int
    target: Include


@dataclass(frozen=True)
class Affected:
    name: str
    version: int
    # The labels on this version (what serves it), sorted; empty if none does.
    labels: tuple[str, ...]
    # How the move reaches it: "support-answer@v4 -> policy@v2 -> refund-policy@production".
    chain: tuple[str, ...]


def affected_by_label_move(
    name: str,
    label: str,
    edges: Iterable[IncludeEdge],
    labels: Mapping[str, Mapping[str, int]],
) -> tuple[Affected, ...]:
    """`labels[prompt][label] = version` (with `latest`) for every prompt that may be reached."""
    by_target: dict[str, list[IncludeEdge]] = {}
    for edge in edges:
        by_target.setdefault(edge.target.name, []).append(edge)

    def includers(target_name: str, version: int | None, via_label: str | None) -> list[IncludeEdge]:
        found = []
        for edge in by_target.get(target_name, ()):
            ref = edge.target
            if (via_label is not None and ref.label == via_label) or (
                version is not None
                and (
                    ref.version == version
                    or (ref.label is not None and labels.get(target_name, {}).get(ref.label) == version)
                )
            ):
                found.append(edge)
        return found

    seen: set[tuple[str, int]] = set()
    result: list[Affected] = []
    queue: deque[tuple[IncludeEdge, tuple[str, ...]]] = deque(
        (edge, (f"{name}@{label}",)) for edge in includers(name, None, label)
    )
    while queue:
        edge, chain = queue.popleft()
        key = (edge.from_name, edge.from_version)
        if key in seen:
            continue
        seen.add(key)
        here = (f"{edge.from_name}@v{edge.from_version}", *chain)
        carried = tuple(
            sorted(lbl for lbl, v in labels.get(edge.from_name, {}).items() if v == edge.from_version)
        )
        result.append(Affected(edge.from_name, edge.from_version, carried, here))
        queue.extend((parent, here) for parent in includers(edge.from_name, edge.from_version, None))
    return tuple(sorted(result, key=lambda a: (a.name, a.version)))
