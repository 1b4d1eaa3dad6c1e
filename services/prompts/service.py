"""The LearningAgent's prompt endpoints: saves, reads, rendering, diffs, label moves with their
promotion gate, approvals, the impact of a move and the team's label policy. The decisions are the
pure cores' (`documents`, `rendering`, `labels`, `impact`, `diff`); this module loads what they need
from the store and applies what they decide."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from services.prompts import store
from services.prompts.diff import diff_versions
from services.prompts.documents import (
    check_config_schema,
    check_document,
    config_problems,
    content_hash,
    parse_document,
    parse_file,
)
from services.prompts.impact import IncludeEdge, affected_by_label_move
from services.prompts.labels import (
    LATEST,
    PROTECTED_PERMISSION,
    Approval,
    EvaluationOutcome,
    LabelPolicy,
    LabelState,
    MoveRequest,
    Refusal,
    decide,
)
from services.prompts.model import Include, PromptDocument
from services.prompts.problems import Problem, ProblemCode, PromptError
from services.prompts.rendering import MAX_INCLUDE_DEPTH, PromptVersion, render_prompt, resolve_includes
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission, effective_permissions
from shared.messages.prompts import (
    AffectedPrompt,
    ApproveVersion,
    ConfigSchemaInfo,
    ConfigSchemaQuery,
    DiffQuery,
    ImpactQuery,
    ImportPromptFile,
    IncludePinInfo,
    KeyChangeInfo,
    LabelImpact,
    LabelMoved,
    LabelPolicyInfo,
    ListPrompts,
    MessageChangeInfo,
    MoveLabel,
    PolicyQuery,
    PromptBody,
    PromptDiffInfo,
    PromptList,
    PromptLookup,
    PromptQuota,
    PromptRef,
    PromptSummary,
    PromptVersionInfo,
    RenderedMessageInfo,
    RenderedPromptInfo,
    RenderPrompt,
    SavedPrompt,
    SavePromptRequest,
    VersionApproved,
    VersionList,
    VersionSummary,
)
from shared.principals import team_with

MAX_CONFIG_SCHEMA_BYTES = 65_536
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

# Problems a save refuses: a cycle or a nesting too deep can only get worse. An include not found
# is allowed (a folder push saves the includer before what it includes); rendering reports it.
_SAVE_BLOCKING = frozenset(
    {ProblemCode.INCLUDE_CYCLE, ProblemCode.INCLUDE_TOO_DEEP, ProblemCode.INCLUDE_NOT_TEXT}
)

# A refused label move answers the status of its gravest reason; every reason is in the details.
_REFUSAL_STATUS: dict[Refusal, ErrorCode] = {
    Refusal.UNKNOWN_VERSION: ErrorCode.NOT_FOUND,
    Refusal.PERMISSION_MISSING: ErrorCode.FORBIDDEN,
    Refusal.PROTECTED_PERMISSION_MISSING: ErrorCode.FORBIDDEN,
    Refusal.INVALID_LABEL: ErrorCode.VALIDATION_FAILED,
    Refusal.LABEL_RESERVED: ErrorCode.VALIDATION_FAILED,
}
_GRAVITY = (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.VALIDATION_FAILED, ErrorCode.CONFLICT)


def problems_error(error: PromptError) -> AgentError:
    """A PromptError as a 422 whose details carry every problem (code, path, names)."""
    return AgentError(
        ErrorCode.VALIDATION_FAILED,
        str(error)[:2000],
        [
            {"loc": p.path, "type": p.code.value, "message": p.message, "names": list(p.names)}
            for p in error.problems
        ],
    )


def evaluation_of(name: str, version: int, evaluated: tuple[str, bool] | None) -> dict[str, Any]:
    """What an evaluation refusal's detail says: the run that failed, or how to make the missing one."""
    if evaluated is None:
        return {
            "message": f"{name}@v{version} has no finished evaluation run: "
            f"POST /api/v1/prompts/{name}/evaluations with version {version}",
            "run_id": None,
        }
    return {
        "message": f"the newest evaluation run of {name}@v{version}, {evaluated[0]}, did not pass",
        "run_id": evaluated[0],
    }


def refusal_error(refusals: tuple[Refusal, ...], evaluation: Mapping[str, Any] | None = None) -> AgentError:
    """`evaluation`: what to say about the version's evaluation (the run that failed, or none)."""
    codes = {_REFUSAL_STATUS.get(r, ErrorCode.CONFLICT) for r in refusals}
    code = next(c for c in _GRAVITY if c in codes)
    details: list[dict[str, Any]] = []
    for refusal in refusals:
        detail: dict[str, Any] = {
            "loc": "label",
            "type": refusal.value,
            "message": refusal.value.replace("_", " "),
        }
        if evaluation is not None and refusal in (Refusal.EVALUATION_REQUIRED, Refusal.EVALUATION_FAILED):
            detail.update(evaluation)
        details.append(detail)
    message = "label move refused: " + ", ".join(r.value for r in refusals)
    evaluated = [d["message"] for d in details if "run_id" in d]
    return AgentError(code, message + "".join(f" ({m})" for m in evaluated), details)


def answers(
    handler: Callable[[T, MessageContext], Awaitable[R]],
) -> Callable[[T, MessageContext], Awaitable[R]]:
    """A handler whose core refusals (PromptError) leave as 422 with their problems."""

    async def handle(request: T, ctx: MessageContext) -> R:
        try:
            return await handler(request, ctx)
        except PromptError as error:
            raise problems_error(error) from None

    return handle


def actor(principal: Principal) -> str:
    """Who did it, as versions and moves record it: the person, or the API key that has none."""
    if principal.user_id is not None:
        return principal.user_id
    return f"key:{principal.api_key_id}" if principal.api_key_id else "unknown"


def _not_found(what: str) -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, f"{what} does not exist", [{"loc": "name", "type": "not_found"}])


def to_document(body: PromptBody) -> PromptDocument:
    return parse_document(body.model_dump(mode="json", exclude_none=True))


def to_body(document: Mapping[str, Any]) -> PromptBody:
    return PromptBody.model_validate(document)


def _version_info(row: store.VersionRow, state: LabelState) -> PromptVersionInfo:
    return PromptVersionInfo(
        name=row.name,
        version=row.version,
        type=row.document["type"],
        content_hash=row.content_hash,
        author=row.author,
        commit_message=row.commit_message,
        created_at=row.created_at,
        labels=list(state.labels_of(row.version)),
        document=to_body(row.document),
    )


async def _state(conn: Connection, team_id: str, prompt_id: str) -> LabelState:
    return LabelState(
        await store.authors(conn, team_id, prompt_id), await store.labels(conn, team_id, prompt_id)
    )


async def _resolver(
    conn: Connection, team_id: str, root: PromptVersion, *, saving: bool = False
) -> Callable[[Include], PromptVersion | None]:
    """Everything the root's includes can reach (to one level past the depth limit, so the core
    reports "too deep" rather than "not found"), loaded first: the core's resolver is synchronous.
    `saving`: the root is a version about to be saved, so an include of its name (any label or
    version: cycles are by name) reaches it rather than what is stored."""
    found: dict[tuple[str, str | None, int | None], PromptVersion | None] = {}
    frontier = [root]
    for _ in range(MAX_INCLUDE_DEPTH + 2):
        following: list[PromptVersion] = []
        for prompt in frontier:
            for ref in prompt.document.includes.values():
                key = (ref.name, ref.label, ref.version)
                if key in found:
                    continue
                if saving and ref.name == root.name:
                    found[key] = root
                    continue
                if ref.version is not None:
                    row = await store.version(conn, team_id, ref.name, ref.version)
                else:
                    row = await store.by_label(conn, team_id, ref.name, ref.label or LATEST)
                target = (
                    None
                    if row is None
                    else PromptVersion(row.name, row.version, PromptDocument.model_validate(row.document))
                )
                found[key] = target
                if target is not None:
                    following.append(target)
        frontier = following
    return lambda ref: found.get((ref.name, ref.label, ref.version))


class Prompts:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def save(self, request: SavePromptRequest, ctx: MessageContext) -> SavedPrompt:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_WRITE)
        assert principal is not None
        document = to_document(request.prompt)
        check_document(document)
        return await self._save(team_id, principal, document, request.quota)

    async def import_file(self, request: ImportPromptFile, ctx: MessageContext) -> SavedPrompt:
        """A repository's file, parsed as `mno prompts push` parses it (the GitHub sync)."""
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_WRITE)
        assert principal is not None
        document = parse_file(request.path, request.content)
        if document.commit_message is None and request.commit_message is not None:
            document = document.model_copy(update={"commit_message": request.commit_message})
        return await self._save(team_id, principal, document, request.quota)

    async def _save(
        self, team_id: str, principal: Principal, document: PromptDocument, quota: PromptQuota | None
    ) -> SavedPrompt:
        digest = content_hash(document)
        async with self._pool.acquire() as conn, conn.transaction():
            # The document itself was checked before any I/O; here its config meets the team's schema.
            team_schema = await store.config_schema(conn, team_id)
            if team_schema is not None and (problems := config_problems(document.config, team_schema)):
                raise PromptError(problems)
            await self._check_includes(conn, team_id, document)
            existing = await store.prompt(conn, team_id, document.name)
            if existing is None:
                if quota is not None:
                    await self._within_quota(conn, quota)
                await store.create_prompt(conn, team_id, document.name, document.type.value, document.tags)
            prompt = await store.prompt(conn, team_id, document.name, lock=True)
            assert prompt is not None
            latest = await store.latest(conn, team_id, prompt.id)
            await store.touch_prompt(conn, prompt.id, document.type.value, document.tags)
            if latest is not None and latest.content_hash == digest:
                return SavedPrompt(
                    created=False, prompt=_version_info(latest, await _state(conn, team_id, prompt.id))
                )
            number = 1 if latest is None else latest.version + 1
            row = await store.insert_version(
                conn, team_id, prompt.id, number, document, digest, actor(principal)
            )
            return SavedPrompt(
                created=True, prompt=_version_info(row, await _state(conn, team_id, prompt.id))
            )

    async def _check_includes(self, conn: Connection, team_id: str, document: PromptDocument) -> None:
        if not document.includes:
            return
        # The version number does not matter for cycles: a cycle is by name.
        root = PromptVersion(document.name, 1, document)
        try:
            resolve_includes(root, await _resolver(conn, team_id, root, saving=True))
        except PromptError as error:
            blocking = [p for p in error.problems if p.code in _SAVE_BLOCKING]
            if blocking:
                raise PromptError(blocking) from None

    async def _within_quota(self, conn: Connection, quota: PromptQuota) -> None:
        await store.lock_account(conn, quota.account_id)
        used = await store.count_prompts(conn, quota.team_ids)
        if used + 1 > quota.max_prompts:
            raise AgentError(
                ErrorCode.PAYMENT_REQUIRED,
                f"the {quota.plan} plan's prompts ({quota.max_prompts}) would be exceeded: {used} stored",
                [
                    {
                        "loc": "prompts",
                        "limit": "prompts",
                        "current": used,
                        "requested": 1,
                        "maximum": quota.max_prompts,
                        "plan": quota.plan,
                        "type": "plan_limit",
                    }
                ],
            )

    async def list_prompts(self, request: ListPrompts, ctx: MessageContext) -> PromptList:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            rows = await store.summaries(conn, team_id, request.tag)
        items = [
            PromptSummary(
                name=r["name"],
                type=r["type"],
                tags=list(r["tags"]),
                latest_version=r["latest_version"],
                latest_content_hash=r["latest_content_hash"],
                labels={**r["labels"], LATEST: r["latest_version"]},
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
        return PromptList(items=items)

    async def versions(self, request: PromptRef, ctx: MessageContext) -> VersionList:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            prompt = await store.prompt(conn, team_id, request.name)
            if prompt is None:
                raise _not_found(f"prompt {request.name}")
            rows = await store.versions(conn, team_id, prompt.id)
            state = await _state(conn, team_id, prompt.id)
        return VersionList(
            name=prompt.name,
            type=prompt.type,
            labels=state.view(),
            items=[
                VersionSummary(
                    version=r.version,
                    content_hash=r.content_hash,
                    author=r.author,
                    commit_message=r.commit_message,
                    created_at=r.created_at,
                    labels=list(state.labels_of(r.version)),
                )
                for r in rows
            ],
        )

    async def _lookup(
        self, conn: Connection, team_id: str, name: str, label: str | None, number: int | None
    ) -> tuple[store.VersionRow, LabelState]:
        if label is not None and number is not None:
            raise AgentError(
                ErrorCode.VALIDATION_FAILED,
                "name a label or a version, not both",
                [{"loc": "version", "type": "label_and_version"}],
            )
        prompt = await store.prompt(conn, team_id, name)
        if prompt is None:
            raise _not_found(f"prompt {name}")
        if number is not None:
            row = await store.version(conn, team_id, name, number)
            what = f"{name}@v{number}"
        else:
            row = await store.by_label(conn, team_id, name, label or LATEST)
            what = f"{name}@{label or LATEST}"
        if row is None:
            raise _not_found(what)
        return row, await _state(conn, team_id, prompt.id)

    async def get(self, request: PromptLookup, ctx: MessageContext) -> PromptVersionInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            row, state = await self._lookup(conn, team_id, request.name, request.label, request.version)
        return _version_info(row, state)

    async def render(self, request: RenderPrompt, ctx: MessageContext) -> RenderedPromptInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            if request.document is not None:
                root = await self._draft(conn, team_id, request)
            else:
                row, _ = await self._lookup(conn, team_id, request.name, request.label, request.version)
                root = PromptVersion(row.name, row.version, PromptDocument.model_validate(row.document))
            resolve = await _resolver(conn, team_id, root, saving=request.document is not None)
        # Rendering is synchronous and bounded by the sandbox's budgets; a large one must not stall
        # the agent's other requests.
        rendered = await asyncio.to_thread(render_prompt, root, dict(request.variables), resolve)
        return RenderedPromptInfo(
            name=rendered.name,
            version=rendered.version,
            type=rendered.type.value,
            text=rendered.text,
            messages=None
            if rendered.messages is None
            else [RenderedMessageInfo(role=m.role, content=m.content) for m in rendered.messages],
            config=dict(rendered.config),
            content_hash=rendered.content_hash,
            includes=[
                IncludePinInfo(
                    path=list(p.path),
                    name=p.name,
                    version=p.version,
                    label=p.ref.label,
                    pinned_version=p.ref.version,
                )
                for p in rendered.pins
            ],
        )

    async def _draft(self, conn: Connection, team_id: str, request: RenderPrompt) -> PromptVersion:
        """Unsaved content, checked as a save checks it, as the version it would become (an include
        of its own name reaches the draft, as when it is saved, so a cycle through it is found)."""
        assert request.document is not None
        if request.label is not None or request.version is not None:
            raise AgentError(
                ErrorCode.VALIDATION_FAILED,
                "render a document or a stored version, not both",
                [{"loc": "document", "type": "document_and_version"}],
            )
        if request.document.name != request.name:
            raise AgentError(
                ErrorCode.VALIDATION_FAILED,
                f"the document is named {request.document.name}, not {request.name}",
                [{"loc": "document.name", "type": ProblemCode.NAME_MISMATCH.value}],
            )
        document = to_document(request.document)
        check_document(document, await store.config_schema(conn, team_id))
        prompt = await store.prompt(conn, team_id, request.name)
        latest = None if prompt is None else await store.latest(conn, team_id, prompt.id)
        return PromptVersion(document.name, 1 if latest is None else latest.version + 1, document)

    async def diff(self, request: DiffQuery, ctx: MessageContext) -> PromptDiffInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            new, _ = await self._lookup(conn, team_id, request.name, None, request.to_version)
            since = request.from_version or max(new.version - 1, 1)
            old, _ = await self._lookup(conn, team_id, request.name, None, since)
        found = diff_versions(
            PromptDocument.model_validate(old.document),
            PromptDocument.model_validate(new.document),
            old.version,
            new.version,
        )

        def keys(changes: Any) -> list[KeyChangeInfo]:
            return [KeyChangeInfo(key=c.key, change=c.change.value, old=c.old, new=c.new) for c in changes]

        return PromptDiffInfo(
            name=request.name,
            from_version=old.version,
            to_version=new.version,
            type_changed=found.type_changed,
            text=found.text,
            messages=[
                MessageChangeInfo(
                    change=m.change.value,
                    old_index=m.old_index,
                    new_index=m.new_index,
                    old_role=m.old_role,
                    new_role=m.new_role,
                    unified=m.unified,
                )
                for m in found.messages
            ],
            variables=keys(found.variables),
            includes=keys(found.includes),
            config=keys(found.config),
        )

    async def move(self, request: MoveLabel, ctx: MessageContext) -> LabelMoved:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_READ)
        assert principal is not None
        mover = actor(principal)
        permissions = frozenset(p.value for p in effective_permissions(principal))
        async with self._pool.acquire() as conn, conn.transaction():
            prompt = await store.prompt(conn, team_id, request.name)
            if prompt is None:
                raise _not_found(f"prompt {request.name}")
            state = await _state(conn, team_id, prompt.id)
            policy = await store.policy(conn, team_id)
            approval = _chosen_approval(
                await store.approvals(conn, team_id, prompt.id, request.version),
                request.version,
                mover,
                state.versions.get(request.version),
            )
            evaluated = await store.evaluation(conn, team_id, prompt.id, request.version)
            decision = decide(
                state,
                MoveRequest(
                    label=request.label,
                    to_version=request.version,
                    actor=mover,
                    actor_permissions=permissions,
                    expected_from_version=request.expected_version,
                    check_expected=request.check_expected,
                    approval=approval,
                    evaluation=None
                    if evaluated is None
                    else EvaluationOutcome(request.version, evaluated[1]),
                ),
                policy,
            )
            if decision.refusals:
                raise refusal_error(
                    decision.refusals, evaluation_of(request.name, request.version, evaluated)
                )
            if decision.move is None:
                return LabelMoved(
                    name=request.name,
                    label=request.label,
                    from_version=request.version,
                    to_version=request.version,
                    changed=False,
                    rollback=False,
                    protected=request.label in policy.protected,
                    approved_by=None,
                )
            move = decision.move
            if not await store.apply_move(conn, team_id, prompt.id, move, mover):
                raise refusal_error((Refusal.STALE,))
            # Read in the move's transaction: the prompts whose rendering the move just changed.
            affected = await self._affected(conn, team_id, request.name, move.label)
        return LabelMoved(
            name=request.name,
            label=move.label,
            from_version=move.from_version,
            to_version=move.to_version,
            changed=True,
            rollback=move.rollback,
            protected=move.protected,
            approved_by=move.approved_by,
            affected=affected,
        )

    async def approve(self, request: ApproveVersion, ctx: MessageContext) -> VersionApproved:
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_PROMOTE_PROTECTED)
        assert principal is not None
        if principal.user_id is None:
            raise AgentError(
                ErrorCode.FORBIDDEN,
                "an approval is a person's: this API key has no creator",
                [{"loc": "approver", "type": "approver_not_a_person"}],
            )
        async with self._pool.acquire() as conn, conn.transaction():
            prompt = await store.prompt(conn, team_id, request.name)
            if prompt is None:
                raise _not_found(f"prompt {request.name}")
            author = (await store.authors(conn, team_id, prompt.id)).get(request.version)
            if author is None:
                raise _not_found(f"{request.name}@v{request.version}")
            if author == principal.user_id:
                raise AgentError(
                    ErrorCode.CONFLICT,
                    "the author of a version cannot approve it",
                    [{"loc": "approver", "type": Refusal.APPROVER_IS_AUTHOR.value}],
                )
            granted = sorted(p.value for p in effective_permissions(principal))
            at = await store.approve(conn, team_id, prompt.id, request.version, principal.user_id, granted)
        return VersionApproved(
            name=request.name, version=request.version, approver=principal.user_id, approved_at=at
        )

    async def impact(self, request: ImpactQuery, ctx: MessageContext) -> LabelImpact:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        label = request.label
        async with self._pool.acquire() as conn:
            if await store.prompt(conn, team_id, request.name) is None:
                raise _not_found(f"prompt {request.name}")
            affected = await self._affected(conn, team_id, request.name, label)
        return LabelImpact(name=request.name, label=label, affected=affected)

    @staticmethod
    async def _affected(conn: Any, team_id: str, name: str, label: str) -> list[AffectedPrompt]:
        """The labelled versions of prompts that include `name@label`, directly or through others."""
        edges = [
            IncludeEdge(
                e["name"],
                e["version"],
                Include(name=e["target_name"], label=e["target_label"], version=e["target_version"]),
            )
            for e in await store.include_edges(conn, team_id)
        ]
        labels = await store.all_labels(conn, team_id)
        return [
            AffectedPrompt(name=a.name, version=a.version, labels=list(a.labels), chain=list(a.chain))
            for a in affected_by_label_move(name, label, edges, labels)
        ]

    async def policy(self, request: PolicyQuery, ctx: MessageContext) -> LabelPolicyInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            found = await store.policy(conn, team_id)
        return _policy_info(found)

    async def set_policy(self, request: LabelPolicyInfo, ctx: MessageContext) -> LabelPolicyInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_PROMOTE_PROTECTED)
        policy = LabelPolicy(
            frozenset(request.protected_labels),
            request.require_second_approver,
            request.require_passing_evaluation,
        )
        if LATEST in policy.protected:
            raise PromptError(
                [
                    Problem(
                        ProblemCode.INVALID_FIELD, "`latest` is derived and never moved", "protected_labels"
                    )
                ]
            )
        async with self._pool.acquire() as conn:
            await store.set_policy(conn, team_id, policy)
        return _policy_info(policy)

    async def config_schema(self, request: ConfigSchemaQuery, ctx: MessageContext) -> ConfigSchemaInfo:
        team_id = team_with(ctx.principal, Permission.PROMPTS_READ)
        async with self._pool.acquire() as conn:
            return ConfigSchemaInfo(config_schema=await store.config_schema(conn, team_id))

    async def set_config_schema(self, request: ConfigSchemaInfo, ctx: MessageContext) -> ConfigSchemaInfo:
        """Declared by whoever may set the label policy: it binds every later save of the team."""
        principal = ctx.principal
        team_id = team_with(principal, Permission.PROMPTS_PROMOTE_PROTECTED)
        assert principal is not None
        schema = request.config_schema
        if schema is not None:
            problem = check_config_schema(schema)
            if problem is not None:
                raise PromptError([problem])
            if len(json.dumps(schema)) > MAX_CONFIG_SCHEMA_BYTES:
                raise PromptError(
                    [
                        Problem(
                            ProblemCode.INVALID_CONFIG_SCHEMA,
                            f"a config schema is at most {MAX_CONFIG_SCHEMA_BYTES:,} bytes of JSON",
                            "config_schema",
                        )
                    ]
                )
        async with self._pool.acquire() as conn:
            await store.set_config_schema(conn, team_id, schema, actor(principal))
        return ConfigSchemaInfo(config_schema=schema)


def _policy_info(policy: LabelPolicy) -> LabelPolicyInfo:
    return LabelPolicyInfo(
        protected_labels=sorted(policy.protected),
        require_second_approver=policy.require_second_approver,
        require_passing_evaluation=policy.require_passing_evaluation,
    )


def _chosen_approval(
    given: list[tuple[str, list[str]]], version: int, mover: str, author: str | None
) -> Approval | None:
    """The approval that satisfies the gate if one does; else any (so the refusal says what is wrong)."""
    approvals = [Approval(user, frozenset(perms), version) for user, perms in given]
    for approval in approvals:
        if approval.user_id not in (mover, author) and PROTECTED_PERMISSION in approval.permissions:
            return approval
    return approvals[0] if approvals else None
