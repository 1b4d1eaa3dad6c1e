"""Label moves as a pure state machine. A label (`production`, `staging`, or a team's own) lives on
one version at a time; `latest` is derived (the newest version) and cannot be moved. A move is
decided here and applied by the store atomically: the decision carries the version the label was on
(`from_version`), which the store compares and sets, so of two concurrent moves one loses with
`stale` instead of both winning. Rollback is a move to an older version; it passes the same gate.

Protected labels (`production` unless the team says otherwise) need `prompts:promote_protected`,
and, by the team's policy, an approval of this very version by a second person (neither the mover
nor the version's author, holding the same permission) and a passing evaluation of this very
version. Every refusal reason found is returned, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.prompts.model import LABEL_NAME
from shared.messages.permissions import Permission

LATEST = "latest"
PROTECTED_PERMISSION = Permission.PROMPTS_PROMOTE_PROTECTED.value
PROMOTE_PERMISSION = Permission.PROMPTS_PROMOTE.value


class Refusal(StrEnum):
    INVALID_LABEL = "invalid_label"
    LABEL_RESERVED = "label_reserved"
    UNKNOWN_VERSION = "unknown_version"
    STALE = "stale"
    PERMISSION_MISSING = "permission_missing"
    PROTECTED_PERMISSION_MISSING = "protected_permission_missing"
    APPROVAL_REQUIRED = "approval_required"
    APPROVER_IS_AUTHOR = "approver_is_author"
    APPROVER_IS_MOVER = "approver_is_mover"
    APPROVER_LACKS_PERMISSION = "approver_lacks_permission"
    APPROVAL_FOR_OTHER_VERSION = "approval_for_other_version"
    EVALUATION_REQUIRED = "evaluation_required"
    EVALUATION_FAILED = "evaluation_failed"


@dataclass(frozen=True)
class LabelPolicy:
    protected: frozenset[str] = frozenset({"production"})
    require_second_approver: bool = False
    require_passing_evaluation: bool = False


@dataclass(frozen=True)
class Approval:
    user_id: str
    permissions: frozenset[str]
    version: int


@dataclass(frozen=True)
class EvaluationOutcome:
    version: int
    passed: bool


@dataclass(frozen=True)
class LabelState:
    """A prompt's versions (number -> author) and labels (label -> version), `latest` excluded."""

    versions: Mapping[int, str]
    labels: Mapping[str, int] = field(default_factory=dict)

    def view(self) -> dict[str, int]:
        """The labels as readers see them, `latest` included."""
        view = dict(self.labels)
        if self.versions:
            view[LATEST] = max(self.versions)
        return view

    def labels_of(self, version: int) -> tuple[str, ...]:
        return tuple(sorted(label for label, v in self.view().items() if v == version))


@dataclass(frozen=True)
class MoveRequest:
    label: str
    to_version: int
    actor: str
    actor_permissions: frozenset[str]
    # The version the mover saw the label on (None: it was on none); a different one now is `stale`.
    expected_from_version: int | None = None
    check_expected: bool = False
    approval: Approval | None = None
    evaluation: EvaluationOutcome | None = None


@dataclass(frozen=True)
class Move:
    label: str
    from_version: int | None
    to_version: int
    rollback: bool
    protected: bool
    approved_by: str | None


@dataclass(frozen=True)
class Decision:
    """Exactly one of: `move` (apply it), `unchanged` (the label is already there), `refusals`."""

    move: Move | None = None
    unchanged: bool = False
    refusals: tuple[Refusal, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.move is not None or self.unchanged


def decide(state: LabelState, request: MoveRequest, policy: LabelPolicy = LabelPolicy()) -> Decision:
    refusals: list[Refusal] = []
    if request.label == LATEST:
        refusals.append(Refusal.LABEL_RESERVED)
    elif not LABEL_NAME.match(request.label):
        refusals.append(Refusal.INVALID_LABEL)
    if request.to_version not in state.versions:
        refusals.append(Refusal.UNKNOWN_VERSION)
    current = state.labels.get(request.label)
    if request.check_expected and current != request.expected_from_version:
        refusals.append(Refusal.STALE)
    protected = request.label in policy.protected
    if PROMOTE_PERMISSION not in request.actor_permissions:
        refusals.append(Refusal.PERMISSION_MISSING)
    if protected:
        refusals.extend(_protected_gate(state, request, policy))
    if refusals:
        return Decision(refusals=tuple(dict.fromkeys(refusals)))
    if current == request.to_version:
        return Decision(unchanged=True)
    rollback = current is not None and request.to_version < current
    approved_by = request.approval.user_id if protected and request.approval is not None else None
    return Decision(move=Move(request.label, current, request.to_version, rollback, protected, approved_by))


def _protected_gate(state: LabelState, request: MoveRequest, policy: LabelPolicy) -> list[Refusal]:
    refusals = []
    if PROTECTED_PERMISSION not in request.actor_permissions:
        refusals.append(Refusal.PROTECTED_PERMISSION_MISSING)
    if policy.require_second_approver:
        approval = request.approval
        if approval is None:
            refusals.append(Refusal.APPROVAL_REQUIRED)
        else:
            if approval.version != request.to_version:
                refusals.append(Refusal.APPROVAL_FOR_OTHER_VERSION)
            if approval.user_id == state.versions.get(request.to_version):
                refusals.append(Refusal.APPROVER_IS_AUTHOR)
            if approval.user_id == request.actor:
                refusals.append(Refusal.APPROVER_IS_MOVER)
            if PROTECTED_PERMISSION not in approval.permissions:
                refusals.append(Refusal.APPROVER_LACKS_PERMISSION)
    if policy.require_passing_evaluation:
        evaluation = request.evaluation
        if evaluation is None or evaluation.version != request.to_version:
            refusals.append(Refusal.EVALUATION_REQUIRED)
        elif not evaluation.passed:
            refusals.append(Refusal.EVALUATION_FAILED)
    return refusals


def apply(state: LabelState, move: Move) -> LabelState:
    """The state after a decided move (the label leaves the version it was on)."""
    return LabelState(state.versions, {**state.labels, move.label: move.to_version})
