"""Messages of the mesh itself: liveness pings and canary events that probe the durable event path."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.agents import AgentName
from shared.messages.fields import Text


class PingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    echo: Text = Field(
        default="", max_length=4096, description="Returned unchanged, to check the payload path."
    )


class PingResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    agent: AgentName
    instance_id: str
    version: str
    pid: int
    received_at: datetime
    echo: str


class CanaryEvent(BaseModel):
    """A durable probe every agent consumes: proves JetStream delivery, redelivery and idempotency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    work_ms: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Time each consumer spends on it before committing, to probe slow-consumer behaviour.",
    )
    note: Text = Field(default="", max_length=256)


class CanaryStatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    canary_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class CanaryStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    agent: AgentName
    canary_id: str
    processed: bool
    deliveries: int | None = None
    instance_id: str | None = None
    received_at: datetime | None = None


# -- the edge's view of the mesh (HTTP API models) -----------------------------------------------


class EndpointDescription(BaseModel):
    name: str
    subject: str
    queue_group: str | None = None


class InstanceDescription(BaseModel):
    instance_id: str
    service_id: str
    version: str
    metadata: dict[str, str] = Field(default_factory=dict)
    endpoints: list[EndpointDescription] = Field(default_factory=list)


class AgentDescription(BaseModel):
    agent: AgentName
    service_name: str
    instances: list[InstanceDescription]

    @property
    def up(self) -> bool:
        return bool(self.instances)


class MeshDescription(BaseModel):
    agents: list[AgentDescription]
    missing: list[AgentName] = Field(description="Agents of the mesh with no instance answering.")
    discovered_in_ms: float


class MeshPingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: list[AgentName] | None = Field(default=None, description="Which agents; all when omitted.")
    echo: Text = Field(default="", max_length=4096)


class PingResult(BaseModel):
    agent: AgentName
    ok: bool
    round_trip_ms: float
    instance_id: str | None = None
    error: str | None = None


class MeshPingResponse(BaseModel):
    results: list[PingResult]


class CanaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canary_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    work_ms: int = Field(default=0, ge=0, le=10_000)
    # Refused here, before publishing: every agent stores the note, and PostgreSQL takes no NUL.
    note: Text = Field(default="", max_length=256)


class CanaryAccepted(BaseModel):
    canary_id: str
    message_id: str
    stream: str
    stream_sequence: int
    duplicate: bool


class CanaryLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canary_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class CanaryReport(BaseModel):
    canary_id: str
    statuses: list[CanaryStatus]
    unreachable: list[AgentName]

    @property
    def processed_by_all(self) -> bool:
        return not self.unreachable and all(s.processed for s in self.statuses)
