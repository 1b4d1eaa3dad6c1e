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
from shared.messages.artifacts import (
    ArtifactPublished,
    DeletedArtifacts,
    DeletePackageRequest,
    DeleteVersionRequest,
    DownloadsCounted,
    FileLocation,
    FileRequest,
    NpmDeprecated,
    NpmDeprecateRequest,
    NpmDistTagRequest,
    NpmDistTags,
    NpmDocument,
    NpmPackageRequest,
    NpmPackumentRequest,
    NpmPublishRequest,
    NpmTarballRequest,
    NpmUnpublishRequest,
    PackageRef,
    PackageVersions,
    PublishArtifact,
    PublishedArtifact,
    PythonPage,
    PythonPageRequest,
    RegistryChanged,
    SearchQuery,
    SearchResults,
    StoredVersions,
    StoredVersionsQuery,
    UpstreamVersion,
    VersionInfo,
    VersionRef,
    YankRequest,
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
from shared.messages.experiments import (
    CreateExperimentRequest,
    ExperimentInfo,
    ExperimentList,
    ExperimentRef,
    ExperimentResults,
    ExperimentUsage,
    ExperimentUsageQuery,
    ExposureBatchLogged,
    ExposureLogged,
    ListExperiments,
    PostExposure,
    PostExposureBatch,
    PostScore,
    ScoreRecorded,
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
from shared.messages.prompt_evaluations import (
    EvaluationList,
    EvaluationRef,
    EvaluationRunInfo,
    ListEvaluations,
    PriceQuote,
    PriceQuoteRequest,
    PutTestSet,
    StartEvaluation,
    TestSetInfo,
    TestSetRef,
)
from shared.messages.prompts import (
    ApproveVersion,
    ConfigSchemaInfo,
    ConfigSchemaQuery,
    DiffQuery,
    ImpactQuery,
    ImportPromptFile,
    LabelImpact,
    LabelMoved,
    LabelPolicyInfo,
    ListPrompts,
    MoveLabel,
    PolicyQuery,
    PromptDiffInfo,
    PromptList,
    PromptLookup,
    PromptRef,
    PromptsChanged,
    PromptVersionInfo,
    RenderedPromptInfo,
    RenderPrompt,
    SavedPrompt,
    SavePromptRequest,
    VersionApproved,
    VersionList,
)
from shared.messages.supply_chain import (
    AdvisoryImportInfo,
    AdvisoryImportRequest,
    AdvisoryStatus,
    AdvisoryStatusQuery,
    AttestationInfo,
    AttestationList,
    AttestationRef,
    DocumentLocation,
    FindingDetail,
    FindingList,
    FindingRef,
    FindingsChanged,
    FindingSummary,
    FindingSummaryQuery,
    ListAttestations,
    ListFindings,
    ListSboms,
    PublicKeys,
    PublicKeysQuery,
    SbomDocumentRequest,
    SbomInfo,
    SbomList,
    SbomRef,
    ScanDocument,
    ScanResult,
    TriageInfo,
    TriageRequest,
    TriageWithdrawal,
    TriageWithdrawRequest,
    Verification,
    VerifyEnvelope,
    VexRequest,
)
from shared.messages.supply_chain_policy import (
    BlockedList,
    BlockedQuery,
    DownloadOverrideChanged,
    DownloadPolicy,
    DownloadPolicyChanged,
    DownloadPolicyQuery,
    DownloadPolicySet,
    OverrideCreate,
    OverrideInfo,
    OverrideList,
    OverrideQuery,
    OverrideRef,
    UpstreamVerdict,
    VersionBlockChanged,
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
EXPERIMENT_USAGE = Endpoint(
    _MON,
    "experiment_usage",
    ExperimentUsageQuery,
    ExperimentUsage,
    "Per-variant sums of per-unit token-event totals of an experiment (asked by the LearningAgent).",
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

_ART = AgentName.ARTIFACT_MANAGER
ARTIFACT_PUBLISH = Endpoint(
    _ART,
    "artifact_publish",
    PublishArtifact,
    PublishedArtifact,
    "Publish a file the edge stored in the blob store: inspected, checked against its metadata, recorded.",
)
ARTIFACT_PYTHON_PAGE = Endpoint(
    _ART,
    "artifact_python_project",
    PythonPageRequest,
    PythonPage,
    "A PEP 503/691 simple page of the team's Python index, rendered (HTML or JSON).",
)
ARTIFACT_FILE = Endpoint(
    _ART,
    "artifact_file",
    FileRequest,
    FileLocation,
    "Resolve a file name to its blob (counting the download) for the edge to stream.",
)
ARTIFACT_YANK = Endpoint(
    _ART, "artifact_yank", YankRequest, VersionInfo, "Yank a version: installers skip it unless pinned."
)
ARTIFACT_UNYANK = Endpoint(_ART, "artifact_unyank", VersionRef, VersionInfo, "Undo a version's yank.")
ARTIFACT_DELETE = Endpoint(
    _ART,
    "artifact_delete",
    DeleteVersionRequest,
    DeletedArtifacts,
    "Delete a version, its files and their blobs (force: override the delete policy).",
)
ARTIFACT_DELETE_PACKAGE = Endpoint(
    _ART,
    "artifact_delete_package",
    DeletePackageRequest,
    DeletedArtifacts,
    "Delete a package with every version (force: override the delete policy).",
)
ARTIFACT_VERSIONS = Endpoint(
    _ART, "artifact_versions", PackageRef, PackageVersions, "A package and its versions, newest first."
)
ARTIFACT_VERSION = Endpoint(
    _ART, "artifact_version", VersionRef, VersionInfo, "One version with its metadata and files."
)
ARTIFACT_SEARCH = Endpoint(
    _ART, "artifact_search", SearchQuery, SearchResults, "Full-text package search with filters."
)
ARTIFACT_NPM_PUBLISH = Endpoint(
    _ART,
    "artifact_npm_publish",
    NpmPublishRequest,
    PublishedArtifact,
    "npm publish: the document checked against the tarball the edge stored, then recorded.",
)
ARTIFACT_NPM_PACKUMENT = Endpoint(
    _ART,
    "artifact_npm_packument",
    NpmPackumentRequest,
    NpmDocument,
    "A package's packument (full, or abbreviated for installs), rendered.",
)
ARTIFACT_NPM_TARBALL = Endpoint(
    _ART,
    "artifact_npm_tarball",
    NpmTarballRequest,
    FileLocation,
    "Resolve an npm tarball to its blob (counting the download) for the edge to stream.",
)
ARTIFACT_NPM_DIST_TAGS = Endpoint(
    _ART, "artifact_npm_dist_tags", NpmPackageRequest, NpmDistTags, "A package's dist-tags."
)
ARTIFACT_NPM_DIST_TAG_SET = Endpoint(
    _ART, "artifact_npm_dist_tag_set", NpmDistTagRequest, NpmDistTags, "Point a dist-tag at a version."
)
ARTIFACT_NPM_DIST_TAG_REMOVE = Endpoint(
    _ART, "artifact_npm_dist_tag_remove", NpmDistTagRequest, NpmDistTags, "Remove a dist-tag."
)
ARTIFACT_NPM_DEPRECATE = Endpoint(
    _ART,
    "artifact_npm_deprecate",
    NpmDeprecateRequest,
    NpmDeprecated,
    "npm deprecate: set or clear versions' deprecation messages.",
)
ARTIFACT_NPM_UNPUBLISH = Endpoint(
    _ART,
    "artifact_npm_unpublish",
    NpmUnpublishRequest,
    DeletedArtifacts,
    "npm unpublish within the policy: versions or the whole package, their files and blobs.",
)
ARTIFACT_STORED_VERSIONS = Endpoint(
    _ART,
    "artifact_stored_versions",
    StoredVersionsQuery,
    StoredVersions,
    "Every team's stored versions with their dependencies, paged (agents only: the SBOM backfill).",
)
ARTIFACT_PUBLISHED = EventType(
    "artifacts.artifact_published",
    ArtifactPublished,
    "A package file was published (Nats-Msg-Id: team, ecosystem, name, version, file name).",
)
REGISTRY_CHANGED = Notice(
    "artifacts.registry_changed",
    RegistryChanged,
    "What a team's registry reads answer changed (edges drop the team's cached registry reads).",
)
DOWNLOADS_COUNTED = EventType(
    "artifacts.downloads_counted",
    DownloadsCounted,
    "Downloads an edge answered from its cache, summed per team and file (the registry adds them).",
)
UPSTREAM_VERSION_FETCHED = EventType(
    "artifacts.upstream_version_fetched",
    UpstreamVersion,
    "A team's index took a file of an upstream version (Nats-Msg-Id: team, ecosystem, upstream, name, "
    "file name): the SupplyChainAgent matches the version against the advisories.",
)

_SC = AgentName.SUPPLY_CHAIN
SC_SCAN = Endpoint(
    _SC,
    "scan",
    ScanDocument,
    ScanResult,
    "Scan an SBOM or lockfile the edge stored in the blob store; store and sign it unless asked not to.",
)
SC_SBOMS = Endpoint(_SC, "sboms_list", ListSboms, SbomList, "The team's SBOMs, newest first.")
SC_SBOM = Endpoint(_SC, "sbom_get", SbomRef, SbomInfo, "One SBOM with its open findings by severity.")
SC_SBOM_DOCUMENT = Endpoint(
    _SC, "sbom_document", SbomDocumentRequest, DocumentLocation, "An SBOM as CycloneDX 1.6 or SPDX 2.3 JSON."
)
SC_VEX = Endpoint(
    _SC,
    "vex_export",
    VexRequest,
    DocumentLocation,
    "The triage of an SBOM's findings as OpenVEX or CycloneDX VEX.",
)
SC_FINDINGS = Endpoint(_SC, "findings_list", ListFindings, FindingList, "The team's findings, worst first.")
SC_FINDING_SUMMARY = Endpoint(
    _SC,
    "findings_summary",
    FindingSummaryQuery,
    FindingSummary,
    "The team's open findings counted by severity and triage, with the packages and versions they touch.",
)
SC_FINDING = Endpoint(_SC, "finding_get", FindingRef, FindingDetail, "One finding with its triage history.")
SC_TRIAGE = Endpoint(_SC, "triage", TriageRequest, TriageInfo, "Record a VEX decision about a finding.")
SC_TRIAGE_WITHDRAW = Endpoint(
    _SC,
    "triage_withdraw",
    TriageWithdrawRequest,
    TriageWithdrawal,
    "Withdraw a product's own decision about a finding (the team-wide one applies to it again).",
)
SC_ADVISORY_IMPORT = Endpoint(
    _SC,
    "advisory_import",
    AdvisoryImportRequest,
    AdvisoryImportInfo,
    "Import OSV advisories (incrementally) and re-scan the SBOMs naming the packages they touch.",
)
SC_ADVISORY_STATUS = Endpoint(
    _SC, "advisory_status", AdvisoryStatusQuery, AdvisoryStatus, "The advisories held and the latest imports."
)
SC_ATTESTATIONS = Endpoint(
    _SC, "attestations_list", ListAttestations, AttestationList, "The team's attestations, newest first."
)
SC_ATTESTATION = Endpoint(_SC, "attestation_get", AttestationRef, AttestationInfo, "One attestation.")
SC_ATTESTATION_ENVELOPE = Endpoint(
    _SC, "attestation_envelope", AttestationRef, DocumentLocation, "An attestation's DSSE envelope."
)
SC_ATTESTATION_VERIFY = Endpoint(
    _SC, "attestation_verify", AttestationRef, Verification, "Verify a stored attestation's signature."
)
SC_ENVELOPE_VERIFY = Endpoint(
    _SC, "envelope_verify", VerifyEnvelope, Verification, "Verify a DSSE envelope against the trusted keys."
)
SC_PUBLIC_KEYS = Endpoint(
    _SC, "public_keys", PublicKeysQuery, PublicKeys, "The public keys attestations are verified with."
)
FINDINGS_CHANGED = EventType(
    "supply_chain.findings_changed",
    FindingsChanged,
    "A team's findings appeared, changed or were retired (an advisory import, a new SBOM).",
)
SC_POLICY = Endpoint(_SC, "policy_get", DownloadPolicyQuery, DownloadPolicy, "The team's download policy.")
SC_POLICY_SET = Endpoint(
    _SC,
    "policy_set",
    DownloadPolicySet,
    DownloadPolicy,
    "Set the team's download policy (blocking, quarantine).",
)
SC_OVERRIDES = Endpoint(
    _SC, "override_list", OverrideQuery, OverrideList, "The team's versions allowed despite findings."
)
SC_OVERRIDE_CREATE = Endpoint(
    _SC, "override_create", OverrideCreate, OverrideInfo, "Allow a version's download despite its findings."
)
SC_OVERRIDE_DELETE = Endpoint(
    _SC, "override_delete", OverrideRef, OverrideInfo, "Withdraw an override (the policy applies again)."
)
SC_BLOCKED = Endpoint(
    _SC,
    "blocked_list",
    BlockedQuery,
    BlockedList,
    "The team's versions whose downloads are blocked, and why.",
)
VERSION_BLOCK_CHANGED = EventType(
    "supply_chain.version_block_changed",
    VersionBlockChanged,
    "A team's version became blocked by its policy, or was released (revision orders them).",
)
DOWNLOAD_POLICY_CHANGED = EventType(
    "supply_chain.download_policy_changed",
    DownloadPolicyChanged,
    "A team's quarantine of upstream versions, or whether it blocks downloads, changed (revision orders "
    "them).",
)
DOWNLOAD_OVERRIDE_CHANGED = EventType(
    "supply_chain.download_override_changed",
    DownloadOverrideChanged,
    "A team's override of a version was created or withdrawn (revision orders them).",
)
SC_UPSTREAM_VERSION = Endpoint(
    _SC,
    "upstream_version",
    UpstreamVersion,
    UpstreamVerdict,
    "Match an upstream version a team is about to get and answer whether its policy blocks it "
    "(agents only: the registry, before a first download).",
)
SUPPLY_CHAIN_ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    SC_POLICY,
    SC_POLICY_SET,
    SC_OVERRIDES,
    SC_OVERRIDE_CREATE,
    SC_OVERRIDE_DELETE,
    SC_BLOCKED,
    SC_UPSTREAM_VERSION,
    SC_SCAN,
    SC_SBOMS,
    SC_SBOM,
    SC_SBOM_DOCUMENT,
    SC_VEX,
    SC_FINDINGS,
    SC_FINDING_SUMMARY,
    SC_FINDING,
    SC_TRIAGE,
    SC_TRIAGE_WITHDRAW,
    SC_ADVISORY_IMPORT,
    SC_ADVISORY_STATUS,
    SC_ATTESTATIONS,
    SC_ATTESTATION,
    SC_ATTESTATION_ENVELOPE,
    SC_ATTESTATION_VERIFY,
    SC_ENVELOPE_VERIFY,
    SC_PUBLIC_KEYS,
)

_LEARN = AgentName.LEARNING
PROMPT_SAVE = Endpoint(
    _LEARN, "prompt_save", SavePromptRequest, SavedPrompt, "Save a prompt version (none when unchanged)."
)
PROMPT_IMPORT_FILE = Endpoint(
    _LEARN,
    "prompt_import_file",
    ImportPromptFile,
    SavedPrompt,
    "Parse one prompts/*.yaml file and save it as a version (none when unchanged): the GitHub sync.",
)
PROMPT_LIST = Endpoint(
    _LEARN, "prompt_list", ListPrompts, PromptList, "The team's prompts with their labels."
)
PROMPT_VERSIONS = Endpoint(
    _LEARN, "prompt_versions", PromptRef, VersionList, "A prompt's versions, newest first."
)
PROMPT_GET = Endpoint(_LEARN, "prompt_get", PromptLookup, PromptVersionInfo, "A version by label or number.")
PROMPT_RENDER = Endpoint(
    _LEARN, "prompt_render", RenderPrompt, RenderedPromptInfo, "Render a version: includes and variables."
)
PROMPT_DIFF = Endpoint(_LEARN, "prompt_diff", DiffQuery, PromptDiffInfo, "Two versions of a prompt compared.")
PROMPT_MOVE_LABEL = Endpoint(
    _LEARN, "prompt_move_label", MoveLabel, LabelMoved, "Move a label (compare-and-set, promotion gate)."
)
PROMPT_APPROVE = Endpoint(
    _LEARN, "prompt_approve", ApproveVersion, VersionApproved, "A second person's approval of a version."
)
PROMPT_IMPACT = Endpoint(
    _LEARN, "prompt_impact", ImpactQuery, LabelImpact, "The prompts a label move reaches through includes."
)
PROMPT_POLICY = Endpoint(_LEARN, "prompt_policy", PolicyQuery, LabelPolicyInfo, "The team's label policy.")
PROMPT_POLICY_SET = Endpoint(
    _LEARN, "prompt_policy_set", LabelPolicyInfo, LabelPolicyInfo, "Set the team's label policy."
)
PROMPTS_CHANGED = Notice(
    "learning.prompts_changed",
    PromptsChanged,
    "A prompt of a team got a version or a label moved (edges drop the team's cached prompt reads).",
)
PROMPT_CONFIG_SCHEMA = Endpoint(
    _LEARN, "prompt_config_schema", ConfigSchemaQuery, ConfigSchemaInfo, "The team's prompt config schema."
)
PROMPT_CONFIG_SCHEMA_SET = Endpoint(
    _LEARN,
    "prompt_config_schema_set",
    ConfigSchemaInfo,
    ConfigSchemaInfo,
    "Declare (or with null drop) the team's prompt config schema.",
)
EXPERIMENT_CREATE = Endpoint(
    _LEARN, "experiment_create", CreateExperimentRequest, ExperimentInfo, "Create a prompt experiment."
)
EXPERIMENT_LIST = Endpoint(
    _LEARN, "experiment_list", ListExperiments, ExperimentList, "The team's experiments, newest first."
)
EXPERIMENT_GET = Endpoint(_LEARN, "experiment_get", ExperimentRef, ExperimentInfo, "One experiment.")
EXPERIMENT_START = Endpoint(_LEARN, "experiment_start", ExperimentRef, ExperimentInfo, "Start an experiment.")
EXPERIMENT_STOP = Endpoint(_LEARN, "experiment_stop", ExperimentRef, ExperimentInfo, "Stop an experiment.")
EXPERIMENT_EXPOSURE = Endpoint(
    _LEARN, "experiment_exposure", PostExposure, ExposureLogged, "Log a unit's exposure (once per unit)."
)
EXPERIMENT_EXPOSURE_BATCH = Endpoint(
    _LEARN,
    "experiment_exposure_batch",
    PostExposureBatch,
    ExposureBatchLogged,
    "Log up to 1,000 exposures in one transaction, answered per item.",
)
EXPERIMENT_SCORE = Endpoint(
    _LEARN, "experiment_score", PostScore, ScoreRecorded, "Record a score of one request of an exposed unit."
)
EXPERIMENT_RESULTS = Endpoint(
    _LEARN,
    "experiment_results",
    ExperimentRef,
    ExperimentResults,
    "Per-variant statistics, SRM, guardrails (a breach stops the variant) and the suggested winner.",
)
PROMPT_ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    PROMPT_SAVE,
    PROMPT_IMPORT_FILE,
    PROMPT_LIST,
    PROMPT_VERSIONS,
    PROMPT_GET,
    PROMPT_RENDER,
    PROMPT_DIFF,
    PROMPT_MOVE_LABEL,
    PROMPT_APPROVE,
    PROMPT_IMPACT,
    PROMPT_POLICY,
    PROMPT_POLICY_SET,
    PROMPT_CONFIG_SCHEMA,
    PROMPT_CONFIG_SCHEMA_SET,
    EXPERIMENT_CREATE,
    EXPERIMENT_LIST,
    EXPERIMENT_GET,
    EXPERIMENT_START,
    EXPERIMENT_STOP,
    EXPERIMENT_EXPOSURE,
    EXPERIMENT_EXPOSURE_BATCH,
    EXPERIMENT_SCORE,
    EXPERIMENT_RESULTS,
)

# Evaluations of prompt versions (the LearningAgent runs them; the MonitoringAgent prices their calls).
PROMPT_TEST_SET_PUT = Endpoint(
    _LEARN, "prompt_test_set_put", PutTestSet, TestSetInfo, "Attach or replace a prompt's test set."
)
PROMPT_TEST_SET_GET = Endpoint(_LEARN, "prompt_test_set_get", TestSetRef, TestSetInfo, "A prompt's test set.")
PROMPT_EVALUATION_START = Endpoint(
    _LEARN,
    "prompt_evaluation_start",
    StartEvaluation,
    EvaluationRunInfo,
    "Start an evaluation run of a version against the prompt's test set (it runs in the background).",
)
PROMPT_EVALUATION_GET = Endpoint(
    _LEARN, "prompt_evaluation_get", EvaluationRef, EvaluationRunInfo, "An evaluation run with its cases."
)
PROMPT_EVALUATION_LIST = Endpoint(
    _LEARN,
    "prompt_evaluation_list",
    ListEvaluations,
    EvaluationList,
    "A prompt's evaluation runs, newest first.",
)
PRICE_QUOTE = Endpoint(
    _MON,
    "price_quote",
    PriceQuoteRequest,
    PriceQuote,
    "Price one call's usage with the team's prices (asked by the LearningAgent for evaluation calls).",
)
PROMPT_EVALUATION_ENDPOINTS: tuple[Endpoint[Any, Any], ...] = (
    PROMPT_TEST_SET_PUT,
    PROMPT_TEST_SET_GET,
    PROMPT_EVALUATION_START,
    PROMPT_EVALUATION_GET,
    PROMPT_EVALUATION_LIST,
    PRICE_QUOTE,
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
    EXPERIMENT_USAGE,
    ARTIFACT_PUBLISH,
    ARTIFACT_PYTHON_PAGE,
    ARTIFACT_FILE,
    ARTIFACT_YANK,
    ARTIFACT_UNYANK,
    ARTIFACT_DELETE,
    ARTIFACT_DELETE_PACKAGE,
    ARTIFACT_VERSIONS,
    ARTIFACT_VERSION,
    ARTIFACT_SEARCH,
    ARTIFACT_STORED_VERSIONS,
    *SUPPLY_CHAIN_ENDPOINTS,
    *PROMPT_ENDPOINTS,
    *PROMPT_EVALUATION_ENDPOINTS,
)
EVENT_TYPES: tuple[EventType[Any], ...] = (
    CANARY,
    GITHUB_WEBHOOK_RECEIVED,
    ACCOUNT_DEACTIVATED,
    TEAM_DATA_PURGE_REQUESTED,
    TEAM_DATA_PURGED,
    TOKEN_EVENTS_ACCEPTED,
    ARTIFACT_PUBLISHED,
    DOWNLOADS_COUNTED,
    UPSTREAM_VERSION_FETCHED,
    FINDINGS_CHANGED,
    VERSION_BLOCK_CHANGED,
    DOWNLOAD_POLICY_CHANGED,
    DOWNLOAD_OVERRIDE_CHANGED,
)
