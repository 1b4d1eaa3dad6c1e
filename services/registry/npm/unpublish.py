"""When `npm unpublish` is allowed: npmjs's policy (docs.npmjs.com/policies/unpublish) as a pure
function, its thresholds parameters of `UnpublishPolicy`.

- Within `window` (72 h) of publishing a version: allowed, unless other packages depend on it.
- Later: allowed only with no dependents, fewer than `max_weekly_downloads` (300) downloads in the
  last week and a single maintainer (`max_maintainers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.registry.ecosystems.interface import RegistryError


class UnpublishRefused(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("unpublish_refused", message)


@dataclass(frozen=True, slots=True)
class UnpublishPolicy:
    window: timedelta = timedelta(hours=72)
    max_weekly_downloads: int = 300
    max_maintainers: int = 1
    # npmjs refuses a package others depend on at any age: breaking their installs (left-pad).
    allow_with_dependents: bool = False


@dataclass(frozen=True, slots=True)
class UnpublishFacts:
    published_at: datetime  # for a whole package: its most recent publish
    dependents: int  # packages in the registry whose latest versions depend on it
    weekly_downloads: int
    maintainers: int = 1


def check_unpublish(facts: UnpublishFacts, now: datetime, policy: UnpublishPolicy | None = None) -> None:
    """Raises `UnpublishRefused` naming the rule that refuses; returns when unpublishing is allowed."""
    policy = policy or UnpublishPolicy()
    if facts.dependents and not policy.allow_with_dependents:
        raise UnpublishRefused(f"{facts.dependents} package(s) in this registry depend on it")
    if now - facts.published_at <= policy.window:
        return
    hours = int(policy.window.total_seconds() // 3600)
    if facts.weekly_downloads >= policy.max_weekly_downloads:
        raise UnpublishRefused(
            f"published more than {hours} h ago and downloaded {facts.weekly_downloads} times last week "
            f"(the limit is {policy.max_weekly_downloads})"
        )
    if facts.maintainers > policy.max_maintainers:
        raise UnpublishRefused(f"published more than {hours} h ago and has {facts.maintainers} maintainers")
