"""A living first run: `mno run` on a fresh data directory seeds the demo team through the API, the
admin's own team stays empty, the overview of the demo team shows its spend, and `mno demo remove`
deletes it."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mno import demo_events as demo
from services.forecasting import HOUR, AnomalyConfig, check_latest, floor_to_bucket, regularize
from tests.fixtures.supervised import supervised_run
from tests.test_make_run import http, mno_next_to

pytestmark = pytest.mark.timeout(600)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _session_cookie(link: str) -> str:
    """The session cookie the banner's one-time link sets (read off the redirect, as a browser would)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        opener.open(link, timeout=15)
    except urllib.error.HTTPError as answer:
        cookie = answer.headers.get_all("Set-Cookie") or []
        found = next(c for c in cookie if c.startswith("mno_session="))
        return found.split(";", 1)[0]
    raise AssertionError("the sign-in link did not redirect")


def _page(url: str, cookie: str) -> str:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return str(response.read().decode())


def _costs(edge: str, token: str, since: str, until: str) -> tuple[int, dict[str, object]]:
    query = urllib.parse.urlencode({"since": since, "until": until})
    status, body = http("GET", f"{edge}/api/v1/costs?{query}", token)
    return status, body


def test_demo_events_are_deterministic_and_hold_an_anomaly_the_detector_finds() -> None:
    """The same instant makes the same events (ids too), none after it, over every provider; the
    spiked model's last complete hour and the current one are anomalies to the real detector."""
    now = datetime(2025, 3, 12, 14, 25, tzinfo=UTC)
    made = demo.events(now)
    assert made == demo.events(now)
    assert len({e["id"] for e in made}) == len(made)
    assert max(datetime.fromisoformat(e["timestamp"]) for e in made) <= now
    assert {e["provider"] for e in made} == {"openai", "anthropic", "google"}
    assert len({e["project"] for e in made}) >= 3
    assert len({e["user"] for e in made}) >= 5
    tokens: dict[datetime, float] = {}
    for e in made:
        if e["model"] == demo.SPIKE_MODEL:
            hour = floor_to_bucket(datetime.fromisoformat(e["timestamp"]), HOUR)
            tokens[hour] = (
                tokens.get(hour, 0) + e["input_tokens"] + e["output_tokens"] + e["cache_read_tokens"]
            )
    current = floor_to_bucket(now, HOUR)
    for last in (current - HOUR, current):
        since = last - timedelta(days=42)
        series = regularize(
            [(h, v) for h, v in tokens.items() if since <= h <= last],
            bucket=HOUR,
            start=since,
            end=last + HOUR,
        )
        verdict = check_latest(series, AnomalyConfig(min_deviation=20_000))
        assert verdict.anomaly is not None, last
    quiet = current - timedelta(days=3)
    series = regularize(
        [(h, v) for h, v in tokens.items() if quiet - timedelta(days=42) <= h <= quiet],
        bucket=HOUR,
        start=quiet - timedelta(days=42),
        end=quiet + HOUR,
    )
    assert check_latest(series, AnomalyConfig(min_deviation=20_000)).anomaly is None


def test_mno_run_seeds_the_demo_team_once_and_mno_demo_remove_deletes_it() -> None:
    """On a fresh data dir `mno run` seeds the demo team: its key's GET /api/v1/costs has spend, the
    budgets exist, its package has the two demo advisories' findings, the admin's own team has none,
    the demo team's overview shows the same month's spend; `mno demo remove` deletes the team (its key
    is refused, the admin no longer has it) and a second remove says so."""
    with supervised_run("demo") as run:
        setup = run.setup
        assert "demo team" in run.output, run.output
        marker = json.loads((setup.data_dir / "demo.json").read_text())
        assert (setup.data_dir / "demo.json").stat().st_mode & 0o777 == 0o600
        key, team_id = marker["token"], marker["team_id"]
        now = datetime.now(UTC)
        seeded = re.search(r"([\d,]+) sample events", run.output)
        assert seeded, run.output
        count = int(seeded.group(1).replace(",", ""))
        since = (now - timedelta(days=demo.DAYS + 1)).replace(minute=0, second=0, microsecond=0).isoformat()
        until = (now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).isoformat()
        deadline = time.monotonic() + 120
        while True:
            status, report = _costs(setup.edge, key, since, until)
            assert status == 200, report
            totals = report["totals"]
            assert isinstance(totals, dict)
            if totals["events"] >= count or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert Decimal(str(totals["cost_usd"])) > 0
        assert totals["events"] == count, totals
        status, budgets = http("GET", f"{setup.edge}/api/v1/budgets", key)
        assert status == 200, budgets
        assert {b["name"] for b in budgets["budgets"]} == {"Monthly LLM spend", "Code review (weekly)"}
        # Budgets alert as the admitted events cross their thresholds (the history of past weeks too).
        deadline = time.monotonic() + 60
        while True:
            status, alerts = http("GET", f"{setup.edge}/api/v1/alerts", key)
            assert status == 200, alerts
            kinds = [a["alert"]["kind"] for a in alerts["entries"]]
            if kinds.count("budget_threshold") >= 2 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert kinds.count("budget_threshold") >= 2, alerts
        # Its package pins the versions the two demo advisories name: the SBOM made on publish has both.
        deadline = time.monotonic() + 120
        while True:
            status, found = http("GET", f"{setup.edge}/api/v1/vulnerabilities", key)
            assert status == 200, found
            seen = {(f["package"], f["version"], f["advisory_id"]) for f in found["items"]}
            if len(seen) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert seen == {("jinja2", "2.10", "PYSEC-2019-217"), ("requests", "2.19.0", "PYSEC-2018-28")}, found
        assert {tuple(f["path"][-1:]) for f in found["items"]} == {
            ("pkg:pypi/jinja2@2.10",),
            ("pkg:pypi/requests@2.19.0",),
        }
        # The admin's own team stays empty and real.
        status, own = _costs(setup.edge, run.admin_token, since, until)
        assert status == 200, own
        assert own["totals"]["events"] == 0, own

        link = re.search(r"^\s*dashboard\s+(\S+)", run.output, re.MULTILINE)
        assert link, run.output
        cookie = _session_cookie(link.group(1))
        overview = _page(f"{setup.edge}/dashboard", f"{cookie}; mno_team={team_id}")
        assert demo.TEAM_NAME in overview
        month = re.search(
            r'id="spend-month" data-cost-usd="([^"]+)"[^>]*data-since="([^"]+)" data-until="([^"]+)"',
            overview,
        )
        assert month, overview[:2000]
        status, same = _costs(setup.edge, key, month.group(2), month.group(3))
        assert status == 200, same
        assert Decimal(month.group(1)) == Decimal(str(same["totals"]["cost_usd"]))

        removed = mno_next_to(setup, "demo", "remove")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert "removed the demo team" in removed.stdout
        # The demo key stops working once the edge's key cache (auth.api_key_cache_seconds) lets go.
        deadline = time.monotonic() + 30
        while (status := _costs(setup.edge, key, since, until)[0]) == 200 and time.monotonic() < deadline:
            time.sleep(1)
        assert status == 401, status
        status, session = http("GET", f"{setup.edge}/api/v1/session", run.admin_token)
        assert status == 200, session
        assert team_id not in {t["team_id"] for t in session["teams"]}
        again = mno_next_to(setup, "demo", "remove")
        assert again.returncode == 0, again.stderr
        assert "removed already" in again.stdout
