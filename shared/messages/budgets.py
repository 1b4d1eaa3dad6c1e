"""Budgets: spend limits per scope and period, their status, and the edge's admission of events.

Numbers and flags in request bodies are strict (`"50"` is not a threshold, `1` is not `true`); amounts
are decimals, sent as JSON strings (or numbers) so no binary float rounds them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.messages.fields import Text

BudgetName = Annotated[Text, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
# A percentage of the budget's amount (in the schema, so clients see the range).
Threshold = Annotated[StrictInt, Field(ge=1, le=1000)]
BudgetId = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


class ScopeKind(StrEnum):
    TEAM = "team"
    PROJECT = "project"
    USER = "user"
    MODEL = "model"
    API_KEY = "api_key"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # Monday 00:00 UTC to the next
    MONTH = "month"
    ROLLING = "rolling"  # the last `rolling_hours` whole hours, the current one included


class UnpricedPolicy(StrEnum):
    """What a hard limit does with a call whose model has no price (its cost is unknown)."""

    ALLOW = "allow"  # admit it at cost 0 (the amount may then be passed by what it really cost)
    REFUSE = "refuse"  # refuse it: the amount holds; a price override or `allow` lets such calls in


class BudgetFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thresholds: list[Threshold] = Field(
        default_factory=lambda: [50, 80, 100],
        max_length=10,
        description="Percentages of the amount that raise an alert once per period when crossed.",
    )
    hard_limit: StrictBool = Field(
        default=False,
        description="Refuse further events of this scope (429) once accepting them would pass the amount.",
    )
    # Refuse by default: a hard limit promises the amount is never passed, and a call without a price
    # could cost anything. A refusal names the model and both ways out at once; `allow` (the setting
    # of budgets made before this choice existed) silently lets unknown spend through.
    unpriced: UnpricedPolicy = Field(
        default=UnpricedPolicy.REFUSE,
        description="With a hard limit: refuse (default) or allow calls of models that have no price "
        "(no known price and no price override): their cost is unknown, so allowing them may pass the "
        "amount. Budgets without a hard limit count such calls at cost 0 either way.",
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[int]) -> list[int]:
        if any(t < 1 or t > 1000 for t in value):
            raise ValueError("thresholds are percentages between 1 and 1000")
        return sorted(set(value))


class CreateBudget(BudgetFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "x-mno-rules": [
                "scope_value is empty exactly when scope is team",
                "rolling_hours is given exactly when period is rolling",
            ]
        },
    )

    name: BudgetName
    scope: ScopeKind = ScopeKind.TEAM
    scope_value: Annotated[Text, StringConstraints(max_length=256)] = Field(
        default="", description="The project, user, model or API key id; empty for the whole team."
    )
    amount_usd: Decimal = Field(gt=0, le=Decimal("1e12"), decimal_places=6)
    period: Period = Period.MONTH
    rolling_hours: StrictInt | None = Field(default=None, ge=1, le=2160)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.scope is ScopeKind.TEAM) != (self.scope_value == ""):
            raise ValueError("scope_value is empty exactly when the scope is the whole team")
        if (self.period is Period.ROLLING) != (self.rolling_hours is not None):
            raise ValueError("rolling_hours is given exactly when the period is rolling")
        return self


class UpdateBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_id: BudgetId
    name: BudgetName | None = None
    amount_usd: Decimal | None = Field(default=None, gt=0, le=Decimal("1e12"), decimal_places=6)
    thresholds: list[Threshold] | None = Field(default=None, max_length=10)
    hard_limit: StrictBool | None = None
    unpriced: UnpricedPolicy | None = None

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else BudgetFields._thresholds(value)


class BudgetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_id: BudgetId


class BudgetLookup(BudgetRef):
    forecast: bool = Field(
        default=True, description="Include the period-end forecast (a model fit: tens of milliseconds)."
    )


class ListBudgets(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetForecast(BaseModel):
    method: str
    projected_total_usd: Decimal
    projected_lower_usd: Decimal
    projected_upper_usd: Decimal
    runs_out: bool
    runs_out_at: datetime | None
    summary: str


class BudgetInfo(BaseModel):
    id: str
    name: str
    scope: ScopeKind
    scope_value: str
    amount_usd: Decimal
    period: Period
    rolling_hours: int | None
    thresholds: list[int]
    hard_limit: bool
    unpriced: UnpricedPolicy
    created_at: datetime
    period_start: datetime
    period_end: datetime
    spent_usd: Decimal
    remaining_usd: Decimal
    percent_used: Decimal
    unpriced_events: int = Field(
        description="Calls of this period counted at cost 0 because their model had no price when admitted."
    )
    exhausted: bool
    forecast: BudgetForecast | None = None


class BudgetList(BaseModel):
    budgets: list[BudgetInfo]


class DeletedBudget(BaseModel):
    budget_id: str
    deleted: bool = True


class BudgetPresence(BaseModel):
    """Whether the principal's team has budgets at all (the edge skips admission when not)."""

    has_budgets: bool


class BudgetPresenceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetTeamsQuery(BaseModel):
    """Which teams have budgets (for the edge's replicated set; system principal only)."""

    model_config = ConfigDict(extra="forbid")


class BudgetTeams(BaseModel):
    team_ids: list[str]


class BudgetsChanged(BaseModel):
    """A team's budgets were created or deleted: whether it has any now (after the commit)."""

    team_id: str
    has_budgets: bool


class AdmissionItem(BaseModel):
    """What a budget needs to know of one event: who, what, when, and the tokens to price."""

    index: int
    id: str
    timestamp: datetime
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    user: str | None = None
    project: str | None = None


class AdmissionRequest(BaseModel):
    api_key_id: str | None = None
    items: list[AdmissionItem]


class RefusalReason(StrEnum):
    BUDGET_EXCEEDED = "budget_exceeded"  # no room left in the period
    UNPRICED_MODEL = "unpriced_model"  # no price for the model, and the budget refuses unpriced calls


class Refusal(BaseModel):
    index: int
    id: str | None = None
    budget_id: str
    budget_name: str
    message: str
    reason: RefusalReason = RefusalReason.BUDGET_EXCEEDED
    # When the period ends (room again); None when waiting does not help (an unpriced model).
    retry_after_seconds: int | None


class AdmissionResult(BaseModel):
    refused: list[Refusal] = Field(default_factory=list)
    # Request indices of events whose ids the team's budgets had counted already (a resend).
    duplicates: list[int] = Field(default_factory=list)
