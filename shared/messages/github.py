"""Messages about what GitHub tells us: accepted webhook deliveries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookReceived(BaseModel):
    """A delivery was verified and stored; its payload stays in PostgreSQL (claim check)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delivery_id: int = Field(description="Row id in super_agent.webhook_deliveries.")
    endpoint: Literal["app", "marketplace"]
    hook_id: str
    guid: str
    event: str
    action: str | None = None
    attempt: int = Field(ge=1)


class WebhookAccepted(BaseModel):
    """What the webhook endpoints answer GitHub (202)."""

    delivery_id: int = Field(description="The stored delivery (for a replay: the original one).")
    guid: str
    # duplicate: this GUID was applied already; replay: this signed body was recorded under
    # another GUID (delivery_id), so it is counted there and not applied again.
    status: Literal["queued", "duplicate", "requeued", "replay"]
