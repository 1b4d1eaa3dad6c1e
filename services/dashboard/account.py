"""The Account page: the plan of the team's account, its limits and what is used of them, and its
GitHub link (the App's installations with their repositories, the webhook deliveries about it).

Pure: `GET /api/v1/usage`, `GET /api/v1/github/installations`, `.../{id}/repositories` and
`GET /api/v1/github/deliveries` in, rows out. Reprocessing a failed delivery stays the operator's
(`/api/v1/operator/*`): the page says so beside a failed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.dashboard.answers import Unavailable
from shared.messages.github_links import LedgerPage, LinkedInstallation, RepositoryPage
from shared.messages.identity import PlanUsage

DELIVERIES_SHOWN = 25
REPOSITORIES_SHOWN = 50

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


@dataclass(frozen=True)
class RepositoryRow:
    full_name: str
    private: bool


@dataclass(frozen=True)
class InstallationRow:
    github_id: int
    account_login: str
    status: str
    selection: str  # "all repositories" / "selected repositories"
    since: datetime
    repositories: list[RepositoryRow] | Unavailable
    more: int  # repositories it grants beyond those shown


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    event: str  # "installation.created": GitHub's event and action, as its own delivery log writes them
    status: str
    outcome: str
    attempt: int
    received_at: datetime


def wants_repositories(installation: LinkedInstallation) -> bool:
    """A deleted installation grants nothing (its repositories were dropped with it)."""
    return installation.status != "deleted" and installation.repositories > 0


def installation_rows(
    installations: list[LinkedInstallation], repositories: dict[int, RepositoryPage | Unavailable]
) -> list[InstallationRow]:
    rows = []
    for i in installations:
        found = repositories.get(i.github_id)
        repos: list[RepositoryRow] | Unavailable = (
            found
            if isinstance(found, Unavailable)
            else [RepositoryRow(r.full_name, r.private) for r in (found.repositories if found else [])]
        )
        shown = 0 if isinstance(repos, Unavailable) else len(repos)
        selection = f"{i.repository_selection} repositories" if i.repository_selection else "repositories"
        rows.append(
            InstallationRow(
                i.github_id,
                i.account_login,
                i.status,
                selection,
                i.created_at,
                repos,
                max(i.repositories - shown, 0),
            )
        )
    return rows


def delivery_rows(page: LedgerPage) -> list[DeliveryRow]:
    return [
        DeliveryRow(
            d.id,
            f"{d.event}.{d.action}" if d.action else d.event,
            d.status,
            d.outcome or ("waiting to be applied" if d.status == "received" else ""),
            d.attempt,
            d.received_at,
        )
        for d in page.deliveries
    ]
