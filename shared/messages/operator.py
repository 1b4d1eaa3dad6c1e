"""What the platform operator reads across every account (`/api/v1/operator/...`, `platform:*`):
the webhook delivery ledger, Marketplace subscriptions with their history, GitHub installations.

Pages are newest first (highest id first); `before` is the previous page's `next_before`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.messages.fields import Text

DeliveryStatus = Literal["received", "processed", "ignored", "failed"]
Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PageSize = Annotated[int, Field(ge=1, le=500)]
Before = Annotated[int | None, Field(ge=1, description="next_before of the previous page")]


class _Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: PageSize = 50
    before: Before = None


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class DeliveryQuery(_Query):
    """Filters over the webhook delivery ledger."""

    event: Name | None = None
    action: Name | None = None
    status: DeliveryStatus | None = None
    endpoint: Literal["app", "marketplace"] | None = None


class DeliverySummary(_Out):
    id: int
    endpoint: Literal["app", "marketplace"]
    hook_id: str
    guid: str
    event: str
    action: str | None
    status: DeliveryStatus
    attempt: int = Field(description="Processing attempts (GitHub's redeliveries and reprocessing).")
    redeliveries: int = Field(description="Times the same GUID arrived again.")
    replays: int = Field(description="Times this signed body arrived again under another GUID (not applied).")
    last_replay_guid: str | None
    last_replay_at: datetime | None
    outcome: str | None
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


class DeliveryPage(_Out):
    deliveries: list[DeliverySummary]
    next_before: int | None = None  # None on the last page


class DeliveryRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: int = Field(ge=1, le=2**63 - 1)


class DeliveryDetail(DeliverySummary):
    target_type: str | None
    target_id: str | None
    payload: dict[str, Any]


class Reprocessed(_Out):
    delivery_id: int
    guid: str
    status: Literal["requeued"]
    attempt: int


class SubscriptionQuery(_Query):
    status: Name | None = None
    plan_key: Name | None = None


class SubscriptionSummary(_Out):
    account_github_id: int
    account_id: str | None = Field(description="None for a cancellation of an account never seen.")
    account_login: str | None
    account_status: str | None
    status: str
    plan_key: str
    next_due_at: datetime | None
    updated_at: datetime


class SubscriptionPage(_Out):
    subscriptions: list[SubscriptionSummary]
    next_before: int | None = None


class SubscriptionRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_github_id: int = Field(ge=1, le=2**63 - 1)


class SubscriptionChange(_Out):
    id: int
    action: str
    delivery_id: str | None
    from_status: str | None
    to_status: str | None
    applied: bool
    reason: str
    effects: Any
    recorded_at: datetime


class SubscriptionDetail(SubscriptionSummary):
    state: dict[str, Any]
    history: list[SubscriptionChange] = Field(description="Newest first, at most 500.")


class InstallationQuery(_Query):
    status: Literal["active", "suspended", "deleted"] | None = None


class InstallationSummary(_Out):
    github_id: int
    account_id: str
    account_login: str
    target_type: str
    repository_selection: str | None
    status: Literal["active", "suspended", "deleted"]
    repositories: int
    suspended_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class InstallationPage(_Out):
    installations: list[InstallationSummary]
    next_before: int | None = None
