"""When `npm unpublish` is allowed: npmjs's policy (docs.npmjs.com/policies/unpublish) as a pure
function, its thresholds parameters of `UnpublishPolicy`.

- Within `window` (72 h) of publishing a version: allowed, unless other packages depend on it.
- Later: allowed only with no dependents, fewer than `max_weekly_downloads` (300) downloads in the
  last week and a single maintainer (`max_maintainers`).

Each refusal names its rule (`UnpublishRefused.rule`): the REST API's delete applies this policy to
npm versions, and an owner's or admin's override there (`force`) is audited with the rule it overrode.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.registry.ecosystems.interface import RegistryError

# The rules a refusal names.
HAS_DEPENDENTS = "has_dependents"
DOWNLOADED_AFTER_WINDOW = "downloaded_after_window"
MAINTAINERS_AFTER_WINDOW = "maintainers_after_window"


class UnpublishRefused(RegistryError):
    def __init__(self, message: str, rule: str) -> None:
        super().__init__("unpublish_refused", message)
        self.rule = rule


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


def unpublish_refusal(
    facts: UnpublishFacts, now: datetime, policy: UnpublishPolicy | None = None
) -> UnpublishRefused | None:
    """The refusal naming the first rule that refuses; None when unpublishing is allowed."""
    policy = policy or UnpublishPolicy()
    if facts.dependents and not policy.allow_with_dependents:
        return UnpublishRefused(
            f"{facts.dependents} package(s) in this registry depend on it", HAS_DEPENDENTS
        )
    if now - facts.published_at <= policy.window:
        return None
    hours = int(policy.window.total_seconds() // 3600)
    if facts.weekly_downloads >= policy.max_weekly_downloads:
        return UnpublishRefused(
            f"published more than {hours} h ago and downloaded {facts.weekly_downloads} times last week "
            f"(the limit is {policy.max_weekly_downloads})",
            DOWNLOADED_AFTER_WINDOW,
        )
    if facts.maintainers > policy.max_maintainers:
        return UnpublishRefused(
            f"published more than {hours} h ago and has {facts.maintainers} maintainers",
            MAINTAINERS_AFTER_WINDOW,
        )
    return None


def check_unpublish(facts: UnpublishFacts, now: datetime, policy: UnpublishPolicy | None = None) -> None:
    """Raises `UnpublishRefused` naming the rule that refuses; returns when unpublishing is allowed."""
    refused = unpublish_refusal(facts, now, policy)
    if refused is not None:
        raise refused
