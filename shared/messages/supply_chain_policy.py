"""Wire models of the teams' download policies (SupplyChainAgent): which findings block a version's
download (the team's own versions and those its upstream proxy serves alike), how long newly proxied
upstream versions stay hidden, per-version overrides (which let a version through both), and the
events that carry the decisions to the ArtifactManagerAgent, which serves the downloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.messages.artifacts import Ecosystem
from shared.messages.fields import Text
from shared.messages.supply_chain import Id, SeverityRating

NameText = Annotated[Text, StringConstraints(min_length=1, max_length=214)]
VersionText = Annotated[Text, StringConstraints(min_length=1, max_length=128)]
ReasonText = Annotated[Text, StringConstraints(min_length=1, max_length=2000)]
MAX_QUARANTINE_DAYS = 365


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class DownloadPolicyQuery(_Request):
    pass


class DownloadPolicySet(_Request):
    block_severity: SeverityRating = SeverityRating.NONE
    """Block downloads of versions with an open finding (untriaged, or triaged `affected`) rated at
    least this; `none` blocks nothing."""
    quarantine_days: int = Field(default=0, ge=0, le=MAX_QUARANTINE_DAYS)
    """Hide upstream (proxied) versions younger than this many days; 0 is off."""
    block_unrated: bool | None = None
    """Whether an open finding whose advisory gives no severity blocks too (while `block_severity` is
    not `none`); absent keeps the current setting (false for a new policy)."""


class DownloadPolicy(_Answer):
    block_severity: SeverityRating
    quarantine_days: int
    block_unrated: bool = False
    updated_by: str | None = None
    updated_at: datetime | None = None
    """None for a team that never set one (the defaults: nothing blocked, no quarantine)."""


class OverrideCreate(_Request):
    ecosystem: Ecosystem
    name: NameText
    version: VersionText
    reason: ReasonText


class OverrideRef(_Request):
    override_id: Id


class OverrideQuery(_Request):
    pass


class OverrideInfo(_Answer):
    id: str
    ecosystem: Ecosystem
    name: str
    version: str
    reason: str
    created_by: str
    created_at: datetime


class OverrideList(_Answer):
    items: list[OverrideInfo]


class BlockingFinding(_Answer):
    finding_id: str
    advisory_id: str
    severity: SeverityRating | None
    """None: the advisory gives no severity (blocking only under the policy's `block_unrated`)."""
    package: str
    """The vulnerable component (the version itself or one of its dependencies), as name@version."""
    triage_status: str


class BlockedVersion(_Answer):
    ecosystem: Ecosystem
    name: str
    version: str
    findings: list[BlockingFinding]


class BlockedQuery(_Request):
    pass


class BlockedList(_Answer):
    items: list[BlockedVersion]


class VersionBlockChanged(_Answer):
    """A version of a team became blocked (with the findings that block it) or was released.
    `revision` grows with every decision: a consumer keeps the newest it has seen per version."""

    team_id: str
    ecosystem: Ecosystem
    name: str
    version: str
    blocked: bool
    findings: list[BlockingFinding] = []
    revision: int


class DownloadPolicyChanged(_Answer):
    """The part of a team's policy the registry applies itself: the quarantine of upstream versions,
    and whether downloads are blocked at all (`block_severity` not `none`: a version the team never
    took from its upstream is then matched before its first download)."""

    team_id: str
    quarantine_days: int
    block_severity: SeverityRating = SeverityRating.NONE
    block_unrated: bool = False
    revision: int


class DownloadOverrideChanged(_Answer):
    """A team's override of a version was created (`allowed`) or withdrawn. The registry lets an
    overridden upstream version through the quarantine (blocks are released by the SupplyChainAgent's
    own evaluation, `VersionBlockChanged`). `revision` as for the other decisions."""

    team_id: str
    ecosystem: Ecosystem
    name: str
    version: str
    allowed: bool
    revision: int


class UpstreamVerdict(_Answer):
    """What the team's policy says now of an upstream version (`upstream_version`): blocked, with the
    findings that block it, or not."""

    blocked: bool
    findings: list[BlockingFinding] = []
