"""The one subject registry: every request/reply endpoint and every durable event type, with the
pydantic models both sides use. Publishers and handlers look subjects up here, never spell them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.messages.agents import ALL_AGENTS, AgentName
from shared.messages.alerts import (
    AlertChannelInfo,
    AlertChannelList,
    AlertChannelRef,
    AlertHistoryPage,
    AlertHistoryQuery,
    ChannelTestResult,
    CreateAlertChannel,
    CreatedAlertChannel,
    ListAlertChannels,
    UpdateAlertChannel,
)
from shared.messages.budgets import (
    AdmissionRequest,
    AdmissionResult,
    BudgetInfo,
    BudgetList,
    BudgetLookup,
    BudgetPresence,
    BudgetPresenceQuery,
    BudgetRef,
    BudgetsChanged,
    BudgetTeams,
    BudgetTeamsQuery,
    CreateBudget,
    DeletedBudget,
    ListBudgets,
    UpdateBudget,
)
from shared.messages.github import WebhookReceived
from shared.messages.lifecycle import AccountDeactivated, TeamDataPurged, TeamDataPurgeRequested
from shared.messages.mesh import CanaryEvent, CanaryStatus, CanaryStatusRequest, PingRequest, PingResponse
from shared.messages.plans import TeamsWithFeature, TeamsWithFeatureQuery
from shared.messages.prices import (
    CreatePriceOverride,
    ListPriceOverrides,
    PriceOverrideInfo,
    PriceOverrideList,
    PriceOverrideRef,
    RepriceRequest,
    RepriceResult,
)
from shared.messages.telemetry import AnomalyList, AnomalyQuery, CostQuery, CostReport, TokenEventsAccepted

RPC_PREFIX = "mno.rpc"
EVENTS_PREFIX = "mno.events"
DLQ_PREFIX = "mno.dlq"
NOTICE_PREFIX = "mno.notice"

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


@dataclass(frozen=True)
class Notice(Generic[EventT]):
    """A broadcast on core NATS, not stored: every subscriber (every replica) gets it while
    connected. For state others replicate; whoever relies on one also reloads that state now and
    then, since a notice sent while it was disconnected is lost."""

    name: str
    payload: type[EventT]
    description: str

    @property
    def subject(self) -> str:
        return f"{NOTICE_PREFIX}.{self.name}"


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
_MON = AgentName.MONITORING
BUDGET_PRESENCE = Endpoint(
    _MON, "budget_presence", BudgetPresenceQuery, BudgetPresence, "Whether the team has budgets."
)
BUDGET_ADMISSION = Endpoint(
    _MON,
    "budget_admission",
    AdmissionRequest,
    AdmissionResult,
    "Count accepted events in the team's budgets; refuse those a hard limit cannot take.",
)
BUDGET_TEAMS = Endpoint(
    _MON,
    "budget_teams",
    BudgetTeamsQuery,
    BudgetTeams,
    "Every team that has budgets (the edge's replicated set; system principal only).",
)
BUDGETS_CHANGED = Notice(
    "monitoring.budgets_changed",
    BudgetsChanged,
    "A team's budgets were created or deleted; whether it has any now (the edge's set follows).",
)
BUDGET_CREATE = Endpoint(_MON, "budget_create", CreateBudget, BudgetInfo, "Create a budget.")
BUDGET_UPDATE = Endpoint(_MON, "budget_update", UpdateBudget, BudgetInfo, "Change a budget.")
BUDGET_DELETE = Endpoint(_MON, "budget_delete", BudgetRef, DeletedBudget, "Delete a budget.")
BUDGET_GET = Endpoint(_MON, "budget_get", BudgetLookup, BudgetInfo, "A budget, its spend and its forecast.")
ANOMALIES_LIST = Endpoint(
    _MON, "anomalies_list", AnomalyQuery, AnomalyList, "Anomalies of the team's hourly spend and token rate."
)
BUDGET_LIST = Endpoint(_MON, "budget_list", ListBudgets, BudgetList, "The team's budgets and their spend.")
TEAMS_WITH_FEATURE = Endpoint(
    AgentName.SUPER_AGENT,
    "teams_with_feature",
    TeamsWithFeatureQuery,
    TeamsWithFeature,
    "Which of these teams' plans include a feature (for other agents' scheduled work; system only).",
)
ALERT_CHANNEL_CREATE = Endpoint(
    AgentName.MONITORING,
    "alert_channel_create",
    CreateAlertChannel,
    CreatedAlertChannel,
    "Create an alert channel (its URL checked by the egress guard); a generated secret is shown once.",
)
ALERT_CHANNEL_LIST = Endpoint(
    AgentName.MONITORING, "alert_channel_list", ListAlertChannels, AlertChannelList, "The team's channels."
)
ALERT_CHANNEL_UPDATE = Endpoint(
    AgentName.MONITORING,
    "alert_channel_update",
    UpdateAlertChannel,
    AlertChannelInfo,
    "Enable or disable an alert channel.",
)
ALERT_CHANNEL_DELETE = Endpoint(
    AgentName.MONITORING,
    "alert_channel_delete",
    AlertChannelRef,
    AlertChannelInfo,
    "Delete an alert channel; its delivery history stays.",
)
ALERT_CHANNEL_TEST = Endpoint(
    AgentName.MONITORING,
    "alert_channel_test",
    AlertChannelRef,
    ChannelTestResult,
    "Send a test message to an alert channel (one attempt).",
)
ALERT_HISTORY = Endpoint(
    AgentName.MONITORING,
    "alert_history",
    AlertHistoryQuery,
    AlertHistoryPage,
    "The team's alerts with their delivery attempts, newest first.",
)
PRICE_OVERRIDES_LIST = Endpoint(
    AgentName.MONITORING,
    "price_overrides_list",
    ListPriceOverrides,
    PriceOverrideList,
    "The team's price overrides.",
)
PRICE_OVERRIDE_CREATE = Endpoint(
    AgentName.MONITORING,
    "price_override_create",
    CreatePriceOverride,
    PriceOverrideInfo,
    "Add a team price override (new events are priced with it at once).",
)
PRICE_OVERRIDE_DELETE = Endpoint(
    AgentName.MONITORING,
    "price_override_delete",
    PriceOverrideRef,
    PriceOverrideInfo,
    "Delete a team price override (kept for history).",
)
COSTS_REPRICE = Endpoint(
    AgentName.MONITORING,
    "costs_reprice",
    RepriceRequest,
    RepriceResult,
    "Price a team's stored events in a range again with its current prices; recorded as a run.",
)

ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    *PING.values(),
    *CANARY_STATUS.values(),
    COSTS_QUERY,
    PRICE_OVERRIDES_LIST,
    PRICE_OVERRIDE_CREATE,
    PRICE_OVERRIDE_DELETE,
    COSTS_REPRICE,
    ALERT_CHANNEL_CREATE,
    ALERT_CHANNEL_LIST,
    ALERT_CHANNEL_UPDATE,
    ALERT_CHANNEL_DELETE,
    ALERT_CHANNEL_TEST,
    ALERT_HISTORY,
    BUDGET_PRESENCE,
    BUDGET_TEAMS,
    BUDGET_ADMISSION,
    BUDGET_CREATE,
    BUDGET_UPDATE,
    BUDGET_DELETE,
    BUDGET_GET,
    BUDGET_LIST,
    ANOMALIES_LIST,
)
EVENT_TYPES: tuple[EventType[Any], ...] = (
    CANARY,
    GITHUB_WEBHOOK_RECEIVED,
    ACCOUNT_DEACTIVATED,
    TEAM_DATA_PURGE_REQUESTED,
    TEAM_DATA_PURGED,
    TOKEN_EVENTS_ACCEPTED,
)
