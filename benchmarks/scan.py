"""Advisory matching, first figures: import of the whole PyPA snapshot (advisories/s) and the audit of
1,000 (name, version) components against it (components/s, p50 per component), each beside a peer
measured in the same run: libyaml's parse of the same files, PEP 440 parsing of the same versions.

With --api (the default; --no-api skips it), the same through the mesh (the edge and the
SupplyChainAgent as processes, PostgreSQL, NATS, the blob store): the snapshot imported through
`POST /api/v1/operator/advisories/import`, and a 1,000-component CycloneDX SBOM of the same components
scanned through `POST /api/v1/supply-chain/scan` (nothing stored) and `POST /api/v1/sboms` (stored, both
documents written, signed), beside the pure index's audit of the same components in the same run.

The re-scan after an advisory import (issue #16): --rescan-sboms N (default 10,000; 0 skips it) SBOMs
of 20-50 PyPI components each are stored straight into PostgreSQL (one throwaway embedded server, no
agents): each SBOM's row by one multi-row INSERT per 1,000 with an attestation row naming its subject
(its documents and envelopes are not made: the re-scan never reads them; it signs each changed SBOM's
new result for that subject) and its components by `store.insert_components`, the function the
publish path uses, 8 connections at once. Then 100 new advisories, naming 100 of the 2,100 package
names the components are drawn from, are stored as an import stores them (`advisory_store.upsert`,
then the replica's live index refreshed) and `SupplyChain._rescan` re-examines only the SBOMs holding
a package they name, writing the findings (and their triage rows). Beside it in the same run: the pure
in-memory match of the same components, and a full re-scan of every stored package (every SBOM
re-examined; nothing left to write).

Reading an uploaded SPDX document (--spdx-packages, default 1000,5000; "" skips it): `read_spdx` of an
SPDX 2.3 JSON document of that many packages as other tools write it (purl and CPE references,
checksums, licences with an extracted LicenseRef, a DESCRIBES and a DEPENDS_ON tree), p50 of --spdx-runs,
the time its validation (services/supply_chain/sbom/spdx_validation.py) takes of it, beside in the same
run the same read with spdx-tools' `validate_full_spdx_document` in its place (quadratic: what
read_spdx used before) and json.loads of the same bytes. Then the graph read written as CycloneDX
(`to_cyclonedx`, as a stored upload is), beside the same write as it was made before: the components
added to the library's sorted set in purl order rather than in that set's own order, and each
component's licence made (and validated as an SPDX expression) anew.

.venv/bin/python benchmarks/scan.py [--components 1000] [--runs 5] [--no-api] [--rescan-sboms 10000]
    [--spdx-packages 1000,5000] [--spdx-runs 3]

The snapshot is tests/data/advisories/pypa-advisory-database-2024-10-10.tar.gz (PyPA advisory
database, CC-BY 4.0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
    parser.add_argument("--rescan-sboms", type=int, default=10_000, help="stored SBOMs re-scanned; 0 skips")
    parser.add_argument("--spdx-packages", default="1000,5000", help="SPDX documents read; empty skips")
    parser.add_argument("--spdx-runs", type=int, default=3)
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
    for packages in (int(n) for n in args.spdx_packages.split(",") if n.strip()):
        read_uploaded_spdx(packages, args.spdx_runs)
    if args.api:
        through_the_api(index, chosen, args.runs)
    if args.rescan_sboms > 0:
        rescan_after_import(args.rescan_sboms)


def uploaded_spdx(packages: int, seed: int = 16) -> bytes:
    """An SPDX 2.3 document as scanners write it: a root package, then packages of five ecosystems with a
    purl (and for some a CPE), a SHA-256, declared and concluded licences (some an extracted LicenseRef);
    the document DESCRIBES the root, which DEPENDS_ON a tenth of them, each of the rest a dependency of
    one before it."""
    from services.supply_chain.purls import to_purl

    rng = random.Random(seed)
    licences = ["MIT", "Apache-2.0", "BSD-3-Clause", "Apache-2.0 OR MIT", "LicenseRef-vendor", "NOASSERTION"]
    ecosystems = [("pypi", "{}"), ("npm", "@scope-{}/pkg"), ("maven", "org.acme:{}"), ("cargo", "{}")]
    ecosystems.append(("golang", "github.com/acme/{}"))
    root = {
        "SPDXID": "SPDXRef-Package-root",
        "name": "bench-app",
        "versionInfo": "1.0",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": "pkg:pypi/bench-app@1.0",
            }
        ],
    }
    listed: list[dict[str, Any]] = [root]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root["SPDXID"],
        }
    ]
    for n in range(packages):
        ecosystem, pattern = rng.choice(ecosystems)
        name, version = pattern.format(f"lib-{n}"), f"{rng.randint(0, 9)}.{rng.randint(0, 30)}.{n % 7}"
        spdx_id = f"SPDXRef-Package-{ecosystem}-{n}"
        references = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": to_purl(ecosystem, name, version),
            }
        ]
        if rng.random() < 0.3:
            references.append(
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "cpe23Type",
                    "referenceLocator": f"cpe:2.3:a:acme:lib-{n}:{version}:*:*:*:*:*:*:*",
                }
            )
        listed.append(
            {
                "SPDXID": spdx_id,
                "name": name,
                "versionInfo": version,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "checksums": [{"algorithm": "SHA256", "checksumValue": f"{rng.getrandbits(256):064x}"}],
                "licenseConcluded": rng.choice(licences),
                "licenseDeclared": rng.choice(licences),
                "copyrightText": "NOASSERTION",
                "externalRefs": references,
            }
        )
        dependent = root if n < packages // 10 or len(listed) < 3 else rng.choice(listed[1:-1])
        relationships.append(
            {
                "spdxElementId": dependent["SPDXID"],
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_id,
            }
        )
    return json.dumps(
        {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "bench-app",
            "documentNamespace": f"https://example.com/spdx/bench-app-{packages}",
            "creationInfo": {"created": "2025-01-01T00:00:00Z", "creators": ["Tool: syft-1.0"]},
            "packages": listed,
            "relationships": relationships,
            "hasExtractedLicensingInfos": [
                {"licenseId": "LicenseRef-vendor", "extractedText": "Vendor licence.", "name": "Vendor"}
            ],
        }
    ).encode()


def read_uploaded_spdx(packages: int, runs: int) -> None:
    from unittest import mock

    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    from services.supply_chain.sbom import spdx
    from services.supply_chain.sbom.spdx_validation import validate_document

    document = uploaded_spdx(packages)
    parsed = JsonLikeDictParser().parse(json.loads(document))  # type: ignore[no-untyped-call]
    print(f"\nreading an uploaded SPDX 2.3 document of {packages} packages ({len(document)} bytes)")

    def p50(call: Any) -> tuple[float, Any]:
        times, result = [], None
        for _ in range(runs):
            started = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - started)
        return percentile(times, 0.5), result

    took, graph = p50(lambda: spdx.read_spdx(document))
    row(
        "read_spdx (parse, validation, graph) p50",
        took,
        packages,
        "packages",
        f"  ({len(graph.components)} read)",
    )
    took, problems = p50(lambda: validate_document(parsed))
    row("  of which validate_document (linear)", took, packages, "packages", f"  ({len(problems)} problems)")
    with mock.patch.object(spdx, "validate_document", validate_full_spdx_document):
        took, _ = p50(lambda: spdx.read_spdx(document))
    row("peer: read_spdx with the library's validation", took, packages, "packages")
    took, expected = p50(lambda: validate_full_spdx_document(parsed))
    row("  of which validate_full_spdx_document", took, packages, "packages", f"  ({len(expected)} problems)")
    assert problems == expected
    took, _ = p50(lambda: json.loads(document))
    row("peer: json.loads, same bytes", took, packages, "packages")

    # Stored, the upload is written again as CycloneDX: its components are added to the library's
    # sorted set in that set's order, each licence text made once; the peer as before: in purl order,
    # each component's licence made anew. Same output.
    from services.supply_chain.sbom import cyclonedx

    created = datetime.now(UTC).replace(microsecond=0)
    took, written = p50(lambda: cyclonedx.to_cyclonedx(graph, created=created, tool_version="bench"))
    row("to_cyclonedx of the graph read, p50", took, packages, "components")
    with (
        mock.patch.object(cyclonedx, "_set_order", lambda component: str(component.bom_ref.value)),
        mock.patch.object(cyclonedx, "cache", lambda make: make),
    ):
        took, before = p50(lambda: cyclonedx.to_cyclonedx(graph, created=created, tool_version="bench"))
    row("peer: to_cyclonedx as before", took, packages, "components")
    assert written == before


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
                    p50 = percentile(times, 0.5)
                    target = "met" if p50 < 1.0 else "NOT met"
                    row(
                        f"{label} p50",
                        p50,
                        len(chosen),
                        "components",
                        f"  ({found} findings) [target < 1 s: {target}]",
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


RESCAN_ADVISORIES = 100
CLEAN_PACKAGES = 2000


def new_advisories(count: int) -> list[bytes]:
    """OSV records, each naming one package (`vulnerable-<i>`): versions below 2.0 are affected."""
    modified = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {
                "id": f"BENCH-{i:04d}",
                "modified": modified,
                "summary": f"benchmark advisory {i}",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": f"vulnerable-{i}"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}],
                    }
                ],
            }
        ).encode()
        for i in range(count)
    ]


def stored_components(sboms: int, seed: int = 16) -> list[list[Any]]:
    """Per SBOM 20-50 components: ~3% name a package an advisory names (at 1.x, affected, or 2.x,
    fixed), the rest one of 2,000 packages no advisory names."""
    from services.supply_chain.index import package_key
    from services.supply_chain.purls import to_purl
    from services.supply_chain.scanning import ScannedComponent

    rng = random.Random(seed)
    result = []
    for _ in range(sboms):
        picked: dict[str, ScannedComponent] = {}
        for _ in range(rng.randint(20, 50)):
            if rng.random() < 0.03:
                name = f"vulnerable-{rng.randrange(RESCAN_ADVISORIES)}"
                version = f"{rng.choice((1, 2))}.{rng.randint(0, 9)}.0"
            else:
                name = f"clean-{rng.randrange(CLEAN_PACKAGES)}"
                version = f"{rng.randint(0, 5)}.{rng.randint(0, 20)}.0"
            ecosystem, key = package_key("PyPI", name)
            purl = to_purl("pypi", name, version)
            picked[purl] = ScannedComponent(ecosystem, key, name, version, purl, ("pkg:pypi/app@1.0", purl))
        result.append(list(picked.values()))
    return result


def rescan_after_import(sboms: int) -> None:
    import asyncio
    import shutil
    import tempfile
    from typing import cast

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mno.stack import EmbeddedPostgres
    from mno.supervisor import prepare_database
    from services.supply_chain import advisory_store, store
    from services.supply_chain.osv import read
    from services.supply_chain.sbom.graph import Component, assemble
    from services.supply_chain.scanning import graph_to_json, match
    from services.supply_chain.service import Limits, SupplyChain
    from services.supply_chain.signing import Keyring
    from shared.blobstore.filesystem import FilesystemBlobStore
    from shared.db.postgres import create_pool
    from tests.fixtures.stack import free_port

    workdir = Path(tempfile.mkdtemp(prefix="mno-bench-rescan-"))
    postgres = EmbeddedPostgres()
    dsn = postgres.start(workdir, port=free_port())
    per_sbom = stored_components(sboms)
    records = [read(text, f"BENCH-{i:04d}.json") for i, text in enumerate(new_advisories(RESCAN_ADVISORIES))]
    root = Component(ref="pkg:pypi/app@1.0", name="app", ecosystem="pypi", version="1.0")
    graph = graph_to_json(assemble(root, [], {}))
    team_id = "00000000-0000-4000-8000-000000000016"

    async def run() -> None:
        await prepare_database(dsn, None)
        pool = await create_pool(dsn, min_size=1, max_size=8, command_timeout=600)
        try:
            started = time.perf_counter()
            sbom_ids: list[str] = []
            async with pool.acquire() as conn:
                for start in range(0, sboms, 1000):
                    count = min(1000, sboms - start)
                    sbom_ids += await conn.fetchval(
                        "WITH made AS (INSERT INTO supply_chain.sboms (team_id, source, subject_ecosystem, "
                        "subject_name, subject_version, input_format, graph, component_count, created, "
                        "tool_version, cyclonedx_sha256, cyclonedx_size, spdx_sha256, spdx_size) "
                        "SELECT $1::uuid, 'upload', 'pypi', 'app-' || n, '1.0', 'cyclonedx', $2, 0, now(), "
                        "'bench', repeat('0', 64), 0, repeat('0', 64), 0 "
                        "FROM generate_series($3::int, $4::int) AS n RETURNING id::text) "
                        "SELECT array_agg(id) FROM made",
                        team_id,
                        graph,
                        start,
                        start + count - 1,
                    )
                # Each SBOM's own attestation row (its subject; the envelope is not read): a re-scan
                # that changes an SBOM's findings signs its new result for that subject.
                await conn.execute(
                    "INSERT INTO supply_chain.attestations (team_id, sbom_id, kind, predicate_type, "
                    "subject_name, subject_sha256, key_id, envelope, envelope_sha256, envelope_size) "
                    "SELECT $1::uuid, id, 'sbom', 'https://cyclonedx.org/bom', 'requirements.txt', "
                    "repeat('0', 64), 'bench', '{}'::jsonb, repeat('0', 64), 0 "
                    "FROM unnest($2::uuid[]) AS id",
                    team_id,
                    sbom_ids,
                )

            async def insert(indices: range) -> None:
                async with pool.acquire() as conn:
                    for i in indices:
                        await store.insert_components(conn, team_id, sbom_ids[i], per_sbom[i])

            await asyncio.gather(*(insert(range(k, sboms, 8)) for k in range(8)))
            total = sum(len(c) for c in per_sbom)
            print(f"\nre-scan after {RESCAN_ADVISORIES} new advisories over {sboms} stored SBOMs")
            row("seeding: SBOM rows + insert_components", time.perf_counter() - started, total, "components")

            # Real signing and a filesystem blob store: the re-scan signs each changed SBOM's result.
            keyring = Keyring(Ed25519PrivateKey.generate())
            blobs = FilesystemBlobStore(workdir / "blobs")
            service = SupplyChain(pool, blobs, cast(Any, None), keyring, Limits(0, 0), "bench")
            touched: set[tuple[str, str]] = set()
            started = time.perf_counter()
            async with pool.acquire() as conn:
                async with conn.transaction():
                    for packages in (
                        await advisory_store.held_packages(conn, [a.id for _, a in records])
                    ).values():
                        touched |= packages
                    for _, advisory in records:
                        touched |= advisory_store.packages_of(advisory)
                    await advisory_store.upsert(conn, records)
                await service.live.refresh(conn)
            stored = time.perf_counter() - started
            started = time.perf_counter()
            _, changed, examined = await service._rescan(touched, set())
            took = time.perf_counter() - started
            async with pool.acquire() as conn:
                written = await conn.fetchval("SELECT count(*) FROM supply_chain.findings")
                signed = await conn.fetchval(
                    "SELECT count(*) FROM supply_chain.attestations WHERE kind = 'scan'"
                )
                rows = await conn.fetch(
                    "SELECT sbom_id::text AS sbom_id, ecosystem, name, display_name, version, purl, path "
                    "FROM supply_chain.sbom_components c JOIN unnest($1::text[], $2::text[]) AS "
                    "t(ecosystem, name) USING (ecosystem, name) ORDER BY sbom_id",
                    [e for e, _ in touched],
                    [n for _, n in touched],
                )
            row("store the advisories + refresh the index", stored, RESCAN_ADVISORIES, "advisories")
            row(
                "incremental re-scan (_rescan), findings written",
                took,
                examined,
                "SBOMs",
                f"  ({examined}/{sboms} re-examined, {changed} findings written, {written} stored, "
                f"{signed} new results signed)",
            )
            row("  end to end (store + index + re-scan)", stored + took, examined, "SBOMs")

            from services.supply_chain.scanning import ScannedComponent

            grouped: dict[str, list[ScannedComponent]] = {}
            for r in rows:
                grouped.setdefault(r["sbom_id"], []).append(
                    ScannedComponent(
                        r["ecosystem"],
                        r["name"],
                        r["display_name"],
                        r["version"],
                        r["purl"],
                        tuple(r["path"]),
                    )
                )
            started = time.perf_counter()
            pure = sum(len(match(service.live.index, components)) for components in grouped.values())
            row(
                "peer: pure index match, same components",
                time.perf_counter() - started,
                len(grouped),
                "SBOMs",
                f"  ({len(rows)} components, {pure} findings)",
            )
            async with pool.acquire() as conn:
                every = {
                    (r["ecosystem"], r["name"])
                    for r in await conn.fetch(
                        "SELECT DISTINCT ecosystem, name FROM supply_chain.sbom_components"
                    )
                }
            started = time.perf_counter()
            _, again, all_examined = await service._rescan(every, set())
            row(
                "peer: full re-scan of every package (_rescan)",
                time.perf_counter() - started,
                all_examined,
                "SBOMs",
                f"  ({all_examined} re-examined, {again} findings changed)",
            )
        finally:
            await pool.close()

    try:
        asyncio.run(run())
    finally:
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
