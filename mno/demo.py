"""The demo team of a first run: seeded by `mno run` on a fresh data directory, removed by
`mno demo remove`.

Everything goes through the edge's API as a client would: the local administrator, signed in for
the minute it takes (a session, as the one-time dashboard link makes), creates the team
(`POST /api/v1/teams`) and an owner key of it (`POST /api/v1/apikeys`); that key creates the budgets
(`POST /api/v1/budgets`) and sends the events (`POST /api/v1/token-events`), so budgets admit them,
alert at their thresholds and the anomaly detector reads them like any team's. Then the supply chain
(demo_supply_chain): two real advisories imported with the operator token, and a package of the team
that pins the versions they name, uploaded as twine does. A marker in the data
directory (`demo.json`, 0600: it holds the demo key) makes it happen once: a second run, or a run
after `mno demo remove`, seeds nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console

from mno import demo_events as demo
from mno import demo_supply_chain
from mno.local_stack import load_local_settings, read_stack_record, write_secret_file
from services.identity import sessions
from services.identity.bootstrap import LOCAL_ADMIN
from services.pricing import PricingError, Usage
from services.pricing.maintained import maintained_price_source
from shared.config import ConfigError
from shared.db.postgres import create_pool

MARKER = "demo.json"
REQUEST_TIMEOUT_SECONDS = 60.0
EXIT_CONFIG, EXIT_UNREACHABLE = 2, 3

demo_app = typer.Typer(help="The demo team `mno run` seeds on a first run.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


class DemoError(Exception):
    """The edge refused or failed a step: the message names it."""


@dataclass(frozen=True)
class Seeded:
    team_id: str
    events: int


class Edge:
    """A few calls to the edge's API with one set of headers (a session's or a key's)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> None:
        self._http, self._base, self.headers = http, base.rstrip("/"), headers

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        async with self._http.request(
            method, f"{self._base}{path}", json=body, headers={**self.headers, **headers}
        ) as response:
            answer = await response.json(content_type=None)
            if response.status >= 400:
                message = answer.get("error", {}).get("message") if isinstance(answer, dict) else answer
                raise DemoError(f"{method} {path}: {response.status} {message}")
            return answer


def _marker(data_dir: Path) -> Path:
    return data_dir / MARKER


def _price(source: Any, event: dict[str, Any]) -> Decimal:
    usage = Usage(
        input_tokens=event["input_tokens"],
        output_tokens=event["output_tokens"],
        cache_read_tokens=event["cache_read_tokens"],
    )
    try:
        total: Decimal = source.price(
            event["provider"], event["model"], usage, datetime.fromisoformat(event["timestamp"])
        ).total
    except PricingError:
        return Decimal(0)
    return total


async def _admin_session(dsn: str) -> tuple[str, Any]:
    """A short session of the local administrator (what the one-time sign-in link would make)."""
    pool = await create_pool(dsn, min_size=1, max_size=1, command_timeout=30)
    async with pool.acquire() as conn:
        user_id = await conn.fetchval(
            "SELECT id::text FROM super_agent.users WHERE login = $1 AND github_id IS NULL", LOCAL_ADMIN
        )
        if user_id is None:
            await pool.close()
            raise DemoError("no local administrator in this database")
        token = await sessions.create(
            conn, user_id, ttl=timedelta(minutes=10), ip=None, user_agent="mno run (demo seed)"
        )
    return token, pool


async def _team_and_key(edge: Edge) -> tuple[str, str, str]:
    """The demo team (found again after an interrupted seed) and a new owner key of it."""
    session = await edge.call("GET", "/api/v1/session")
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    team = next((t for t in session["teams"] if t["slug"] == demo.TEAM_SLUG), None)
    if team is None:
        created = await edge.call(
            "POST", "/api/v1/teams", {"name": demo.TEAM_NAME, "slug": demo.TEAM_SLUG}, **csrf
        )
        team_id = str(created["id"])
    else:
        team_id = str(team["team_id"])
    there = await edge.call("GET", "/api/v1/session", **{"X-MNO-Team": team_id})
    key = await edge.call(
        "POST",
        "/api/v1/apikeys",
        {"name": demo.KEY_NAME, "permissions": there["permissions"]},
        **csrf,
        **{"X-MNO-Team": team_id},
    )
    return team_id, str(key["key"]["key_id"]), str(key["token"])


async def seed(
    base: str,
    dsn: str,
    data_dir: Path,
    now: datetime | None = None,
    cookie: str = "mno_session",
    operator_token: str | None = None,
) -> Seeded | None:
    """Seed the demo team unless this data directory's marker says it was (then None). Without the
    operator token (which imports advisories), the team gets no supply chain."""
    marker = _marker(data_dir)
    if marker.exists():
        return None
    now = now or datetime.now(UTC)
    made = demo.events(now)
    token, pool = await _admin_session(dsn)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            admin = Edge(http, base, {"Cookie": f"{cookie}={token}"})
            team_id, key_id, key = await _team_and_key(admin)
            owner = Edge(http, base, {"Authorization": f"Bearer {key}"})
            existing = {b["name"] for b in (await owner.call("GET", "/api/v1/budgets"))["budgets"]}
            source = maintained_price_source()
            for budget in demo.budgets(made, lambda e: _price(source, e), now):
                if budget["name"] not in existing:
                    await owner.call("POST", "/api/v1/budgets", budget)
            # Oldest first, as they happened: each budget period's thresholds are crossed in order.
            for batch in demo.batches(made):
                result = await owner.call("POST", "/api/v1/token-events", {"events": batch})
                if result["accepted"] + result.get("duplicates", 0) != len(batch):
                    raise DemoError(f"the edge refused demo events: {result.get('errors', [])[:3]}")
            # Advisories first: the package's SBOM is scanned against what is stored when it lands.
            if operator_token is not None:
                try:
                    await demo_supply_chain.import_advisories(http, base, operator_token)
                    await demo_supply_chain.publish_package(http, base, team_id, key)
                except RuntimeError as error:
                    raise DemoError(str(error)) from error
    finally:
        async with pool.acquire() as conn:
            await sessions.revoke(conn, token)
        await pool.close()
    write_secret_file(
        marker,
        json.dumps({"team_id": team_id, "key_id": key_id, "token": key, "seeded_at": now.isoformat()}),
    )
    return Seeded(team_id, len(made))


async def remove(base: str, dsn: str, data_dir: Path, cookie: str = "mno_session") -> str:
    """Delete the demo team through the API, as the local administrator acting in their own team (a
    team is deleted from another of its account); every agent purges its data. The marker stays, so
    the next `mno run` does not seed it again. Returns what happened, in words."""
    marker = _marker(data_dir)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        # The edge first: an unreachable one is named before anything else (as every `mno` command).
        async with http.get(f"{base.rstrip('/')}/livez") as live:
            live.raise_for_status()
        if not marker.exists():
            raise DemoError(f"no demo team was seeded here ({marker} is missing)")
        record = json.loads(marker.read_text())
        if record.get("removed_at"):
            return f"the demo team was removed already ({record['removed_at']})"
        token, pool = await _admin_session(dsn)
        try:
            admin = Edge(http, base, {"Cookie": f"{cookie}={token}"})
            session = await admin.call("GET", "/api/v1/session")
            own = next((t for t in session["teams"] if t["team_id"] != record["team_id"]), None)
            if own is None:
                raise DemoError("the local administrator has no other team to act in")
            await admin.call(
                "DELETE",
                f"/api/v1/teams/{record['team_id']}",
                **{"X-CSRF-Token": session["csrf_token"], "X-MNO-Team": own["team_id"]},
            )
        finally:
            async with pool.acquire() as conn:
                await sessions.revoke(conn, token)
            await pool.close()
    write_secret_file(
        marker, json.dumps({"team_id": record["team_id"], "removed_at": datetime.now(UTC).isoformat()})
    )
    return f"removed the demo team {demo.TEAM_NAME} ({record['team_id']}); its data is being purged"


def seed_on_first_run(
    base: str, dsn: str, data_dir: Path, cookie: str, operator_token: str | None
) -> str | None:
    """What `mno run` calls once the mesh is ready: a line for the banner, or None. A failure is
    reported, never fatal (the mesh is fine without its demo)."""
    try:
        seeded = asyncio.run(seed(base, dsn, data_dir, cookie=cookie, operator_token=operator_token))
    except (DemoError, aiohttp.ClientError, TimeoutError, OSError) as error:
        return f"demo team not seeded: {error}"
    if seeded is None:
        return None
    return f"{demo.TEAM_NAME}: {seeded.events:,} sample events; pick it in the dashboard's team switcher"


@demo_app.command("remove")
def remove_command(
    url: Annotated[
        str | None, typer.Option("--url", help="The edge's base URL.", envvar="MNO_EDGE_URL")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The YAML configuration.")] = None,
) -> None:
    """Delete the demo team `mno run` seeded (and all its data); it is not seeded again."""
    try:
        settings, _ = load_local_settings(config)
    except ConfigError as error:
        errors.print(f"mno demo: configuration error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_CONFIG) from error
    data_dir = settings.data_dir.resolve()
    if url is None:
        running = read_stack_record(data_dir)
        url = running.edge_url if running else f"http://{settings.http.host}:{settings.http.port}"
    # load_local_settings points postgres.dsn at the running `mno run`'s server.
    dsn = str(settings.postgres.dsn)
    try:
        said = asyncio.run(remove(url, dsn, data_dir, settings.auth.session_cookie_name))
        console.print(said, markup=False, highlight=False, soft_wrap=True)
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        errors.print(
            f"mno demo: cannot reach the edge at {url}: {reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from error
    except DemoError as error:
        errors.print(f"mno demo: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from error
