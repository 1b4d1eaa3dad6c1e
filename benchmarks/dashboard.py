"""The dashboard's page times: the overview's time to answer (p50/p95) beside two peers measured in the
same run (GET /livez, and the raw GET /api/v1/costs the page makes among its six API calls), the
overview's first paint in Debian's chromium, and the Costs explorer over 90 days of events (18,000)
beside the grouped GET /api/v1/costs it asks, with its data's server time (its Server-Timing header).

    .venv/bin/python benchmarks/dashboard.py [--requests 200] [--paints 10]

Starts its own NATS, PostgreSQL and the five agents (harness.local_mesh) and seeds the local team
with a day of token events through the API. Times are measured by a client over loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from time import perf_counter

import aiohttp
from harness import LocalMesh, local_mesh, percentile
from playwright.async_api import async_playwright

from services.identity import local_sign_in
from shared.db.postgres import create_pool

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def seed(http: aiohttp.ClientSession, mesh: LocalMesh, events: int = 2000) -> None:
    now = datetime.now(UTC)
    auth = {"Authorization": f"Bearer {mesh.token}"}
    for start in range(0, events, 1000):
        batch = [
            {
                "id": f"bench-{i}",
                "timestamp": (now - timedelta(seconds=43 * i)).isoformat(),
                "provider": ("openai", "anthropic")[i % 2],
                "model": ("gpt-4o-mini", "claude-3-5-haiku-20241022")[i % 2],
                "input_tokens": 800 + i % 500,
                "output_tokens": 100 + i % 300,
                "project": ("search", "chat", "ops")[i % 3],
            }
            for i in range(start, min(events, start + 1000))
        ]
        async with http.post(
            f"{mesh.edge_url}/api/v1/token-events", json={"events": batch}, headers=auth
        ) as r:
            answer = await r.json()
            assert r.status == 200, answer
            assert answer["accepted"] == len(batch), answer["rejected"]
    # `until` is exclusive: the newest event is stamped `now`.
    window = {
        "since": (now - timedelta(days=2)).isoformat(),
        "until": (now + timedelta(minutes=1)).isoformat(),
    }
    stored = 0
    for _ in range(300):
        async with http.get(f"{mesh.edge_url}/api/v1/costs", params=window, headers=auth) as r:
            stored = (await r.json())["totals"]["events"]
            if stored >= events:
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"the seeded events were not stored ({stored} of {events})")


async def seed_days(http: aiohttp.ClientSession, mesh: LocalMesh, days: int = 90, per_day: int = 200) -> int:
    """`per_day` events on each of the last `days` days (several models, projects and users)."""
    now = datetime.now(UTC)
    auth = {"Authorization": f"Bearer {mesh.token}"}
    total = days * per_day
    for start in range(0, total, 1000):
        batch = [
            {
                "id": f"bench90-{i}",
                "timestamp": (now - timedelta(days=i // per_day, minutes=7 * (i % per_day))).isoformat(),
                "provider": ("openai", "anthropic", "openai")[i % 3],
                "model": ("gpt-4o-mini", "claude-3-5-haiku-20241022", "gpt-4o")[i % 3],
                "input_tokens": 800 + i % 500,
                "output_tokens": 100 + i % 300,
                "latency_ms": 200 + i % 900,
                "project": ("search", "chat", "ops", "eval")[i % 4],
                "user": f"user-{i % 7}",
            }
            for i in range(start, min(total, start + 1000))
        ]
        async with http.post(
            f"{mesh.edge_url}/api/v1/token-events", json={"events": batch}, headers=auth
        ) as r:
            assert r.status == 200, await r.text()
    return total


async def session_cookie(http: aiohttp.ClientSession, mesh: LocalMesh) -> str:
    pool = await create_pool(mesh.postgres_dsn, min_size=1, max_size=1, command_timeout=30)
    try:
        async with pool.acquire() as conn:
            token = await local_sign_in.create_link(conn)
    finally:
        await pool.close()
    assert token is not None
    async with http.get(local_sign_in.link_url(mesh.edge_url, token), allow_redirects=False) as r:
        assert r.status == 302, r.status
        return SimpleCookie(r.headers["Set-Cookie"])["mno_session"].value


async def timed(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], params: object = None
) -> float:
    started = perf_counter()
    async with http.get(url, headers=headers, params=params, allow_redirects=False) as response:  # type: ignore[arg-type]
        await response.read()
        assert response.status == 200, (url, response.status)
    return perf_counter() - started


async def first_paints(mesh: LocalMesh, cookie: str, count: int) -> list[float]:
    paints: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = await browser.new_context(base_url=mesh.edge_url)
        await context.add_cookies(
            [{"name": "mno_session", "value": cookie, "url": mesh.edge_url, "secure": True}]
        )
        for _ in range(count + 1):  # the first load fills the asset cache, as a returning user's has
            page = await context.new_page()
            await page.goto("/dashboard", wait_until="load")
            paint = await page.evaluate(
                "performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)[0] || null"
            )
            await page.close()
            if paint is not None:
                paints.append(paint / 1000)
        await browser.close()
    return paints[1:]


async def wait_stored(http: aiohttp.ClientSession, mesh: LocalMesh, at_least: int) -> None:
    now = datetime.now(UTC)
    window = {
        "since": (now - timedelta(days=91)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    auth = {"Authorization": f"Bearer {mesh.token}"}
    for _ in range(600):
        async with http.get(f"{mesh.edge_url}/api/v1/costs", params=window, headers=auth) as r:
            if (await r.json())["totals"]["events"] >= at_least:
                return
        await asyncio.sleep(0.2)
    raise SystemExit("the 90 days of events were not stored")


def line(name: str, samples: list[float]) -> str:
    return (
        f"{name:<38} p50 {statistics.median(samples) * 1000:8.2f} ms   "
        f"p95 {percentile(samples, 0.95) * 1000:8.2f} ms   (n={len(samples)})"
    )


async def measure(mesh: LocalMesh, requests: int, paints: int) -> None:
    async with aiohttp.ClientSession() as http:
        await seed(http, mesh)
        cookie = await session_cookie(http, mesh)
        now = datetime.now(UTC)
        month = {
            "since": now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).isoformat(),
            "until": (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).isoformat(),
            "bucket": "day",
        }
        bearer = {"Authorization": f"Bearer {mesh.token}"}
        browser = {"Cookie": f"mno_session={cookie}"}
        samples: dict[str, list[float]] = {
            "livez": [],
            "costs": [],
            "overview": [],
            "costs90": [],
            "explorer": [],
            "explorer_data": [],
        }
        for i in range(requests + 10):  # interleaved, so the three see the same machine; 10 warm-up
            livez = await timed(http, f"{mesh.edge_url}/livez", {})
            costs = await timed(http, f"{mesh.edge_url}/api/v1/costs", bearer, month)
            page = await timed(http, f"{mesh.edge_url}/dashboard", browser)
            if i >= 10:
                samples["livez"].append(livez)
                samples["costs"].append(costs)
                samples["overview"].append(page)
        # The explorer over 90 days (its peer: the same two GET /api/v1/costs questions it asks).
        seeded = await seed_days(http, mesh)
        await wait_stored(http, mesh, seeded)
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        since = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=89)
        grouped = {
            "since": since.isoformat(),
            "until": next_hour.isoformat(),
            "bucket": "day",
            "group_by": "model",
            "limit": "25",
        }
        explorer = f"{mesh.edge_url}/dashboard/costs?range=90d&group_by=model"
        for i in range(requests // 2 + 5):
            costs90 = await timed(http, f"{mesh.edge_url}/api/v1/costs", bearer, grouped)
            started = perf_counter()
            async with http.get(explorer, headers=browser, allow_redirects=False) as response:
                await response.read()
                assert response.status == 200, response.status
                timing = response.headers["Server-Timing"]
            page_time = perf_counter() - started
            if i >= 5:
                samples["costs90"].append(costs90)
                samples["explorer"].append(page_time)
                samples["explorer_data"].append(float(timing.rsplit("dur=", 1)[1]) / 1000)
    print(line("GET /livez (peer)", samples["livez"]))
    print(line("GET /api/v1/costs month/day (peer)", samples["costs"]))
    print(line("GET /dashboard (overview, 6 API calls)", samples["overview"]))
    print(line("GET /api/v1/costs 90 d/day by model (peer)", samples["costs90"]))
    print(line("GET /dashboard/costs 90 d (explorer)", samples["explorer"]))
    print(line("  explorer's data, server time", samples["explorer_data"]))
    painted = await first_paints(mesh, cookie, paints)
    print(line("overview first contentful paint", painted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--paints", type=int, default=10)
    args = parser.parse_args()
    with local_mesh() as mesh:
        asyncio.run(measure(mesh, args.requests, args.paints))


if __name__ == "__main__":
    main()
