"""Advisory matching, first figures: import of the whole PyPA snapshot (advisories/s) and the audit of
1,000 (name, version) components against it (components/s, p50 per component), each beside a peer
measured in the same run: libyaml's parse of the same files, PEP 440 parsing of the same versions.

With --api (the default; --no-api skips it), the same through the mesh (the edge and the
SupplyChainAgent as processes, PostgreSQL, NATS, the blob store): the snapshot imported through
`POST /api/v1/operator/advisories/import`, and a 1,000-component CycloneDX SBOM of the same components
scanned through `POST /api/v1/supply-chain/scan` (nothing stored) and `POST /api/v1/sboms` (stored, both
documents written, signed), beside the pure index's audit of the same components in the same run.

.venv/bin/python benchmarks/scan.py [--components 1000] [--runs 5] [--no-api]

The snapshot is tests/data/advisories/pypa-advisory-database-2024-10-10.tar.gz (PyPA advisory
database, CC-BY 4.0).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import packaging.version
import yaml
from harness import percentile

from services.supply_chain import versions
from services.supply_chain.index import AdvisoryIndex, load_index

SNAPSHOT = (
    Path(__file__).resolve().parents[1] / "tests/data/advisories" / "pypa-advisory-database-2024-10-10.tar.gz"
)


def yaml_files() -> list[bytes]:
    with tarfile.open(SNAPSHOT) as archive:
        return [
            archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive
            if m.isfile() and m.name.endswith(".yaml")
        ]


def components(index: AdvisoryIndex, count: int, seed: int = 16) -> list[tuple[str, str, str]]:
    """Like a real SBOM: most components name packages with advisories, at a version some advisory
    lists or at a fix; a third name packages with none (their lookup is all the work)."""
    rng = random.Random(seed)
    packages = index.packages()
    chosen: list[tuple[str, str, str]] = []
    while len(chosen) < count:
        if rng.random() < 1 / 3:
            chosen.append(
                ("PyPI", f"no-advisories-{len(chosen)}", f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.0")
            )
            continue
        ecosystem, name = rng.choice(packages)
        advisory = rng.choice(index.advisories_for(ecosystem, name))
        candidates = [v for a in advisory.affected for v in a.versions]
        candidates += [e.fixed for a in advisory.affected for r in a.ranges for e in r.events if e.fixed]
        candidates = [v for v in candidates if len(v) < 40] or ["1.0"]  # not git hashes
        chosen.append((ecosystem, name, rng.choice(candidates)))
    return chosen


def row(label: str, seconds: float, count: int, unit: str, extra: str = "") -> None:
    print(f"{label:<46} {seconds * 1000:9.1f} ms {count / seconds:9.0f} {unit}/s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--api", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    started = time.perf_counter()
    files = yaml_files()
    parsed = [yaml.load(text, Loader=yaml.CSafeLoader) for text in files]  # held, as the index holds its own
    peer_load = time.perf_counter() - started
    del parsed

    started = time.perf_counter()
    index, report = load_index(SNAPSHOT)
    load = time.perf_counter() - started
    print(f"PyPA snapshot: {report.files} files, {report.added} indexed, {report.withdrawn} withdrawn")
    row("import: tar, YAML, OSV models, index", load, report.files, "advisories")
    row("peer: tar + yaml CSafeLoader, same files", peer_load, len(files), "files")

    chosen = components(index, args.components)
    versions.clear_cache()
    started = time.perf_counter()
    findings = index.audit(chosen)
    cold = time.perf_counter() - started
    print(f"\naudit of {len(chosen)} components: {len(findings)} findings")
    row("audit, cold version cache", cold, len(chosen), "components")

    per_component: list[float] = []
    totals: list[float] = []
    for _ in range(args.runs):
        run_started = time.perf_counter()
        for component in chosen:
            started = time.perf_counter()
            index.audit([component])
            per_component.append((time.perf_counter() - started) * 1e6)
        totals.append(time.perf_counter() - run_started)
    p50, p95 = percentile(per_component, 0.5), percentile(per_component, 0.95)
    row("audit, warm (p50 of runs)", percentile(totals, 0.5), len(chosen), "components")
    print(f"{'  per component':<46} p50 {p50:6.1f} us   p95 {p95:6.1f} us")

    strings = [version for _, _, version in chosen]
    started = time.perf_counter()
    for version in strings:
        with contextlib.suppress(packaging.version.InvalidVersion):
            packaging.version.parse(version)
    parse_time = time.perf_counter() - started
    row("peer: packaging.version.parse, same versions", parse_time, len(strings), "versions")
    if args.api:
        through_the_api(index, chosen, args.runs)


def sbom_of(chosen: list[tuple[str, str, str]]) -> bytes:
    """A CycloneDX 1.6 SBOM whose components are the chosen (name, version) pairs."""
    from services.supply_chain.purls import to_purl
    from services.supply_chain.sbom.cyclonedx import to_cyclonedx
    from services.supply_chain.sbom.graph import Component, assemble

    root = Component(ref="pkg:pypi/bench-app@1.0", name="bench-app", ecosystem="pypi", version="1.0")
    placed = {}
    for _, name, version in chosen:
        purl = to_purl("pypi", name, version)
        placed[purl] = Component(ref=purl, name=name, ecosystem="pypi", version=version, purl=purl)
    graph = assemble(root, placed.values(), {root.ref: list(placed)})
    created = datetime.now(UTC).replace(microsecond=0)
    return to_cyclonedx(graph, created=created, tool_version="bench").encode()


def through_the_api(index: AdvisoryIndex, chosen: list[tuple[str, str, str]], runs: int) -> None:
    import asyncio

    import aiohttp
    from harness import local_mesh

    from shared.messages.agents import AgentName

    operator = "bench-operator-token"
    document = sbom_of(chosen)
    with local_mesh(
        [AgentName.SUPER_AGENT, AgentName.SUPPLY_CHAIN], extra_env={"MNO_BOOTSTRAP_TOKEN": operator}
    ) as mesh:

        async def post(http: aiohttp.ClientSession, path: str, token: str, body: bytes, **params: str) -> Any:
            async with http.post(
                f"{mesh.edge_url}{path}",
                data=body,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                answer = await response.json()
                assert response.status < 300, answer
                return answer

        async def run() -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as http:
                started = time.perf_counter()
                imported = await post(
                    http, "/api/v1/operator/advisories/import", operator, SNAPSHOT.read_bytes(), source="pypa"
                )
                took = time.perf_counter() - started
                print(f"\nthrough the API ({len(chosen)}-component CycloneDX SBOM, {len(document)} bytes)")
                row("import of the snapshot (edge + agent + PG)", took, imported["files"], "advisories")
                for label, path in (
                    ("scan, not stored (POST /supply-chain/scan)", "/api/v1/supply-chain/scan"),
                    ("scan, stored + signed (POST /sboms)", "/api/v1/sboms"),
                ):
                    times, found = [], 0
                    for _ in range(runs):
                        started = time.perf_counter()
                        answer = await post(http, path, mesh.token, document, filename="bom.cdx.json")
                        times.append(time.perf_counter() - started)
                        found = len(answer["findings"])
                    row(
                        f"{label} p50",
                        percentile(times, 0.5),
                        len(chosen),
                        "components",
                        f"  ({found} findings)",
                    )
                started = time.perf_counter()
                pure = index.audit(chosen)
                row(
                    "peer: pure index audit, same components",
                    time.perf_counter() - started,
                    len(chosen),
                    "components",
                    f"  ({len(pure)} findings)",
                )

        asyncio.run(run())


if __name__ == "__main__":
    main()
