"""The Prompts and experiment pages' pure parts: forms, rows, diffs, refusals in words, results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.dashboard import experiments, prompts
from shared.messages.envelope import ErrorBody, ErrorCode
from shared.messages.experiments import ExperimentInfo, ExperimentResults, WinnerPromoted
from shared.messages.prompt_evaluations import EvaluationList, EvaluationRunInfo
from shared.messages.prompts import (
    AffectedPrompt,
    KeyChangeInfo,
    LabelMoved,
    LabelPolicyInfo,
    PromptDiffInfo,
    PromptList,
    PromptSummary,
    VersionApproved,
    VersionList,
    VersionSummary,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HASH = "sha256:" + "ab" * 32
EXPERIMENT_ID = "0a1b2c3d-0000-4000-8000-000000000001"


def versions(*numbers: int, labels: dict[str, int] | None = None) -> VersionList:
    given = dict(labels or {})
    given["latest"] = max(numbers)
    return VersionList(
        name="support",
        type="text",
        labels=given,
        items=[
            VersionSummary(
                version=n,
                content_hash=HASH,
                author="user-1" if n % 2 else "key:k-1",
                commit_message=f"take {n}",
                created_at=T0 + timedelta(days=n),
                labels=sorted(label for label, v in given.items() if v == n),
            )
            for n in sorted(numbers, reverse=True)
        ],
    )


def test_prompt_rows_sort_by_name_leave_latest_out_of_labels_and_link_tags() -> None:
    """Rows come by name; `latest` is the Latest column, not a label; each tag links to the list
    filtered by it; the content hash is shortened for the eye but kept whole."""
    found = PromptList(
        items=[
            PromptSummary(
                name=name,
                type="chat",
                tags=["support", "beta team"],
                latest_version=3,
                latest_content_hash=HASH,
                labels={"latest": 3, "production": 2, "staging": 3},
                updated_at=T0,
            )
            for name in ("zeta", "alpha")
        ]
    )
    rows = prompts.prompt_rows(found)
    assert [r.name for r in rows] == ["alpha", "zeta"]
    assert rows[0].labels == (("production", 2), ("staging", 3))
    assert rows[0].tags == (
        ("support", "/dashboard/prompts?tag=support"),
        ("beta team", "/dashboard/prompts?tag=beta+team"),
    )
    assert rows[0].short_hash == "ab" * 6
    assert rows[0].content_hash == HASH
    assert rows[0].href == "/dashboard/prompts/alpha"


def test_version_rows_name_people_and_keys_and_link_each_diff() -> None:
    """Authors read as logins or key names (ids when unknown); each version but the first links to
    its diff against the one before it."""
    rows = prompts.version_rows(versions(1, 2, 3), {"user-1": "alice"}, {"k-1": "ci"})
    assert [(r.version, r.author) for r in rows] == [(3, "alice"), (2, "key ci"), (1, "alice")]
    assert rows[0].diff_href == "/dashboard/prompts/support?from_version=2&to_version=3#diff"
    assert rows[0].previous == 2
    assert rows[2].diff_href is None
    assert prompts.version_rows(versions(1), {}, {})[0].author == "user-1"
    assert prompts.who("key:gone", {}, {}) == "key:gone"


def test_label_rows_put_latest_first_and_mark_protected_ones() -> None:
    """`latest` leads and cannot be moved; the policy's protected labels are marked."""
    found = versions(1, 2, labels={"staging": 2, "production": 1})
    policy = LabelPolicyInfo(
        protected_labels=["production"], require_second_approver=True, require_passing_evaluation=False
    )
    rows = prompts.label_rows(found, policy)
    assert [(r.label, r.version, r.protected, r.movable) for r in rows] == [
        ("latest", 2, False, False),
        ("production", 1, True, True),
        ("staging", 2, False, True),
    ]
    assert not any(r.protected for r in prompts.label_rows(found, None))


def test_diff_versions_default_to_the_newest_two_and_ignore_unknown_ones() -> None:
    """No choice: the newest and the one before; a chosen pair is kept; a version that does not
    exist falls back to the default; one version has nothing to compare."""
    found = versions(1, 2, 3)
    assert prompts.diff_versions(found, None, None) == (2, 3)
    assert prompts.diff_versions(found, 1, 3) == (1, 3)
    assert prompts.diff_versions(found, None, 2) == (1, 2)
    assert prompts.diff_versions(found, 9, 8) == (2, 3)
    assert prompts.diff_versions(found, None, 1) == (2, 1)
    assert prompts.diff_versions(versions(1), None, None) is None


def test_diff_view_classes_each_line_and_lists_key_changes() -> None:
    """Added, removed, hunk and header lines are told apart; variable and config changes are rows
    with their old and new values as JSON; an empty diff reads as the same content."""
    diff = PromptDiffInfo(
        name="support",
        from_version=1,
        to_version=2,
        type_changed=False,
        text="--- v1\n+++ v2\n@@ -1 +1 @@\n-Answer briefly.\n+Answer in one line.\n same",
        messages=[],
        variables=[KeyChangeInfo(key="tone", change="added", old=None, new={"type": "string"})],
        includes=[],
        config=[KeyChangeInfo(key="temperature", change="changed", old=0.2, new=0.7)],
    )
    view = prompts.diff_view(diff)
    assert [line.kind for line in view.text] == ["head", "head", "hunk", "del", "add", "context"]
    assert [(k.section, k.key, k.old, k.new) for k in view.keys] == [
        ("variables", "tone", "—", '{"type": "string"}'),
        ("config", "temperature", "0.2", "0.7"),
    ]
    assert not view.same
    same = prompts.diff_view(diff.model_copy(update={"text": "", "variables": [], "config": []}))
    assert same.same


def test_a_refused_move_names_each_reason_of_the_gate() -> None:
    """A 409 of the gate says what is missing (approval, evaluation) in words; a stale move says to
    reload; an error without reasons keeps the API's message."""
    gate = ErrorBody(
        code=ErrorCode.CONFLICT,
        message="label move refused: approval_required, evaluation_required",
        details=[
            {"loc": "label", "type": "approval_required", "message": "approval required"},
            {"loc": "label", "type": "evaluation_required", "message": "no finished run", "run_id": None},
        ],
    )
    text = prompts.move_problem(gate)
    assert text.startswith("The label was not moved: ")
    assert "approval of this version by a second person" in text
    assert "passing evaluation run of this version is required" in text
    stale = ErrorBody(code=ErrorCode.CONFLICT, message="x", details=[{"type": "stale"}])
    assert "reload" in prompts.move_problem(stale)
    plain = ErrorBody(code=ErrorCode.VALIDATION_FAILED, message="version: must be at least 1")
    assert prompts.move_problem(plain) == "The label was not moved: version: must be at least 1."


def test_move_form_sends_a_compare_and_set_move_and_refuses_bad_labels() -> None:
    """The form's strings become the API's move with `check_expected`; an empty expected version is
    a new label (expected on none); a label the API could not take is refused here already."""
    form = prompts.MoveForm.model_validate(
        {"name": "support", "label": "production", "version": "3", "expected_version": "2"}
    )
    assert form.body() == {
        "name": "support",
        "label": "production",
        "version": 3,
        "expected_version": 2,
        "check_expected": True,
    }
    fresh = prompts.MoveForm.model_validate({"name": "support", "label": "canary", "version": "1"})
    assert fresh.body()["expected_version"] is None
    with pytest.raises(ValidationError):
        prompts.MoveForm.model_validate({"name": "support", "label": "Prod uction", "version": "1"})
    assert prompts.ListForm.model_validate({"tag": " "}).tag is None
    assert prompts.PromptQuery.model_validate({"name": "support", "from_version": ""}).from_version is None


def test_evaluation_rows_tell_passed_failed_and_broken_runs_apart() -> None:
    """A finished run passed or failed by its minimum; a run that could not finish is an error with
    its reason; pass rates read as percentages."""

    def run(
        status: Any, passed: bool | None, rate: float | None, error: str | None = None
    ) -> EvaluationRunInfo:
        return EvaluationRunInfo(
            id=EXPERIMENT_ID,
            name="support",
            version=2,
            status=status,
            model="gpt-4o-mini",
            passed=passed,
            pass_rate=rate,
            min_pass_rate=0.8,
            cases_total=5,
            started_by="user-1",
            started_at=T0,
            finished_at=None,
            error=error,
            cost_usd=None,
            cases=[],
        )

    rows = prompts.evaluation_rows(
        EvaluationList(
            items=[
                run("finished", True, 1.0),
                run("finished", False, 0.6),
                run("failed", None, None, "interrupted"),
                run("running", None, None),
            ]
        ),
        {"user-1": "alice"},
        {},
    )
    assert [(r.status, r.pass_rate) for r in rows] == [
        ("passed", "100%"),
        ("failed", "60%"),
        ("error", "—"),
        ("running", "—"),
    ]
    assert rows[0].min_pass_rate == "80%"
    assert rows[0].started_by == "alice"
    assert rows[2].error == "interrupted"


def experiment_info(**extra: Any) -> ExperimentInfo:
    return ExperimentInfo.model_validate(
        {
            "id": EXPERIMENT_ID,
            "prompt": "support",
            "name": "shorter answers",
            "status": "running",
            "seed": "s",
            "unit": "user",
            "coverage": 1.0,
            "primary_metric": "cost_per_request",
            "guardrails": [{"metric": "latency_ms", "max_relative_increase": 0.5}],
            "variants": [
                {"key": "a", "version": 1, "weight": 0.5, "stopped": False, "stop_reason": None},
                {"key": "b", "version": 2, "weight": 0.5, "stopped": True, "stop_reason": "latency"},
            ],
            "created_by": "user-1",
            "created_at": T0,
            "started_at": T0,
            "stopped_at": None,
            **extra,
        }
    )


def results(mismatch: bool = False) -> ExperimentResults:
    interval = {"low": 0.001, "high": 0.003}

    def metric(name: str, estimate: float) -> dict[str, Any]:
        return {"metric": name, "units": 24, "estimate": estimate, "interval": interval}

    comparison = {
        "metric": "cost_per_request",
        "difference": -0.001,
        "relative_lift": -0.5,
        "lift_interval": {"low": -0.6, "high": -0.4},
        "sequential_lift_interval": None,
        "p_value": 0.0001,
        "sequential_p_value": None,
        "adjusted_p_value": 0.0002,
        "significant": True,
        "improvement": True,
    }
    variant = {"weight": 0.5, "stopped": False, "stop_reason": None, "guardrails": []}
    return ExperimentResults.model_validate(
        {
            "experiment": experiment_info().model_dump(),
            "control": "a",
            "variants": [
                {
                    **variant,
                    "key": "a",
                    "version": 1,
                    "exposures": 24,
                    "metrics": [metric("latency_ms", 120.0), metric("cost_per_request", 0.002)],
                    "comparisons": [],
                },
                {
                    **variant,
                    "key": "b",
                    "version": 2,
                    "exposures": 72 if mismatch else 24,
                    "metrics": [metric("cost_per_request", 0.001), metric("latency_ms", 900.0)],
                    "comparisons": [comparison],
                    "guardrails": [{"metric": "latency_ms", "breached": True, "reason": "7x slower"}],
                },
            ],
            "sample_ratio": {
                "chi_square": 24.0 if mismatch else 0.0,
                "p_value": 0.00001 if mismatch else 1.0,
                "mismatch": mismatch,
                "expected": [48.0, 48.0] if mismatch else [24.0, 24.0],
            },
            "insufficient_data": ["error_rate"],
            "stopped_now": ["b"],
            "winner": "b",
            "winner_reason": "b costs less per request",
        }
    )


def test_metric_tables_put_the_primary_first_with_lifts_against_the_control() -> None:
    """The primary metric's table comes first; the control has no lift; a variant's lift, its
    interval and the adjusted p-value read as the API answered them, significant and better."""
    tables = experiments.metric_tables(results())
    assert [t.metric for t in tables] == ["cost_per_request", "latency_ms"]
    assert tables[0].primary
    assert tables[0].title == "Cost per request"
    control, b = tables[0].rows
    assert (control.key, control.control, control.lift, control.p_value) == ("a", True, "—", "—")
    assert (b.lift, b.lift_interval, b.p_value, b.raw_p_value) == (
        "-50.0%",
        "-60.0% to -40.0%",
        "< 0.001",
        "< 0.001",
    )
    assert b.significant
    assert b.improvement
    assert b.estimate == "$0.0010"
    assert tables[1].rows[1].estimate == "900 ms"
    assert experiments.metric_words("score:helpful") == "Score “helpful”"
    assert experiments.insufficient(results()) == ["Error rate"]


def test_sample_ratio_and_guardrails_read_as_the_api_answered() -> None:
    """A mismatch says the results cannot be trusted, with expected and observed shares; a breached
    guardrail is a row with its reason; variants carry weights, exposures and the stop."""
    bad = experiments.sample_ratio(results(mismatch=True))
    assert bad.mismatch
    assert "cannot be trusted" in bad.message
    assert bad.shares == [("a", "50.0%", "25.0%"), ("b", "50.0%", "75.0%")]
    good = experiments.sample_ratio(results())
    assert not good.mismatch
    assert good.p_value == "1.000"
    assert experiments.guardrail_rows(results()) == [
        experiments.GuardrailRow("b", "Latency", True, "7x slower")
    ]
    rows = experiments.variant_rows(experiment_info(), results())
    assert [(r.key, r.weight, r.control, r.stopped, r.exposures) for r in rows] == [
        ("a", "50%", True, False, 24),
        ("b", "50%", False, True, 24),
    ]
    assert experiments.variant_rows(experiment_info(), None)[0].exposures is None
    assert experiments.value_text("error_rate", 0.125) == "12.5%"
    assert experiments.interval_text("latency_ms", None) == "—"


def test_a_label_move_names_the_prompts_that_now_render_differently() -> None:
    """The move's words name each includer the API reported, with its labels; a no-op says so."""
    moved = LabelMoved(
        name="policy",
        label="production",
        from_version=1,
        to_version=2,
        changed=True,
        rollback=False,
        protected=True,
        approved_by=None,
        affected=[AffectedPrompt(name="support", version=3, labels=["production", "latest"], chain=[])],
    )
    assert prompts.move_done(moved) == (
        "production now points at version 2 (was 1). Prompts that include it render differently now: "
        "support v3 (production, latest)."
    )
    same = moved.model_copy(update={"changed": False, "affected": []})
    assert prompts.move_done(same) == "production already pointed at version 2."


def test_each_metric_table_carries_a_chart_of_the_same_estimates_and_intervals() -> None:
    """A metric's chart names every variant with a row in its table, in the same order, with the
    estimate and 95% interval the API gave (shares drawn in percent) and each in words."""
    tables = experiments.metric_tables(results())
    cost, latency = tables
    assert cost.chart["kind"] == "interval"
    assert cost.chart["labels"] == [r.key for r in cost.rows] == ["a", "b"]
    assert cost.chart["estimates"] == [0.002, 0.001]
    assert (cost.chart["lows"], cost.chart["highs"]) == ([0.001, 0.001], [0.003, 0.003])
    assert (cost.chart["unit"], cost.chart["control"], cost.chart["title"]) == (
        "usd",
        "a",
        "Cost per request",
    )
    assert cost.chart["tips"][0] == "a (control): $0.0020, 95% interval $0.0010 to $0.0030"
    assert latency.chart["unit"] == "ms"
    assert latency.chart["estimates"] == [120.0, 900.0]
    shares = results().model_copy(deep=True)
    for variant in shares.variants:
        variant.metrics[0] = variant.metrics[0].model_copy(update={"metric": "error_rate", "estimate": 0.125})
    chart = experiments.interval_chart("error_rate", "Error rate", shares)
    assert chart["unit"] == "percent"
    assert chart["estimates"][0] == 12.5
    assert chart["lows"][0] == 0.1
    assert experiments.chart_unit("score:helpful") == "number"


def test_the_winner_promotion_reads_in_words_and_is_offered_only_with_a_winner() -> None:
    """The form is offered only when the results name a winner; a promotion names the winner, its
    version and the label's move; no winner reads with the results' reason; the gate's refusal as a
    label move's; the form sends production unless another label is named."""
    assert experiments.may_promote(results())
    assert not experiments.may_promote(results().model_copy(update={"winner": None}))
    assert not experiments.may_promote(None)
    moved = LabelMoved(
        name="support",
        label="production",
        from_version=1,
        to_version=2,
        changed=True,
        rollback=False,
        protected=True,
        approved_by="user-2",
        affected=[],
    )
    promoted = WinnerPromoted(experiment_id=EXPERIMENT_ID, winner="b", moved=moved)
    assert experiments.promoted_words(promoted) == (
        "Promoted b (version 2) of support: production now points at version 2 (was 1)."
    )
    none = ErrorBody(
        code=ErrorCode.CONFLICT,
        message="no winner to promote: not significant yet",
        details=[{"type": "no_winner", "reason": "not significant yet"}],
    )
    assert experiments.promote_problem(none) == (
        "Nothing was promoted: the results suggest no winner (not significant yet)."
    )
    gate = ErrorBody(code=ErrorCode.CONFLICT, message="refused", details=[{"type": "approval_required"}])
    assert experiments.promote_problem(gate).startswith(
        "The label was not moved: an approval of this version"
    )
    form = experiments.PromoteForm.model_validate({"experiment_id": EXPERIMENT_ID})
    assert form.body() == {"experiment_id": EXPERIMENT_ID, "label": "production"}
    assert experiments.promote_path(EXPERIMENT_ID) == f"/dashboard/experiments/{EXPERIMENT_ID}/promote"
    with pytest.raises(ValidationError):
        experiments.PromoteForm.model_validate({"experiment_id": EXPERIMENT_ID, "label": "latest!"})


def test_an_approval_reads_in_words_and_the_authors_own_is_refused_in_words() -> None:
    """An approval names the version and the approver by login; the author's own approval (409
    approver_is_author) says another person must approve; the form sends name and version."""
    approved = VersionApproved(name="support", version=2, approver="user-2", approved_at=T0)
    assert prompts.approve_done(approved, {"user-2": "bea"}, {}) == (
        "Version 2 of support is approved by bea: another person may now move a protected label to it."
    )
    own = ErrorBody(
        code=ErrorCode.CONFLICT,
        message="the author of a version cannot approve it",
        details=[{"loc": "approver", "type": "approver_is_author"}],
    )
    assert prompts.approve_problem(own) == (
        "The version was not approved: the approval is by the version's author; another person must approve."
    )
    other = ErrorBody(code=ErrorCode.UNAVAILABLE, message="the LearningAgent did not answer", details=[])
    assert prompts.approve_problem(other) == "The version was not approved: the LearningAgent did not answer."
    form = prompts.ApproveForm.model_validate({"name": "support", "version": "2"})
    assert form.body() == {"name": "support", "version": 2}
