"""Evaluations of prompt versions on the wire: a prompt's test set (cases of variables and
assertions, and the share of cases that must pass) and evaluation runs of a candidate version
(served by the LearningAgent, `services/prompts/evaluations.py`).

The assertion models mirror `services/prompts/evaluation.py` for the OpenAPI document; the agent
checks every test set again with that core (a pattern that does not compile, a schema that is not
one), whose problems come back as a 422 with one detail each.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.messages.fields import JsonData, MultilineText, Text
from shared.messages.prompts import PathVersion, PromptName, ShortText, VersionNumber

RunId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContainsSpec(_Model):
    type: Literal["contains", "not_contains"]
    value: Annotated[MultilineText, Field(min_length=1, max_length=10_000)]
    ignore_case: StrictBool = False


class RegexSpec(_Model):
    type: Literal["regex"]
    pattern: Annotated[MultilineText, Field(min_length=1, max_length=1000)]


class JsonSchemaSpec(_Model):
    # `schema` would shadow BaseModel.schema: the field is `schema_`, spelled `schema` on the wire
    # both ways (the bus serialises too).
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)

    type: Literal["json_schema"]
    schema_: dict[Text, JsonData] = Field(alias="schema")


class ThresholdSpec(_Model):
    """`max_cost_usd`: the call's price (the team's prices); `max_latency_ms`: the call's duration."""

    type: Literal["max_cost_usd", "max_latency_ms"]
    value: Annotated[float, Field(ge=0)]


AssertionSpec = Annotated[
    ContainsSpec | RegexSpec | JsonSchemaSpec | ThresholdSpec, Field(discriminator="type")
]


class TestCaseSpec(_Model):
    __test__ = False  # not a pytest class

    id: ShortText = Field(min_length=1)
    variables: dict[ShortText, JsonData] = Field(default_factory=dict, max_length=200)
    assertions: list[AssertionSpec] = Field(min_length=1, max_length=50)


class TestSetBody(_Model):
    __test__ = False

    cases: list[TestCaseSpec] = Field(min_length=1, max_length=1000)
    min_pass_rate: Annotated[float, Field(ge=0, le=1)] = 1.0


class PutTestSet(TestSetBody):
    """Attach (or replace) the test set of a prompt."""

    name: PromptName


class TestSetRef(_Model):
    __test__ = False

    name: PromptName


class TestSetInfo(_Model):
    __test__ = False

    name: PromptName
    revision: int
    updated_by: Text
    updated_at: datetime
    test_set: TestSetBody


class StartEvaluation(_Model):
    """Evaluate a version against the prompt's test set. `model` defaults to the version's
    `config.model`."""

    name: PromptName
    version: VersionNumber
    model: ModelName | None = None


class EvaluationRef(_Model):
    name: PromptName
    run_id: RunId


class ListEvaluations(_Model):
    name: PromptName
    version: PathVersion | None = None


class AssertionResultInfo(_Model):
    type: Text
    passed: bool
    reason: str


class EvaluationCaseInfo(_Model):
    case_id: Text
    passed: bool
    output: str
    latency_ms: float | None
    cost_usd: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    error: str | None
    assertions: list[AssertionResultInfo]


class EvaluationRunInfo(_Model):
    """A run: `running` until every case is judged, then `finished` (`passed` says whether the pass
    rate reached the test set's minimum) or `failed` (the run itself could not finish: `error`)."""

    id: RunId
    name: PromptName
    version: VersionNumber
    status: Literal["running", "finished", "failed"]
    model: Text
    passed: bool | None
    pass_rate: float | None
    min_pass_rate: float
    cases_total: int
    started_by: Text
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    cost_usd: Decimal | None
    cases: list[EvaluationCaseInfo]


class EvaluationList(_Model):
    items: list[EvaluationRunInfo]


class PriceQuoteRequest(_Model):
    """Price one call's usage with the caller's team's prices (the MonitoringAgent's price book:
    the maintained prices with the team's overrides), as the call's token event would be."""

    provider: Annotated[str, Field(min_length=1, max_length=100)]
    model: ModelName
    at: datetime
    input_tokens: Annotated[int, Field(ge=0)] = 0
    output_tokens: Annotated[int, Field(ge=0)] = 0
    cache_read_tokens: Annotated[int, Field(ge=0)] = 0
    cache_write_tokens: Annotated[int, Field(ge=0)] = 0
    cache_write_1h_tokens: Annotated[int, Field(ge=0)] = 0
    reasoning_tokens: Annotated[int, Field(ge=0)] = 0


class PriceQuote(_Model):
    """`total_usd` None: the model has no price."""

    total_usd: Decimal | None
    price_version: str | None
