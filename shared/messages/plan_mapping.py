"""The configuration's Marketplace plan mapping as the operator sees it (`/api/v1/operator/...`):
paid Marketplace plans seen on subscriptions that `accounts.marketplace_plans` does not map, whose
accounts therefore get the default plan."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class UnmappedPlansQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UnmappedPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan_id: int
    name: str
    price_model: str


class UnmappedPlans(BaseModel):
    """Every unmapped paid plan seen, by plan id, and the plan their accounts get instead."""

    model_config = ConfigDict(frozen=True)

    default_plan: str
    plans: list[UnmappedPlan]
