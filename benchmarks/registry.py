"""Benchmark: the artifact registry beside the simplest servers its users compare it with, same run,
same files, same machine (issue 15's targets in brackets):
  - `pip install` of 20 small wheels from our index vs from pypiserver serving the same files
    [ratio <= 1.0];
  - uploads/s of 100 kB wheels through twine's protocol (multipart `file_upload`), ours and
    pypiserver's;
  - `npm install` of 20 small packages from our registry vs from Verdaccio holding the same tarballs;
  - search p95 through the edge over 100,000 versions [< 50 ms], beside the same search's SQL run
    directly on PostgreSQL (no edge, no NATS).

The peers are installed on first use outside the project's lock: pypiserver with pip into
build/bench-venvs/pypiserver, Verdaccio 6.8.0 with npm into build/bench-npm (6.10 needs Node 22;
6.8.0 runs on Node 20 with node-fetch pinned to 2.7.0 by an `overrides` entry).

The 100,000 versions are seeded straight into the registry's store (services/registry/store.py, the
functions the publish path uses: ensure_package, insert_version, refresh_package), 10,000 packages of
10 versions each, without files: search reads packages and their search documents, not bytes.

    .venv/bin/python benchmarks/registry.py [--packages 20] [--uploads 50] [--runs 3] [--versions 100000]
        [--search-only | --pip-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import asyncpg
import requests
from harness import local_mesh, percentile

from services.registry import search as search_queries
from services.registry import store
from shared.db.postgres import register_json_codecs
from shared.messages.agents import AgentName
from shared.messages.artifacts import Ecosystem
from tests.registry.npmpackages import package_tarball, publish_document
from tests.registry.peers import VERDACCIO, pypiserver, verdaccio
from tests.registry.pypackages import clean_env, fresh_venv, minimal_wheel, upload_bytes

# --- pip ---------------------------------------------------------------------------------------------


def _pip_install(index: str, names: list[str], workdir: Path) -> float:
    python = fresh_venv(workdir / f"venv-{random.getrandbits(32):x}")
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-cache-dir",
            "--index-url",
            index,
            *names,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pip install from {index} failed:\n{result.stderr[-2000:]}")
    shutil.rmtree(python.parent.parent, ignore_errors=True)
    return elapsed


# What pip sends for a project page (pip 23+): PEP 691 JSON first, HTML as the fallback.
PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
_HREF = re.compile(r'href="([^"#]+)')


def _replay_pip_requests(index: str, names: list[str], rounds: int) -> list[float]:
    """Seconds per round of the requests one `pip install` of `names` makes (each project page, then
    its file), from one keep-alive session as pip's: the server's part of an install."""
    parts = urlsplit(index)
    auth = (parts.username or "", parts.password or "") if parts.username else None
    host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    base = urlunsplit((parts.scheme, host, parts.path, "", ""))
    timings = []
    with requests.Session() as session:
        session.auth = auth
        for _ in range(rounds):
            started = time.perf_counter()
            for name in names:
                page = session.get(f"{base}{name}/", headers={"Accept": PIP_ACCEPT}, timeout=10)
                page.raise_for_status()
                if "json" in page.headers.get("Content-Type", ""):
                    link = page.json()["files"][0]["url"]
                else:
                    found = _HREF.search(page.text)
                    assert found is not None, page.text
                    link = found.group(1)
                session.get(urljoin(page.url, link), timeout=10).raise_for_status()
            timings.append(time.perf_counter() - started)
    return timings


def _ratio_interval(ours: list[float], theirs: list[float], draws: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of median(ours) / median(theirs): whether a ratio under or over 1.0
    is the servers' difference or the run-to-run noise of pip on a shared machine."""
    pick = random.Random(15)
    ratios = sorted(
        statistics.median(pick.choices(ours, k=len(ours)))
        / statistics.median(pick.choices(theirs, k=len(theirs)))
        for _ in range(draws)
    )
    return ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]


async def _upload_rate(post: Any, count: int, payload: int) -> float:
    wheels = [minimal_wheel(f"bench-up-{random.getrandbits(40):x}", "1.0") for _ in range(count)]
    padded = []
    for filename, content in wheels:
        # A zip's comment carries the payload: the wheel stays valid and is `payload` bytes larger.
        padded.append((filename, _with_comment(content, os.urandom(payload))))
    started = time.perf_counter()
    for filename, content in padded:
        await post(filename, content)
    return count / (time.perf_counter() - started)


def _with_comment(content: bytes, comment: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = comment[:65535]
        for i in range(1, len(comment) // 65535 + 1):
            archive.writestr(
                f"pad-{i}.bin", comment[i * 65535 : (i + 1) * 65535], compress_type=zipfile.ZIP_STORED
            )
    return buffer.getvalue()


async def _pypiserver_upload(url: str, filename: str, content: bytes) -> None:
    import hashlib

    form = aiohttp.FormData()
    name, version = filename.split("-")[0], filename.split("-")[1]
    for field, value in {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
    }.items():
        form.add_field(field, value)
    form.add_field("content", content, filename=filename, content_type="application/octet-stream")
    async with aiohttp.ClientSession() as http, http.post(url + "/", data=form) as response:
        if response.status >= 300:
            raise SystemExit(f"pypiserver upload: {response.status} {await response.text()}")


# --- npm ---------------------------------------------------------------------------------------------


async def _npm_put(url: str, name: str, document: dict[str, Any], token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.put(f"{url}/{name}", json=document) as response,
    ):
        if response.status >= 300:
            raise SystemExit(f"npm publish to {url}: {response.status} {await response.text()}")


def _npm_install(registry: str, auth_line: str | None, names: list[str], workdir: Path) -> float:
    folder = workdir / f"app-{random.getrandbits(32):x}"
    folder.mkdir()
    (folder / "package.json").write_text(
        json.dumps(
            {
                "name": "bench-app",
                "version": "1.0.0",
                "private": True,
                "dependencies": dict.fromkeys(names, "1.0.0"),
            }
        )
    )
    rc = folder / ".npmrc-bench"
    rc.write_text(f"registry={registry}\n" + (auth_line + "\n" if auth_line else ""))
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    started = time.perf_counter()
    result = subprocess.run(
        [
            "npm",
            "install",
            "--userconfig",
            str(rc),
            "--cache",
            str(folder / ".cache"),
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--prefer-online",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"npm install from {registry} failed:\n{result.stderr[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return elapsed


# --- search ------------------------------------------------------------------------------------------

WORDS = ["http", "json", "parse", "stream", "cache", "auth", "log", "test", "data", "file", "time", "queue"]


async def _seed(dsn: str, team_id: str, versions: int, per_package: int = 10) -> float:
    """`versions` versions of versions/per_package packages, through the store's own functions."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    await register_json_codecs(conn)
    try:
        rng = random.Random(7)
        for n in range(versions // per_package):
            words = rng.sample(WORDS, 3)
            name = f"{words[0]}-{words[1]}-{n}"
            async with conn.transaction():
                package_id = await store.ensure_package(conn, team_id, Ecosystem.PYPI, name, name)
                for v in range(per_package):
                    await store.insert_version(
                        conn,
                        team_id,
                        package_id,
                        f"1.{v}.0",
                        prerelease=False,
                        metadata={"display_name": name, "summary": f"{words[2]} tools for {words[0]}"},
                        published_by=None,
                    )
                await store.refresh_package(
                    conn,
                    package_id,
                    display_name=name,
                    latest=f"1.{per_package - 1}.0",
                    stable=f"1.{per_package - 1}.0",
                    summary=f"{words[2]} tools for {words[0]}",
                    license="MIT",
                    keywords=words,
                    description=" ".join(rng.choices(WORDS, k=40)),
                )
        await conn.execute("ANALYZE artifact_manager.packages")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def _search_latencies(edge: str, token: str, queries: list[str]) -> list[float]:
    latencies = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for q in queries:
            started = time.perf_counter()
            async with http.get(f"{edge}/api/v1/registry/packages", params={"q": q}) as response:
                await response.read()
                assert response.status == 200, await response.text()
            latencies.append(time.perf_counter() - started)
    return latencies


async def _direct_latencies(dsn: str, team_id: str, queries: list[str]) -> list[float]:
    conn = await asyncpg.connect(dsn)
    latencies = []
    try:
        for q in queries:
            started = time.perf_counter()
            await store.search(
                conn,
                team_id,
                query=q,
                tsquery=search_queries.tsquery_of(q),
                name_tsquery=search_queries.tsquery_of(q, weights="A"),
                ecosystem=None,
                license=None,
                depends_on=None,
                limit=20,
                offset=0,
            )
            latencies.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return latencies


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main(args: argparse.Namespace) -> None:
    print(f"registry benchmark, shared machine ({os.cpu_count()} cores; other work may be running)")
    with local_mesh([AgentName.SUPER_AGENT, AgentName.ARTIFACT_MANAGER]) as mesh:
        asyncio.run(run(mesh, args))


async def run(mesh: Any, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="mno-bench-registry-"))
    conn = await asyncpg.connect(mesh.postgres_dsn)
    team_id = str(
        await conn.fetchval(
            "SELECT team_id::text FROM super_agent.api_keys WHERE key_id = $1", mesh.token.split("_")[1]
        )
    )
    await conn.close()
    edge = mesh.edge_url

    if not args.search_only:
        # pip: the same 20 wheels in our index and in pypiserver's folder.
        names = [f"bench-pkg-{i:02d}" for i in range(args.packages)]
        served = work / "pypiserver-packages"
        served.mkdir()
        for name in names:
            filename, content = minimal_wheel(name, "1.0")
            status, text = await upload_bytes(edge, team_id, mesh.token, name, "1.0", filename, content)
            assert status == 200, text
            (served / filename).write_bytes(content)
        ours_index = (
            f"http://__token__:{mesh.token}@{edge.removeprefix('http://')}/registry/{team_id}/pypi/simple/"
        )
        with pypiserver(served) as peer:
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(_pip_install(ours_index, names, work))
                theirs.append(_pip_install(peer + "/simple/", names, work))
            ratio = statistics.median(ours) / statistics.median(theirs)
            low, high = _ratio_interval(ours, theirs)
            print(
                f"pip install of {args.packages} packages: ours {statistics.median(ours):.2f} s, "
                f"pypiserver {statistics.median(theirs):.2f} s (median of {args.runs}); "
                f"ratio {ratio:.2f}, 95% bootstrap interval {low:.2f}-{high:.2f} [target <= 1.0]",
                flush=True,
            )
            # The servers' share of those installs: the same requests pip makes, with pip's Accept
            # header, from one HTTP session and nothing else (no resolver, no unpacking).
            ours_replay = _replay_pip_requests(ours_index, names, args.runs * 3)
            theirs_replay = _replay_pip_requests(peer + "/simple/", names, args.runs * 3)
            print(
                f"  the {2 * len(names)} requests of one install, replayed: ours "
                f"{statistics.median(ours_replay) * 1000:.1f} ms, pypiserver "
                f"{statistics.median(theirs_replay) * 1000:.1f} ms (median of {len(ours_replay)}); the rest "
                "of an install is pip's own work, the same for both",
                flush=True,
            )
            if args.pip_only:
                shutil.rmtree(work, ignore_errors=True)
                return

            async def ours_post(filename: str, content: bytes) -> None:
                name = filename.split("-")[0].replace("_", "-")
                status, text = await upload_bytes(edge, team_id, mesh.token, name, "1.0", filename, content)
                assert status == 200, text

            ours_rate = await _upload_rate(ours_post, args.uploads, 100_000)
            theirs_rate = await _upload_rate(
                lambda f, c: _pypiserver_upload(peer, f, c), args.uploads, 100_000
            )
            print(
                "uploads of 100 kB wheels (twine's protocol, one at a time): "
                f"ours {ours_rate:.1f}/s, pypiserver {theirs_rate:.1f}/s"
            )

        # npm: the same 20 tarballs in our registry and in Verdaccio.
        npm_names = [f"bench-npm-{i:02d}" for i in range(args.packages)]
        registry = f"{edge}/registry/{team_id}/npm"
        host = registry.removeprefix("http:")
        (work / "verdaccio").mkdir()
        with verdaccio(work / "verdaccio") as peer:
            for name in npm_names:
                document = publish_document(name, "1.0.0", package_tarball(name, "1.0.0"))
                await _npm_put(registry, name, document, mesh.token)
                await _npm_put(peer, name, document, None)
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(_npm_install(registry + "/", f"{host}/:_authToken={mesh.token}", npm_names, work))
                theirs.append(_npm_install(peer + "/", None, npm_names, work))
            print(
                f"npm install of {args.packages} packages: ours {statistics.median(ours):.2f} s, "
                f"Verdaccio {VERDACCIO} {statistics.median(theirs):.2f} s (median of {args.runs}); "
                f"ratio {statistics.median(ours) / statistics.median(theirs):.2f}"
            )

    # search over many versions
    seeded = await _seed(mesh.postgres_dsn, team_id, args.versions)
    rng = random.Random(11)
    queries = [" ".join(rng.sample(WORDS, rng.choice([1, 2]))) for _ in range(200)] + ["json-parse-1"] * 20
    await _search_latencies(edge, mesh.token, queries[:20])  # warm
    through_edge = await _search_latencies(edge, mesh.token, queries)
    direct = await _direct_latencies(mesh.postgres_dsn, team_id, queries)
    print(
        f"search over {args.versions} versions ({args.versions // 10} packages, "
        f"seeded in {seeded:.0f} s): "
        f"p95 through the edge {_ms(percentile(through_edge, 0.95))} [target < 50 ms], "
        f"p50 {_ms(percentile(through_edge, 0.5))}; the same SQL on PostgreSQL directly p95 "
        f"{_ms(percentile(direct, 0.95))}, p50 {_ms(percentile(direct, 0.5))}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--search-only", action="store_true", help="skip the pip, upload and npm runs")
    parser.add_argument("--pip-only", action="store_true", help="the pip comparison alone")
    main(parser.parse_args())
