"""What a team reads of its own account's GitHub link (`/api/v1/github/...`, `github:read`): the App's
installations, the repositories each grants, and the webhook deliveries about the account.

The operator's views of the same tables (`shared/messages/operator.py`) read across every account;
these are scoped to the account of the caller's team and leave out what is the platform's business
(payloads, hook ids, processing errors). Pages are newest first; `before` is `next_before`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.messages.operator import Before, DeliveryStatus, Name, PageSize

InstallationStatus = Literal["active", "suspended", "deleted"]
GitHubId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LinkedInstallationQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: PageSize = 50
    before: Before = None
    status: InstallationStatus | None = None


class LinkedInstallation(_Out):
    github_id: int = Field(description="GitHub's installation id.")
    account_login: str
    target_type: str
    repository_selection: str | None = Field(description="`all` or `selected` repositories.")
    status: InstallationStatus
    repositories: int = Field(description="How many repositories it grants (none once deleted).")
    suspended_at: datetime | None
    deleted_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LinkedInstallationPage(_Out):
    installations: list[LinkedInstallation]
    next_before: int | None = None  # None on the last page


class RepositoryQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    installation_id: GitHubId
    limit: PageSize = 100
    after: Annotated[int | None, Field(ge=1, description="next_after of the previous page")] = None


class LinkedRepository(_Out):
    id: int = Field(description="GitHub's repository id.")
    full_name: str
    private: bool
    added_at: datetime


class RepositoryPage(_Out):
    installation_id: int
    repositories: list[LinkedRepository] = Field(description="By GitHub's repository id, ascending.")
    next_after: int | None = None  # None on the last page


class LedgerQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: PageSize = 50
    before: Before = None
    event: Name | None = None
    status: DeliveryStatus | None = None


class LedgerEntry(_Out):
    id: int
    endpoint: Literal["app", "marketplace"]
    guid: str = Field(description="GitHub's delivery GUID (X-GitHub-Delivery), as GitHub's own log shows it.")
    event: str
    action: str | None
    status: DeliveryStatus
    attempt: int = Field(description="Processing attempts (GitHub's redeliveries and reprocessing).")
    redeliveries: int = Field(description="Times the same GUID arrived again.")
    replays: int = Field(description="Times this signed body arrived again under another GUID (not applied).")
    outcome: str | None = Field(description="What applying it did, or why it needed nothing.")
    received_at: datetime
    processed_at: datetime | None


class LedgerPage(_Out):
    deliveries: list[LedgerEntry]
    next_before: int | None = None  # None on the last page
