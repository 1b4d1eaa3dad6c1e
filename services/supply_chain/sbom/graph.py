"""The component graph every SBOM format is written from and read into: a root artifact, its
components (purl, exact version or the requirement it was declared with, kind), who depends on whom,
and each component's path from the root.

`from_artifact` builds it from a registry version (`ArtifactVersion`, a small input of our own so
this module does not follow the registry's wire models while they change). A declared requirement
that names exactly one version (`==1.2.3`, npm's `1.2.3`, Cargo's `=1.2.3`, Maven's `[1.2.3]`) is a
version, since that is the one the dependency can resolve to; anything else stays a requirement and
is not scanned as a version. When the artifact carries its own lockfile (an npm tarball's
npm-shrinkwrap.json, which npm installs exactly), its resolved versions win: each declared dependency
is the version the lockfile installs for the project, and every package the lockfile installs is a
component, under whatever depends on it there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from services.supply_chain.lockfiles.model import LockfileResult, Node
from services.supply_chain.pinning import pinned_version
from services.supply_chain.purls import OSV_ECOSYSTEMS, parse_purl, to_purl


class DependencyKind(StrEnum):
    """The registry's kinds (shared/messages/artifacts.DependencyKind), by value."""

    RUNTIME = "runtime"
    DEV = "dev"
    OPTIONAL = "optional"
    PEER = "peer"
    BUILD = "build"
    TEST = "test"


class SbomError(ValueError):
    """An SBOM that cannot be read into a graph: not JSON, refused by its schema, or inconsistent."""


@dataclass(frozen=True)
class DeclaredDependency:
    name: str
    requirement: str = ""
    kind: DependencyKind = DependencyKind.RUNTIME
    resolved: str | None = None
    """The version a lockfile or the artifact itself pins, when known: wins over the requirement."""


@dataclass(frozen=True)
class ArtifactVersion:
    ecosystem: str
    """A purl type (`pypi`, `npm`, `golang`, `maven`, `cargo`), as the registry names ecosystems."""
    name: str
    version: str
    dependencies: tuple[DeclaredDependency, ...] = ()
    license: str | None = None
    summary: str | None = None
    files: tuple[tuple[str, str], ...] = ()
    """(filename, sha256 hex) of the version's files."""


@dataclass(frozen=True)
class Component:
    ref: str
    """Unique within its graph: the purl for a known version (our own SBOMs), else what the SBOM used."""
    name: str
    ecosystem: str | None = None
    """The purl type; None for a component an uploaded SBOM names without a purl."""
    version: str | None = None
    requirement: str | None = None
    purl: str | None = None
    kind: DependencyKind = DependencyKind.RUNTIME
    path: tuple[str, ...] = ()
    """Refs from the root to this component, both included (the shortest, when there are several)."""
    hashes: tuple[tuple[str, str], ...] = ()
    """(algorithm as CycloneDX names it, e.g. `SHA-256`, hex)."""
    license: str | None = None
    summary: str | None = None

    @property
    def osv_ecosystem(self) -> str | None:
        return OSV_ECOSYSTEMS.get(self.ecosystem) if self.ecosystem else None


@dataclass(frozen=True)
class ComponentGraph:
    root: Component
    components: tuple[Component, ...]
    """Every component but the root, by reference."""
    edges: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    """(ref, refs it depends on), for every component that depends on something."""

    def get(self, ref: str) -> Component | None:
        if ref == self.root.ref:
            return self.root
        return next((c for c in self.components if c.ref == ref), None)

    def depends_on(self) -> dict[str, tuple[str, ...]]:
        return dict(self.edges)

    def scan_targets(self) -> list[tuple[str, str, str]]:
        """(OSV ecosystem, name, version) of every component an advisory can name, root first."""
        return [
            (eco, c.name, c.version)
            for c in (self.root, *self.components)
            if c.version is not None and (eco := c.osv_ecosystem) is not None
        ]


def ref_for(purl: str, requirement: str | None) -> str:
    # A purl with a version is unique; a requirement-only dependency is told apart by its requirement.
    return purl if not requirement else f"{purl} {requirement}"


def from_artifact(artifact: ArtifactVersion, locked: LockfileResult | None = None) -> ComponentGraph:
    """The version's graph; `locked`, the lockfile the artifact itself carries (its ecosystem's), gives
    the versions its dependencies resolve to and what they in turn install."""
    root_purl = to_purl(artifact.ecosystem, artifact.name, artifact.version)
    root = Component(
        ref=root_purl,
        name=artifact.name,
        ecosystem=artifact.ecosystem,
        version=artifact.version,
        purl=root_purl,
        path=(root_purl,),
        hashes=tuple(("SHA-256", digest) for _, digest in sorted(set(artifact.files), key=lambda f: f[1])),
        license=artifact.license,
        summary=artifact.summary,
    )
    components: dict[str, Component] = {}
    depends_on: dict[str, set[str]] = {root.ref: set()}
    direct: dict[str, str] = {}
    if locked is not None:
        direct = _place_locked(artifact.ecosystem, locked, root.ref, components, depends_on)
    declared: set[str] = set()
    for dependency in artifact.dependencies:
        name = _installed_name(dependency, direct)
        version = (
            dependency.resolved
            or direct.get(name)
            or pinned_version(artifact.ecosystem, dependency.requirement)
        )
        requirement = None if version else (dependency.requirement.strip() or None)
        purl = to_purl(artifact.ecosystem, name, version)
        ref = ref_for(purl, requirement)
        depends_on[root.ref].add(ref)
        # One package declared twice (an extra, a marker): the first declaration, runtime ones first.
        # One the lockfile placed takes the kind it is declared with (optional, peer) instead.
        if ref in declared and not _outranks(dependency.kind, components[ref].kind):
            continue
        declared.add(ref)
        components[ref] = Component(
            ref=ref,
            name=name,
            ecosystem=artifact.ecosystem,
            version=version,
            requirement=requirement,
            purl=purl,
            kind=dependency.kind,
            path=(root.ref, ref),
        )
    if locked is not None:
        # A package the lockfile installs that nothing leads to (extraneous) hangs from the root.
        reached = _reachable(root.ref, depends_on)
        depends_on[root.ref].update(ref for ref in components if ref not in reached)
    return assemble(root, components.values(), depends_on)


def _installed_name(dependency: DeclaredDependency, direct: Mapping[str, str]) -> str:
    """The package a declaration installs: an npm alias (`"left": "npm:left-pad@1.3.0"`) installs its
    real package, which a lockfile records by that name; without a lockfile the declaration stands."""
    alias = dependency.requirement.strip()
    if direct and alias.startswith("npm:"):
        spec = alias[len("npm:") :]
        # `name@range`; a scoped name's own `@` comes first.
        real = spec[: spec.rindex("@")] if "@" in spec[1:] else spec
        if real in direct:
            return real
    return dependency.name


def _place_locked(
    ecosystem: str,
    locked: LockfileResult,
    root: str,
    components: dict[str, Component],
    depends_on: dict[str, set[str]],
) -> dict[str, str]:
    """The lockfile's components and who depends on whom among them, added; returns the versions the
    project's direct dependencies resolve to, by name."""
    refs: dict[Node, str] = {}
    for item in locked.components:
        purl = to_purl(ecosystem, item.name, item.version)
        refs[item.as_tuple()] = purl
        components.setdefault(
            purl,
            Component(
                ref=purl,
                name=item.name,
                ecosystem=ecosystem,
                version=item.version,
                purl=purl,
                kind=DependencyKind.DEV if item.dev else DependencyKind.RUNTIME,
            ),
        )
    if locked.graph is None:
        depends_on[root].update(refs.values())
        return {}
    for node, targets in locked.graph.depends_on:
        if node in refs:
            depends_on.setdefault(refs[node], set()).update(refs[t] for t in targets if t in refs)
    depends_on[root].update(refs[n] for n in locked.graph.direct if n in refs)
    return {name: version for _, name, version in locked.graph.direct}


def _reachable(start: str, depends_on: Mapping[str, Iterable[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for target in depends_on.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _outranks(new: DependencyKind, held: DependencyKind) -> bool:
    return new is DependencyKind.RUNTIME and held is not DependencyKind.RUNTIME


def assemble(
    root: Component, components: Iterable[Component], depends_on: Mapping[str, Iterable[str]]
) -> ComponentGraph:
    """A graph read from an SBOM: paths by breadth-first walk from the root; components it does not
    reach are kept (an SBOM may list what it does not connect), with a path of their own ref.

    Components and edges are sorted by reference, so one graph has one representation whatever order
    a format listed it in (and the shortest path chosen among equals is always the same).
    """
    by_ref: dict[str, Component] = {}
    for component in components:
        if component.ref == root.ref:
            continue
        if component.ref in by_ref:
            raise SbomError(f"two components share the reference {component.ref!r}")
        by_ref[component.ref] = component
    known = {root.ref, *by_ref}
    edges: dict[str, tuple[str, ...]] = {}
    for ref, targets in depends_on.items():
        unique = tuple(sorted(set(targets)))
        for target in (ref, *unique):
            if target not in known:
                raise SbomError(f"a dependency names {target!r}, which no component has as reference")
        if unique:
            edges[ref] = unique
    paths: dict[str, tuple[str, ...]] = {root.ref: (root.ref,)}
    queue = deque([root.ref])
    while queue:
        ref = queue.popleft()
        for target in edges.get(ref, ()):
            if target not in paths:
                paths[target] = (*paths[ref], target)
                queue.append(target)
    placed = tuple(replace(by_ref[r], path=paths.get(r, (r,))) for r in sorted(by_ref))
    return ComponentGraph(
        root=replace(root, path=(root.ref,)),
        components=placed,
        edges=tuple(sorted(edges.items())),
    )


def identity_from_purl(purl: str | None) -> tuple[str | None, str | None, str | None]:
    """(purl type, name as the ecosystem writes it, version) of an SBOM's purl; Nones when absent."""
    if not purl:
        return None, None, None
    package = parse_purl(purl)
    return package.purl_type, package.name, package.version
