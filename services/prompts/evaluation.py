"""A test set's assertions evaluated over outputs a candidate version produced (the model calls are
made elsewhere, through a provider adapter; this only judges what came back).

Assertions: `contains` / `not_contains` (optionally ignoring case), `regex` (the `regex` module,
with a timeout, because a team's pattern runs inside the LearningAgent and Python's `re` cannot be
stopped on catastrophic backtracking), `json_schema` (the output parsed as JSON and validated;
remote `$ref`s are never fetched), `max_cost_usd` and `max_latency_ms`. A case passes when every
assertion does and the call did not fail; the set passes when the share of passing cases reaches
`min_pass_rate` (1.0: every case).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jsonschema
import referencing.exceptions
import regex
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

REGEX_TIMEOUT_SECONDS = 0.25
MAX_OUTPUT_CHARS = 1_000_000


class _Assertion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Contains(_Assertion):
    type: Literal["contains"] = "contains"
    value: str = Field(min_length=1)
    ignore_case: bool = False


class NotContains(_Assertion):
    type: Literal["not_contains"] = "not_contains"
    value: str = Field(min_length=1)
    ignore_case: bool = False


class Regex(_Assertion):
    type: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1, max_length=1000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            regex.compile(pattern)
        except regex.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern


class JsonSchema(_Assertion):
    type: Literal["json_schema"] = "json_schema"
    schema_: dict[str, JsonValue] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _valid(cls, schema: dict[str, JsonValue]) -> dict[str, JsonValue]:
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as error:
            raise ValueError(f"not a JSON schema: {error.message}") from None
        return schema


class MaxCost(_Assertion):
    type: Literal["max_cost_usd"] = "max_cost_usd"
    value: float = Field(ge=0)


class MaxLatency(_Assertion):
    type: Literal["max_latency_ms"] = "max_latency_ms"
    value: float = Field(ge=0)


Assertion = Annotated[
    Contains | NotContains | Regex | JsonSchema | MaxCost | MaxLatency, Field(discriminator="type")
]


class TestCase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    __test__ = False  # not a pytest class

    id: str = Field(min_length=1, max_length=200)
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    assertions: tuple[Assertion, ...] = Field(min_length=1, max_length=50)


class TestSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    __test__ = False

    cases: tuple[TestCase, ...] = Field(min_length=1, max_length=1000)
    min_pass_rate: float = Field(default=1.0, ge=0, le=1)

    @field_validator("cases")
    @classmethod
    def _distinct(cls, cases: tuple[TestCase, ...]) -> tuple[TestCase, ...]:
        if len({c.id for c in cases}) != len(cases):
            raise ValueError("case ids repeat")
        return cases


@dataclass(frozen=True)
class Observation:
    """What one case's call produced."""

    case_id: str
    output: str
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class AssertionResult:
    type: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    passed: bool
    assertions: tuple[AssertionResult, ...]
    error: str | None


@dataclass(frozen=True)
class EvaluationResult:
    passed: bool
    pass_rate: float
    cases: tuple[CaseResult, ...]


def check(
    assertion: Contains | NotContains | Regex | JsonSchema | MaxCost | MaxLatency, seen: Observation
) -> AssertionResult:
    output = seen.output[:MAX_OUTPUT_CHARS]
    match assertion:
        case Contains() | NotContains():
            haystack, needle = (
                (output.casefold(), assertion.value.casefold())
                if assertion.ignore_case
                else (output, assertion.value)
            )
            found = needle in haystack
            wanted = isinstance(assertion, Contains)
            verb = "contains" if found else "does not contain"
            return AssertionResult(assertion.type, found == wanted, f"the output {verb} {assertion.value!r}")
        case Regex():
            try:
                found = regex.search(assertion.pattern, output, timeout=REGEX_TIMEOUT_SECONDS) is not None
            except TimeoutError:
                return AssertionResult(
                    assertion.type, False, f"the pattern ran over {REGEX_TIMEOUT_SECONDS} s"
                )
            return AssertionResult(
                assertion.type, found, "matches" if found else f"no match for {assertion.pattern!r}"
            )
        case JsonSchema():
            return _json_schema(assertion, output)
        case MaxCost():
            return _threshold(assertion.type, seen.cost_usd, assertion.value, "cost", "USD")
        case MaxLatency():
            return _threshold(assertion.type, seen.latency_ms, assertion.value, "latency", "ms")
    raise AssertionError(f"unknown assertion {assertion!r}")  # pragma: no cover - the union is closed


def _json_schema(assertion: JsonSchema, output: str) -> AssertionResult:
    try:
        document: Any = json.loads(output)
    except ValueError as error:
        return AssertionResult(assertion.type, False, f"the output is not JSON: {error}")
    validator_class = jsonschema.validators.validator_for(
        assertion.schema_, default=jsonschema.Draft202012Validator
    )
    try:
        failure = jsonschema.exceptions.best_match(validator_class(assertion.schema_).iter_errors(document))
    except referencing.exceptions.Unresolvable as unresolvable:
        return AssertionResult(assertion.type, False, f"the schema has an unresolvable $ref: {unresolvable}")
    if failure is not None:
        where = "/".join(str(p) for p in failure.absolute_path)
        return AssertionResult(assertion.type, False, failure.message + (f" at /{where}" if where else ""))
    return AssertionResult(assertion.type, True, "valid")


def _threshold(kind: str, value: float | None, limit: float, what: str, unit: str) -> AssertionResult:
    if value is None:
        return AssertionResult(kind, False, f"no {what} was measured")
    passed = value <= limit
    return AssertionResult(
        kind, passed, f"{what} {value:g} {unit} {'<=' if passed else '>'} {limit:g} {unit}"
    )


def evaluate(
    test_set: TestSet, observations: Sequence[Observation] | Mapping[str, Observation]
) -> EvaluationResult:
    """Every case judged; a case with no observation fails (it was not run)."""
    by_id = observations if isinstance(observations, Mapping) else {o.case_id: o for o in observations}
    cases = []
    for case in test_set.cases:
        seen = by_id.get(case.id)
        if seen is None:
            cases.append(CaseResult(case.id, False, (), "not run"))
            continue
        results = tuple(check(a, seen) for a in case.assertions)
        cases.append(
            CaseResult(case.id, seen.error is None and all(r.passed for r in results), results, seen.error)
        )
    rate = sum(c.passed for c in cases) / len(cases)
    return EvaluationResult(rate >= test_set.min_pass_rate, rate, tuple(cases))
