"""A scan, pure: an uploaded document read into a component graph (a CycloneDX or SPDX SBOM, told
by its content; a lockfile, told by its name), and the graph's findings against an advisory index,
each with its severity, fixed versions and path from the root.

A component is matched when it names an OSV ecosystem and a version; the same advisory in the same
component (by purl) is one finding, with the shortest path to it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from services.supply_chain.index import AdvisoryIndex, package_key
from services.supply_chain.lockfiles.formats import parse_lockfile
from services.supply_chain.lockfiles.model import LockfileResult, Node, Skipped
from services.supply_chain.purls import PURL_TYPES, to_purl
from services.supply_chain.sbom.cyclonedx import read_cyclonedx
from services.supply_chain.sbom.graph import (
    Component,
    ComponentGraph,
    DependencyKind,
    SbomError,
    assemble,
)
from services.supply_chain.sbom.spdx import read_spdx
from services.supply_chain.severity import advisory_score


@dataclass(frozen=True)
class ReadDocument:
    graph: ComponentGraph
    input_format: str
    """`cyclonedx`, `spdx`, or the lockfile's format (`requirements.txt`, `go.sum`, ...)."""
    skipped: tuple[Skipped, ...] = ()

    @property
    def source(self) -> str:
        return "upload" if self.input_format in ("cyclonedx", "spdx") else "lockfile"


def read_document(filename: str, content: bytes) -> ReadDocument:
    """SbomError or LockfileError (both ValueErrors) for what cannot be read."""
    if _looks_like_json_object(content):
        try:
            head = json.loads(content)
        except ValueError:
            head = None
        if isinstance(head, dict) and head.get("bomFormat") is not None:
            return ReadDocument(read_cyclonedx(content), "cyclonedx")
        if isinstance(head, dict) and head.get("spdxVersion") is not None:
            return ReadDocument(read_spdx(content), "spdx")
        if not filename.endswith(("package-lock.json", "npm-shrinkwrap.json")):
            raise SbomError("a JSON document that is neither CycloneDX (bomFormat) nor SPDX (spdxVersion)")
    result = parse_lockfile(filename, content)
    return ReadDocument(lockfile_graph(filename, result), result.format, result.skipped)


def _looks_like_json_object(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def lockfile_graph(filename: str, result: LockfileResult) -> ComponentGraph:
    """The lockfile's components under a root named after the file. With the file's own dependency
    graph (package-lock.json, Cargo.lock), the file depends on the project's direct dependencies and
    each component on what it depends on, so a finding's path is [file, direct dependency, ...,
    vulnerable package]; a component nothing leads to (npm's extraneous packages) hangs from the file.
    Without one (requirements.txt, go.sum, pom.xml), the file depends on every component."""
    root = Component(ref=f"file:{filename}", name=filename)
    placed: dict[str, Component] = {}
    purls: dict[Node, str] = {}
    for locked in result.components:
        purl_type = PURL_TYPES.get(locked.ecosystem)
        if purl_type is None:
            continue
        purl = to_purl(purl_type, locked.name, locked.version)
        purls[locked.as_tuple()] = purl
        placed.setdefault(
            purl,
            Component(
                ref=purl,
                name=locked.name,
                ecosystem=purl_type,
                version=locked.version,
                purl=purl,
                kind=DependencyKind.DEV if locked.dev else DependencyKind.RUNTIME,
                hashes=tuple(_hash(h) for h in locked.hashes if _hash(h)[0]),
            ),
        )
    if result.graph is None:
        return assemble(root, placed.values(), {root.ref: list(placed)})
    depends_on: dict[str, set[str]] = {root.ref: {purls[n] for n in result.graph.direct if n in purls}}
    for node, targets in result.graph.depends_on:
        if node in purls:
            depends_on.setdefault(purls[node], set()).update(purls[t] for t in targets if t in purls)
    depends_on[root.ref] |= set(placed) - _reachable(root.ref, depends_on)
    return assemble(root, placed.values(), depends_on)


def _reachable(start: str, depends_on: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for target in depends_on.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _hash(text: str) -> tuple[str, str]:
    algorithm, _, value = text.partition(":")
    return ({"sha256": "SHA-256", "sha512": "SHA-512"}.get(algorithm.lower(), ""), value)


@dataclass(frozen=True)
class ScannedComponent:
    ecosystem: str
    """OSV ecosystem."""
    name: str
    """Normalised."""
    display_name: str
    version: str
    purl: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class FoundVulnerability:
    advisory_id: str
    aliases: tuple[str, ...]
    summary: str | None
    component: ScannedComponent
    rating: str | None
    score: float | None
    method: str | None
    vector: str | None
    fixed_versions: tuple[str, ...]


def scannable(graph: ComponentGraph) -> list[ScannedComponent]:
    """The components an advisory can name (OSV ecosystem, version, purl), one per purl (shortest path)."""
    found: dict[tuple[str, str, str, str], ScannedComponent] = {}
    for component in (graph.root, *graph.components):
        ecosystem = component.osv_ecosystem
        if ecosystem is None or component.version is None:
            continue
        purl = component.purl or to_purl(component.ecosystem or "", component.name, component.version)
        eco, name = package_key(ecosystem, component.name)
        key = (eco, name, component.version, purl)
        held = found.get(key)
        if held is None or len(component.path) < len(held.path):
            found[key] = ScannedComponent(eco, name, component.name, component.version, purl, component.path)
    return [found[k] for k in sorted(found)]


def match(index: AdvisoryIndex, components: list[ScannedComponent]) -> list[FoundVulnerability]:
    found: list[FoundVulnerability] = []
    for component in components:
        for hit in index.matches(component.ecosystem, component.display_name, component.version):
            score = advisory_score(hit.advisory, hit.affected)
            found.append(
                FoundVulnerability(
                    advisory_id=hit.advisory.id,
                    aliases=hit.advisory.aliases,
                    summary=hit.advisory.summary,
                    component=component,
                    rating=score.rating.value if score else None,
                    score=score.base_score if score else None,
                    method=score.method if score else None,
                    vector=score.vector if score else None,
                    fixed_versions=hit.fixed_versions,
                )
            )
    return found


# The graph as stored (JSON), and back: with the SBOM's `created` instant it regenerates the documents.
def graph_to_json(graph: ComponentGraph) -> dict[str, Any]:
    return asdict(graph)


def graph_from_json(data: dict[str, Any]) -> ComponentGraph:
    def component(item: dict[str, Any]) -> Component:
        return Component(
            **{
                **item,
                "kind": DependencyKind(item["kind"]),
                "path": tuple(item["path"]),
                "hashes": tuple(tuple(h) for h in item["hashes"]),
            }
        )

    return ComponentGraph(
        root=component(data["root"]),
        components=tuple(component(c) for c in data["components"]),
        edges=tuple((ref, tuple(targets)) for ref, targets in data["edges"]),
    )
