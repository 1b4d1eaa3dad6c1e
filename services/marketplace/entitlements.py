"""What a Marketplace plan entitles an account to, and whether a request fits in it.

Pure functions over plain values. `plan_key` maps a GitHub Marketplace plan onto one of the
configuration's plan keys (the `plans:` section: `free`, `local`, ...); `check_limit` and
`check_feature` decide a request against that plan's entitlements. Entitlements are taken
structurally (`EntitlementsLike`), so the configuration's `PlanEntitlements` and this module's
`Entitlements` both fit without this package importing the configuration layer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from services.marketplace.models import MarketplacePlan
from services.marketplace.state_machine import PlanSnapshot

__all__ = [
    "Entitlements",
    "EntitlementsLike",
    "FeatureDecision",
    "LimitDecision",
    "LimitName",
    "UnknownPlan",
    "check_feature",
    "check_limit",
    "normalise_plan_name",
    "plan_key",
]


class UnknownPlan(LookupError):
    """A Marketplace plan has no entry in the plan mapping."""


class LimitName(StrEnum):
    MONTHLY_TOKEN_EVENTS = "monthly_token_events"
    ARTIFACT_STORAGE_BYTES = "artifact_storage_bytes"
    PROMPTS = "prompts"
    EXPERIMENTS = "experiments"
    SEATS = "seats"


class EntitlementsLike(Protocol):
    """A plan's limits and features, as the configuration's `PlanEntitlements` has them."""

    @property
    def monthly_token_events(self) -> int: ...
    @property
    def artifact_storage_bytes(self) -> int: ...
    @property
    def prompts(self) -> int: ...
    @property
    def experiments(self) -> int: ...
    @property
    def seats(self) -> int: ...
    @property
    def features(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class Entitlements:
    """A plan's entitlements, standalone (same fields as the configuration's `PlanEntitlements`)."""

    monthly_token_events: int
    artifact_storage_bytes: int
    prompts: int
    experiments: int
    seats: int
    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in LimitName:
            value = getattr(self, name.value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"entitlement {name.value} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """Whether `requested` more of `limit` fits: `current + requested <= maximum`."""

    allowed: bool
    limit: LimitName
    current: int
    requested: int
    maximum: int
    message: str

    @property
    def remaining(self) -> int:
        return max(0, self.maximum - self.current)


@dataclass(frozen=True, slots=True)
class FeatureDecision:
    allowed: bool
    feature: str
    message: str


_NAME_SEPARATORS = re.compile(r"[^0-9a-z]+")


def normalise_plan_name(name: str) -> str:
    """`"Team Plan"`, `"team_plan"` and `" TEAM-plan "` all become `"team-plan"`."""
    return _NAME_SEPARATORS.sub("-", name.casefold()).strip("-")


def plan_key(
    plan: MarketplacePlan | PlanSnapshot,
    mapping: Mapping[int | str, str],
    *,
    default: str | None = None,
) -> str:
    """The configuration plan key for a Marketplace plan.

    `mapping` keys are Marketplace plan ids (ints, or their decimal strings as YAML gives them)
    or plan names, compared after `normalise_plan_name`. An id match wins over a name match
    (names can be edited on the listing, ids cannot). Without a match, `default` is returned if
    given, else `UnknownPlan` is raised.
    """
    plan_id = plan.id if isinstance(plan, MarketplacePlan) else plan.plan_id
    if plan_id in mapping:
        return mapping[plan_id]
    if str(plan_id) in mapping:
        return mapping[str(plan_id)]
    wanted = normalise_plan_name(plan.name)
    found: dict[str, str] = {}
    for key, value in mapping.items():
        if isinstance(key, str) and not key.strip().isdigit() and normalise_plan_name(key) == wanted:
            found[key] = value
    if len(set(found.values())) > 1:
        raise ValueError(
            f"plan mapping is ambiguous for {plan.name!r}: keys {sorted(found)} normalise alike "
            "but map to different plans"
        )
    if found:
        return next(iter(found.values()))
    if default is not None:
        return default
    raise UnknownPlan(
        f"Marketplace plan {plan_id} ({plan.name!r}) has no configured plan: "
        f"map its id {plan_id} or its name {wanted!r}"
    )


def _amount(limit: LimitName, value: int) -> str:
    if limit is LimitName.ARTIFACT_STORAGE_BYTES:
        return f"{value:,} bytes"
    return f"{value:,}"


def check_limit(
    entitlements: EntitlementsLike,
    usage: Mapping[str, int],
    limit_name: LimitName | str,
    requested: int = 1,
) -> LimitDecision:
    """Whether `requested` more units of `limit_name` fit in the plan, given current `usage`.

    `usage` maps limit names to what the account uses now; it must have a figure for the limit
    being checked. `requested=0` asks whether the current usage is within the plan.
    """
    try:
        limit = LimitName(limit_name)
    except ValueError:
        valid = ", ".join(name.value for name in LimitName)
        raise ValueError(f"unknown limit {limit_name!r}; limits are: {valid}") from None
    if requested < 0:
        raise ValueError(f"requested must not be negative, got {requested}")
    if limit.value not in usage:
        raise ValueError(f"usage has no figure for {limit.value!r}")
    current = usage[limit.value]
    if current < 0:
        raise ValueError(f"usage of {limit.value!r} must not be negative, got {current}")
    maximum: int = getattr(entitlements, limit.value)
    total = current + requested
    if total <= maximum:
        message = (
            f"{limit.value}: {_amount(limit, current)} in use + {_amount(limit, requested)} requested "
            f"is within the plan's maximum of {_amount(limit, maximum)}"
        )
        return LimitDecision(True, limit, current, requested, maximum, message)
    message = (
        f"plan limit {limit.value!r} exceeded: {_amount(limit, current)} in use, "
        f"{_amount(limit, requested)} more requested, maximum {_amount(limit, maximum)}"
    )
    return LimitDecision(False, limit, current, requested, maximum, message)


def check_feature(entitlements: EntitlementsLike, feature: str) -> FeatureDecision:
    """Whether the plan includes `feature` (a name from the configuration's `features`)."""
    if feature in entitlements.features:
        return FeatureDecision(True, feature, f"feature {feature!r} is included in the plan")
    included = ", ".join(sorted(entitlements.features)) or "none"
    return FeatureDecision(
        False, feature, f"feature {feature!r} is not included in the plan (included: {included})"
    )
