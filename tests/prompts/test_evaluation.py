"""A test set's assertions judged over given outputs: contains, regex (with a timeout), JSON schema,
cost and latency thresholds, and the pass rate the set requires."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.prompts.evaluation import Observation, TestSet, evaluate

SET = TestSet.model_validate(
    {
        "min_pass_rate": 0.5,
        "cases": [
            {
                "id": "refund",
                "variables": {"q": "refund?"},
                "assertions": [
                    {"type": "contains", "value": "REFUND", "ignore_case": True},
                    {"type": "not_contains", "value": "sorry"},
                    {"type": "regex", "pattern": r"\b\d+ days\b"},
                    {"type": "max_cost_usd", "value": 0.01},
                    {"type": "max_latency_ms", "value": 2000},
                ],
            },
            {
                "id": "json",
                "assertions": [
                    {
                        "type": "json_schema",
                        "schema": {
                            "type": "object",
                            "required": ["answer"],
                            "properties": {"answer": {"type": "string"}},
                        },
                    },
                ],
            },
        ],
    }
)


def test_passing_outputs_pass_every_assertion() -> None:
    """Outputs meeting every assertion pass each case and the set."""
    result = evaluate(
        SET,
        [
            Observation("refund", "Refunds take 14 days.", cost_usd=0.002, latency_ms=800),
            Observation("json", '{"answer": "yes"}'),
        ],
    )
    assert result.passed
    assert result.pass_rate == 1.0
    assert all(a.passed for case in result.cases for a in case.assertions)


def test_each_failed_assertion_says_why_and_the_pass_rate_decides() -> None:
    """Wrong text, too slow, no cost measured, invalid JSON fail with reasons; 0 of 2 cases is below 0.5."""
    result = evaluate(
        SET,
        [
            Observation("refund", "Sorry, no refund.", cost_usd=None, latency_ms=2500),
            Observation("json", '{"answer": 3}'),
        ],
    )
    refund, json_case = result.cases
    failed = {a.type: a.reason for a in refund.assertions if not a.passed}
    assert set(failed) == {"regex", "max_cost_usd", "max_latency_ms"}
    assert "2500" in failed["max_latency_ms"]
    assert "no cost" in failed["max_cost_usd"]
    assert "3 is not of type 'string'" in json_case.assertions[0].reason
    assert not result.passed
    assert result.pass_rate == 0.0


def test_a_missing_observation_or_a_failed_call_fails_the_case() -> None:
    """A case that was not run, or whose call errored, fails even if its text would pass."""
    result = evaluate(SET, [Observation("json", '{"answer": "x"}', error="provider timeout")])
    assert [(c.case_id, c.passed, c.error) for c in result.cases] == [
        ("refund", False, "not run"),
        ("json", False, "provider timeout"),
    ]


def test_a_catastrophic_regex_times_out_instead_of_hanging() -> None:
    """A backtracking pattern on a long output fails by timeout rather than blocking the agent."""
    evil = TestSet.model_validate(
        {"cases": [{"id": "x", "assertions": [{"type": "regex", "pattern": r"^(\w+\s?)*$"}]}]}
    )
    result = evaluate(evil, [Observation("x", "a" * 5000 + "!")])
    assert not result.passed
    assert (
        "ran over" in result.cases[0].assertions[0].reason
        or "no match" in result.cases[0].assertions[0].reason
    )


@pytest.mark.parametrize(
    "assertion",
    [
        {"type": "regex", "pattern": "(unclosed"},
        {"type": "json_schema", "schema": {"type": "nope"}},
        {"type": "max_cost_usd", "value": -1},
        {"type": "similar_to", "value": "x"},
    ],
)
def test_invalid_assertions_are_refused_when_the_set_is_saved(assertion: dict[str, object]) -> None:
    """A regex that does not compile, an invalid schema, a negative threshold, an unknown type are refused."""
    with pytest.raises(ValidationError):
        TestSet.model_validate({"cases": [{"id": "x", "assertions": [assertion]}]})
