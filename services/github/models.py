"""GitHub's resources as we use them: frozen pydantic models of only the fields we read.

Unknown fields are ignored (GitHub adds fields freely); a missing required field or a wrong type
surfaces as `GitHubUnexpectedResponse` from the client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class GitHubModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Account(GitHubModel):
    """A user or organisation as GitHub embeds it in other resources."""

    id: int
    login: str
    type: str = "User"  # "User", "Organization" or "Bot"


class GitHubUser(GitHubModel):
    """The user a user access token belongs to (``GET /user``)."""

    id: int
    login: str
    type: str = "User"
    name: str | None = None
    email: str | None = None
    avatar_url: str | None = None
    html_url: str | None = None


class Installation(GitHubModel):
    """An installation of our App on a user or organisation account."""

    id: int
    account: Account
    app_id: int | None = None
    app_slug: str | None = None
    target_id: int | None = None
    target_type: str | None = None
    repository_selection: Literal["all", "selected"] = "all"
    permissions: dict[str, str] = Field(default_factory=dict)
    events: tuple[str, ...] = ()
    suspended_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Repository(GitHubModel):
    id: int
    name: str
    full_name: str
    owner: Account
    private: bool = False
    archived: bool = False
    default_branch: str | None = None
    html_url: str | None = None


class GitTreeEntry(GitHubModel):
    """One entry of a git tree (``GET /repos/{owner}/{repo}/git/trees/{sha}``)."""

    path: str
    mode: str
    type: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int | None = None  # blobs only


class GitTree(GitHubModel):
    sha: str
    tree: tuple[GitTreeEntry, ...]
    # GitHub stops listing a recursive tree past 100,000 entries or 7 MB and says so here.
    truncated: bool = False


class GitBlob(GitHubModel):
    """A blob (``GET /repos/{owner}/{repo}/git/blobs/{sha}``); `content` in `encoding`."""

    sha: str
    size: int
    content: str
    encoding: Literal["base64", "utf-8"] = "base64"


class GitObject(GitHubModel):
    sha: str
    type: str = "commit"


class GitRef(GitHubModel):
    """A reference (``GET /repos/{owner}/{repo}/git/ref/heads/{branch}``)."""

    ref: str
    object: GitObject


class CommitRef(GitHubModel):
    sha: str


class FileCommit(GitHubModel):
    """The answer of ``PUT /repos/{owner}/{repo}/contents/{path}``: the commit it made."""

    commit: CommitRef


class PullRequest(GitHubModel):
    number: int
    html_url: str
    state: str = "open"


def _normalise_price_model(value: object) -> object:
    # GitHub writes the same model as "FLAT_RATE" in the REST API and "flat-rate" elsewhere.
    return value.strip().upper().replace("-", "_") if isinstance(value, str) else value


PriceModel = Annotated[Literal["FREE", "FLAT_RATE", "PER_UNIT"], BeforeValidator(_normalise_price_model)]


class MarketplacePlan(GitHubModel):
    id: int
    number: int | None = None
    name: str
    description: str = ""
    monthly_price_in_cents: int = 0
    yearly_price_in_cents: int = 0
    price_model: PriceModel
    has_free_trial: bool = False
    unit_name: str | None = None
    state: str | None = None  # "draft" or "published"
    bullets: tuple[str, ...] = ()


class MarketplacePurchase(GitHubModel):
    billing_cycle: str  # "monthly" or "yearly"
    next_billing_date: datetime | None = None
    unit_count: int | None = None
    on_free_trial: bool = False
    free_trial_ends_on: datetime | None = None
    updated_at: datetime | None = None
    plan: MarketplacePlan


class MarketplacePendingChange(GitHubModel):
    """A downgrade or cancellation that takes effect at `effective_date` (the next billing cycle)."""

    id: int | None = None
    effective_date: datetime
    unit_count: int | None = None
    plan: MarketplacePlan


class MarketplaceAccount(GitHubModel):
    """An account on one of our Marketplace plans, with its purchase and any pending change."""

    id: int
    login: str
    type: str
    email: str | None = None
    organization_billing_email: str | None = None
    marketplace_purchase: MarketplacePurchase
    marketplace_pending_change: MarketplacePendingChange | None = None
