"""The one subject registry: every request/reply endpoint and every durable event type, with the
pydantic models both sides use. Publishers and handlers look subjects up here, never spell them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.github import WebhookReceived
from shared.messages.lifecycle import AccountDeactivated, TeamDataPurged, TeamDataPurgeRequested
from shared.messages.mesh import CanaryEvent, CanaryStatus, CanaryStatusRequest, PingRequest, PingResponse
from shared.messages.telemetry import CostQuery, CostReport, TokenEventsAccepted

RPC_PREFIX = "mno.rpc"
EVENTS_PREFIX = "mno.events"
DLQ_PREFIX = "mno.dlq"

RequestT = TypeVar("RequestT", bound=BaseModel)
ResponseT = TypeVar("ResponseT", bound=BaseModel)
EventT = TypeVar("EventT", bound=BaseModel)


def message_type(model: type[BaseModel]) -> str:
    """The envelope `type` of a payload model, e.g. `mesh.PingRequest`."""
    return f"{model.__module__.removeprefix('shared.messages.')}.{model.__name__}"


@dataclass(frozen=True)
class Endpoint(Generic[RequestT, ResponseT]):
    """A request/reply endpoint an agent serves (in a queue group, so replicas share the load)."""

    agent: AgentName
    name: str
    request: type[RequestT]
    response: type[ResponseT]
    description: str

    @property
    def subject(self) -> str:
        return f"{RPC_PREFIX}.{self.agent.value}.{self.name}"


@dataclass(frozen=True)
class EventType(Generic[EventT]):
    """A durable event carried by JetStream; every consumer gets its own durable pull consumer."""

    name: str
    payload: type[EventT]
    description: str

    @property
    def subject(self) -> str:
        return f"{EVENTS_PREFIX}.{self.name}"

    @property
    def dlq_subject(self) -> str:
        return f"{DLQ_PREFIX}.{self.name}"


def _ping(agent: AgentName) -> Endpoint[PingRequest, PingResponse]:
    return Endpoint(agent, "ping", PingRequest, PingResponse, "Answers with the instance that served it.")


def _canary_status(agent: AgentName) -> Endpoint[CanaryStatusRequest, CanaryStatus]:
    return Endpoint(
        agent, "canary_status", CanaryStatusRequest, CanaryStatus, "Whether this agent processed a canary."
    )


PING: dict[AgentName, Endpoint[PingRequest, PingResponse]] = {a: _ping(a) for a in ALL_AGENTS}
CANARY_STATUS: dict[AgentName, Endpoint[CanaryStatusRequest, CanaryStatus]] = {
    a: _canary_status(a) for a in ALL_AGENTS
}

CANARY = EventType("mesh.canary", CanaryEvent, "A probe of the durable event path, consumed by every agent.")

GITHUB_WEBHOOK_RECEIVED = EventType(
    "github.webhook_received",
    WebhookReceived,
    "A verified GitHub webhook delivery, stored and ready to apply.",
)

ACCOUNT_DEACTIVATED = EventType(
    "identity.account_deactivated", AccountDeactivated, "An account is no longer served; purge follows later."
)
TEAM_DATA_PURGE_REQUESTED = EventType(
    "identity.team_data_purge_requested", TeamDataPurgeRequested, "Every agent deletes the teams' data."
)
TEAM_DATA_PURGED = EventType(
    "mesh.team_data_purged", TeamDataPurged, "An agent's confirmation that it purged the teams' data."
)

TOKEN_EVENTS_ACCEPTED = EventType(
    "monitoring.token_events_accepted",
    TokenEventsAccepted,
    "A team's token events accepted at the edge: the MonitoringAgent prices and stores them.",
)
COSTS_QUERY = Endpoint(
    AgentName.MONITORING, "costs_query", CostQuery, CostReport, "A team's spend: totals and time series."
)

ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    *PING.values(),
    *CANARY_STATUS.values(),
    COSTS_QUERY,
)
EVENT_TYPES: tuple[EventType[Any], ...] = (
    CANARY,
    GITHUB_WEBHOOK_RECEIVED,
    ACCOUNT_DEACTIVATED,
    TEAM_DATA_PURGE_REQUESTED,
    TEAM_DATA_PURGED,
    TOKEN_EVENTS_ACCEPTED,
)
