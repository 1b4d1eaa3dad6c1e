"""The Account page: the plan of the team's account, its limits and what is used of them.

Pure: `GET /api/v1/usage` in, rows out. The GitHub side (installations, repositories, the webhook
delivery ledger) has no route a team's credential may call: only the operator's routes
(`/api/v1/operator/*`, platform permissions no team role holds) read it, so the page says where
those live instead of showing them.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.messages.identity import PlanUsage

# Limits this large are "no limit" in practice (the local plan's, for one): shown as unlimited.
UNLIMITED = 10**12

LIMIT_WORDS = {
    "monthly_token_events": "Token events this month",
    "artifact_storage_bytes": "Artifact storage (bytes)",
    "prompts": "Prompts",
    "experiments": "Experiments",
    "seats": "Seats (people in the account's teams)",
}
FEATURE_WORDS = {
    "github": "GitHub App (installations, repositories)",
    "artifacts": "Artifacts",
    "supply_chain": "Supply chain",
    "prompts": "Prompts",
    "dashboard": "Dashboard",
    "anomaly_detection": "Anomaly detection",
    "forecasts": "Budget forecasts",
}


@dataclass(frozen=True)
class LimitRow:
    key: str
    label: str
    used: int | None  # None: not metered yet
    limit: int | None  # None: unlimited
    percent: float | None

    @property
    def state(self) -> str:
        if self.percent is None:
            return "ok"
        return "exhausted" if self.percent >= 100 else "warning" if self.percent >= 80 else "ok"


@dataclass(frozen=True)
class AccountView:
    plan: str
    limits: list[LimitRow]
    features: list[tuple[str, bool]]  # (label, included) for every feature we know of


def build(usage: PlanUsage) -> AccountView:
    rows = []
    for key, limit in sorted(
        usage.limits.items(),
        key=lambda kv: list(LIMIT_WORDS).index(kv[0]) if kv[0] in LIMIT_WORDS else len(LIMIT_WORDS),
    ):
        used = usage.usage.get(key)
        bounded = limit if limit < UNLIMITED else None
        percent = 100.0 * used / bounded if used is not None and bounded else None
        rows.append(LimitRow(key, LIMIT_WORDS.get(key, key.replace("_", " ")), used, bounded, percent))
    included = set(usage.features)
    known = list(FEATURE_WORDS) + sorted(included - set(FEATURE_WORDS))
    return AccountView(
        usage.plan, rows, [(FEATURE_WORDS.get(key, key.replace("_", " ")), key in included) for key in known]
    )
