"""Wire models of the teams' download policies (SupplyChainAgent): which findings block a version's
download, how long newly proxied upstream versions stay hidden, per-version overrides, and the two
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


class DownloadPolicy(_Answer):
    block_severity: SeverityRating
    quarantine_days: int
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
    severity: SeverityRating
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
    """The part of a team's policy the registry applies itself (the quarantine of upstream versions)."""

    team_id: str
    quarantine_days: int
    revision: int
