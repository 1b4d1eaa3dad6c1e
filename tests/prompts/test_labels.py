"""Label moves: the state machine moves labels one version at a time, derives `latest`, and gates
protected labels on permission, a second approver and a passing evaluation, saying why it refuses."""

from __future__ import annotations

from services.prompts.labels import (
    LATEST,
    PROMOTE_PERMISSION,
    PROTECTED_PERMISSION,
    Approval,
    EvaluationOutcome,
    LabelPolicy,
    LabelState,
    MoveRequest,
    Refusal,
    apply,
    decide,
)

STATE = LabelState(versions={1: "alice", 2: "bob", 3: "alice"}, labels={"production": 2, "staging": 3})
PROMOTER = frozenset({PROMOTE_PERMISSION})
RELEASER = frozenset({PROMOTE_PERMISSION, PROTECTED_PERMISSION})
STRICT = LabelPolicy(require_second_approver=True, require_passing_evaluation=True)


def test_a_label_moves_and_leaves_its_old_version_and_latest_is_derived() -> None:
    """Moving staging to v1 puts it on v1 only; `latest` is the newest version whatever the labels."""
    decision = decide(STATE, MoveRequest("staging", 1, "carol", PROMOTER))
    assert decision.move is not None
    assert decision.move.from_version == 3
    assert decision.move.rollback
    moved = apply(STATE, decision.move)
    assert moved.view() == {"production": 2, "staging": 1, LATEST: 3}
    assert moved.labels_of(3) == (LATEST,)


def test_latest_cannot_be_moved_and_unknown_versions_are_refused() -> None:
    """`latest` is derived, never moved; a version that does not exist is refused."""
    assert decide(STATE, MoveRequest(LATEST, 1, "carol", RELEASER)).refusals == (Refusal.LABEL_RESERVED,)
    assert decide(STATE, MoveRequest("staging", 9, "carol", RELEASER)).refusals == (Refusal.UNKNOWN_VERSION,)
    assert decide(STATE, MoveRequest("Bad Label", 1, "carol", RELEASER)).refusals == (Refusal.INVALID_LABEL,)


def test_moving_production_needs_the_protected_permission() -> None:
    """Without prompts:promote_protected, production does not move; with it (default policy) it does."""
    refused = decide(STATE, MoveRequest("production", 3, "carol", PROMOTER))
    assert refused.refusals == (Refusal.PROTECTED_PERMISSION_MISSING,)
    allowed = decide(STATE, MoveRequest("production", 3, "carol", RELEASER))
    assert allowed.move is not None
    assert allowed.move.protected
    assert not allowed.move.rollback
    assert decide(STATE, MoveRequest("staging", 1, "carol", frozenset())).refusals == (
        Refusal.PERMISSION_MISSING,
    )


def test_the_second_approver_is_neither_the_author_nor_the_mover_and_approved_this_version() -> None:
    """Under the strict policy every approval defect is reported: missing, the author, the mover, lacking the
    permission, approving another version; a valid approval plus a passing evaluation moves the label."""
    passing = EvaluationOutcome(3, True)
    missing = decide(STATE, MoveRequest("production", 3, "carol", RELEASER, evaluation=passing), STRICT)
    assert missing.refusals == (Refusal.APPROVAL_REQUIRED,)
    by_author = Approval("alice", RELEASER, 3)
    assert decide(
        STATE, MoveRequest("production", 3, "carol", RELEASER, approval=by_author, evaluation=passing), STRICT
    ).refusals == (Refusal.APPROVER_IS_AUTHOR,)
    own = Approval("carol", frozenset(), 2)
    assert set(
        decide(
            STATE, MoveRequest("production", 3, "carol", RELEASER, approval=own, evaluation=passing), STRICT
        ).refusals
    ) == {Refusal.APPROVER_IS_MOVER, Refusal.APPROVER_LACKS_PERMISSION, Refusal.APPROVAL_FOR_OTHER_VERSION}
    good = decide(
        STATE,
        MoveRequest(
            "production", 3, "carol", RELEASER, approval=Approval("dave", RELEASER, 3), evaluation=passing
        ),
        STRICT,
    )
    assert good.move is not None
    assert good.move.approved_by == "dave"


def test_a_failing_or_missing_evaluation_of_this_version_blocks_a_protected_move() -> None:
    """A failed evaluation, none, or one of another version refuses the move under the evaluation policy."""
    policy = LabelPolicy(require_passing_evaluation=True)
    for evaluation, reason in [
        (EvaluationOutcome(3, False), Refusal.EVALUATION_FAILED),
        (None, Refusal.EVALUATION_REQUIRED),
        (EvaluationOutcome(1, True), Refusal.EVALUATION_REQUIRED),
    ]:
        assert decide(
            STATE, MoveRequest("production", 3, "carol", RELEASER, evaluation=evaluation), policy
        ).refusals == (reason,)
    unprotected = decide(STATE, MoveRequest("staging", 1, "carol", PROMOTER), policy)
    assert unprotected.move is not None


def test_of_two_concurrent_moves_the_second_is_stale() -> None:
    """Both movers saw production on v2; once the first moves it to v3, the second (expecting v2) is stale."""
    first = decide(
        STATE, MoveRequest("production", 3, "carol", RELEASER, expected_from_version=2, check_expected=True)
    )
    assert first.move is not None
    after = apply(STATE, first.move)
    second = decide(
        after, MoveRequest("production", 1, "dave", RELEASER, expected_from_version=2, check_expected=True)
    )
    assert second.refusals == (Refusal.STALE,)


def test_a_move_to_where_the_label_already_is_changes_nothing() -> None:
    """Moving production to the version it is on is `unchanged`, allowed, with no move to record."""
    decision = decide(STATE, MoveRequest("production", 2, "carol", RELEASER))
    assert decision.unchanged
    assert decision.allowed
    assert decision.move is None
