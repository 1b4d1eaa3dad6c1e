"""What a Marketplace plan entitles an account to, and whether a request fits in it.

Pure functions over plain values. `plan_key` maps a GitHub Marketplace plan onto one of the
configuration's plan keys (the `plans:` section: `free`, `local`, ...); `check_limit` and
`check_feature` decide a request against that plan's entitlements; `seat_limit` is what a
per-unit purchase says about seats, and `unmapped_plans` names the paid plans `plan_key` would
send to the default plan. Entitlements are taken
structurally (`EntitlementsLike`), so the configuration's `PlanEntitlements` and this module's
`Entitlements` both fit without this package importing the configuration layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from services.marketplace.models import MarketplacePlan, PriceModel
from services.marketplace.state_machine import PlanSnapshot

__all__ = [
    "Entitlements",
    "EntitlementsLike",
    "FeatureDecision",
    "LimitDecision",
    "LimitName",
    "UnknownPlan",
    "UnmappedPlan",
    "check_feature",
    "check_limit",
    "normalise_plan_name",
    "plan_key",
    "seat_limit",
    "unmapped_plans",
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


# What GitHub's `unit_name` is called when a per-unit plan sells seats (the listing's own word).
SEAT_UNITS = frozenset({"seat", "seats", "user", "users", "member", "members", "developer", "developers"})


def seat_limit(plan: PlanSnapshot) -> int | None:
    """The seats a purchase bought, when it is a per-unit plan sold by the seat: its `unit_count`.

    None when the plan's seats are the configured plan's (flat-rate and free plans, or a per-unit
    plan counting something else, named by its `unit_name`)."""
    if plan.price_model is not PriceModel.PER_UNIT or plan.unit_count is None:
        return None
    if plan.unit_name is not None and normalise_plan_name(plan.unit_name) not in SEAT_UNITS:
        return None
    return plan.unit_count


@dataclass(frozen=True, slots=True)
class UnmappedPlan:
    """A paid Marketplace plan that no entry of the mapping names: its buyers get the default plan."""

    plan_id: int
    name: str
    price_model: PriceModel


def unmapped_plans(plans: Iterable[PlanSnapshot], mapping: Mapping[int | str, str]) -> list[UnmappedPlan]:
    """The paid plans among `plans` that `mapping` names neither by id nor by name, once each, by id.

    A free Marketplace plan landing on the default plan is what the default plan is for; a paid one
    means the configuration is missing an entry, and its buyers get less than they pay for."""
    found: dict[int, UnmappedPlan] = {}
    for plan in plans:
        if plan.price_model is PriceModel.FREE or plan.plan_id in found:
            continue
        try:
            plan_key(plan, mapping)
        except UnknownPlan:
            found[plan.plan_id] = UnmappedPlan(plan.plan_id, plan.name, plan.price_model)
    return [found[plan_id] for plan_id in sorted(found)]


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
