"""What the demo team is made of: its name, its budgets and its token events (pure, deterministic).

Six weeks of calls over three providers, five models, three projects and five users, busier on
weekday working hours: the last two are what the pages show, the four before let the anomaly
detector judge (its baseline needs five weeks of hourly history). One runaway hour, a code-review
loop on gpt-4o in the last complete hour and the current one, is the anomaly the detector finds
whichever of the two it checks first. The generator is seeded, so every run makes the same events
with the same ids: sending them again is answered as duplicates.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

TEAM_NAME = "Demo (sample data)"
TEAM_SLUG = "demo"
KEY_NAME = "demo seed (made by mno run)"
DAYS = 42
SEED = 20250614
SPIKE_MODEL = "gpt-4o"
SPIKE_FACTOR = 14


@dataclass(frozen=True)
class Model:
    provider: str
    name: str
    calls_per_hour: float  # at a weekday's busiest hour
    input_tokens: int  # typical uncached input of one call
    output_tokens: int
    projects: tuple[str, ...]
    cache_share: float = 0.0  # share of input read from the prompt cache


MODELS = (
    Model("openai", "gpt-4o-mini", 9.0, 1800, 220, ("search", "support-bot")),
    Model("openai", "gpt-4o", 3.0, 2600, 420, ("code-review", "support-bot"), cache_share=0.3),
    Model("anthropic", "claude-3-5-haiku-20241022", 5.0, 1500, 260, ("support-bot",)),
    Model("anthropic", "claude-sonnet-4-20250514", 2.0, 4200, 700, ("code-review",), cache_share=0.5),
    Model("google", "gemini-2.0-flash", 6.0, 2200, 180, ("search",)),
)
USERS = ("alice", "bob", "carol", "dmitri", "emma")


def _activity(at: datetime) -> float:
    """Share of the busiest hour's calls at `at`: a working-day curve, a quiet night and weekend."""
    hour = at.hour + at.minute / 60
    day = 0.15 + 0.85 * max(0.0, math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.12
    return day * (0.35 if at.weekday() >= 5 else 1.0)


def events(now: datetime, days: int = DAYS) -> list[dict[str, Any]]:
    """Every demo event up to `now` (never after it), as `POST /api/v1/token-events` takes them."""
    now = now.astimezone(UTC)
    rng = random.Random(SEED)
    current = now.replace(minute=0, second=0, microsecond=0)
    spike_hours = {current - timedelta(hours=1), current}
    start = current - timedelta(days=days)
    made: list[dict[str, Any]] = []
    hour = start
    while hour <= current:
        for model in MODELS:
            mean = model.calls_per_hour * _activity(hour)
            if hour in spike_hours and model.name == SPIKE_MODEL:
                mean = model.calls_per_hour * SPIKE_FACTOR
            for _ in range(_poisson(rng, mean)):
                at = hour + timedelta(seconds=rng.randrange(3600))
                if at > now:
                    continue
                made.append(_event(rng, model, at, len(made), hour in spike_hours))
        hour += timedelta(hours=1)
    return made


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: means here are small (under 50), so a loop is cheap and exact enough.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _event(rng: random.Random, model: Model, at: datetime, index: int, runaway: bool) -> dict[str, Any]:
    size = rng.lognormvariate(0, 0.45)
    total_input = int(model.input_tokens * size * (3 if runaway else 1))
    cached = int(total_input * model.cache_share * rng.random())
    project = "code-review" if runaway else rng.choice(model.projects)
    return {
        "id": f"demo-{at:%Y%m%d%H}-{index}",
        "timestamp": at.isoformat(),
        "provider": model.provider,
        "model": model.name,
        "input_tokens": total_input - cached,
        "cache_read_tokens": cached,
        "output_tokens": int(model.output_tokens * rng.lognormvariate(0, 0.5)),
        "latency_ms": round(300 + 0.9 * total_input / 10 + rng.expovariate(1 / 400), 1),
        "status": "error" if rng.random() < 0.01 else "ok",
        "project": project,
        "user": "ci-bot" if runaway else rng.choice(USERS),
        "tags": {"env": "prod" if rng.random() < 0.8 else "staging"},
        "prompt_name": f"{project}-main",
        "prompt_version": "v3",
    }


def batches(made: list[dict[str, Any]], size: int = 1000) -> list[list[dict[str, Any]]]:
    return [made[i : i + size] for i in range(0, len(made), size)]


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """The UTC month's and ISO week's start at `now` (the budgets' periods)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1), day - timedelta(days=day.weekday())


def budgets(
    made: list[dict[str, Any]], cost: Callable[[dict[str, Any]], Decimal], now: datetime
) -> list[dict[str, Any]]:
    """Two budgets sized to the demo's own spend (`cost` prices one event as ingest will): a monthly
    one the month so far fills to about 85% (alerts at 50 and 80%, and a forecast saying when it
    runs out) and a weekly one on the code-review project, which most weeks pass (an alert history:
    budgets alert as admitted events cross a threshold of the event's own period)."""
    month_start, week_start = period_starts(now)
    month = sum((cost(e) for e in made if datetime.fromisoformat(e["timestamp"]) >= month_start), Decimal(0))
    review = [e for e in made if e["project"] == "code-review"]
    first = datetime.fromisoformat(review[0]["timestamp"]) if review else now
    weeks = max(1.0, (week_start - first).total_seconds() / (7 * 86400))
    past = sum((cost(e) for e in review if datetime.fromisoformat(e["timestamp"]) < week_start), Decimal(0))
    monthly = max(Decimal("5"), (month / Decimal("0.85")).quantize(Decimal("1")))
    weekly = max(Decimal("1"), (past / Decimal(str(weeks)) * Decimal("0.9")).quantize(Decimal("1")))
    return [
        {
            "name": "Monthly LLM spend",
            "amount_usd": str(monthly),
            "period": "month",
            "thresholds": [50, 80, 100],
        },
        {
            "name": "Code review (weekly)",
            "scope": "project",
            "scope_value": "code-review",
            "amount_usd": str(weekly),
            "period": "week",
            "thresholds": [50, 80, 100],
        },
    ]
