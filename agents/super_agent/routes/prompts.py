"""Prompts as code (`PROMPT_ROUTES`), served by the LearningAgent: save a version, list, versions,
get by label or version (ETag / If-None-Match → 304), render, diff, move a label behind the
promotion gate, approve a version, the impact of a move, the team's label policy. The plan's
`prompts` limit is read here (plans are the SuperAgent's) and enforced by the agent in the save's
transaction; saves, approvals, policy changes and label moves (refused ones too) are audited here
once the agent has answered (the audit log is the SuperAgent's)."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Forward, Local, Route
from services.prompt_sync.quota import prompt_quota
from shared.bus.errors import RemoteError
from shared.messages.envelope import ErrorCode
from shared.messages.permissions import Permission
from shared.messages.prompts import (
    ApproveVersion,
    ConfigSchemaInfo,
    LabelMoved,
    LabelPolicyInfo,
    MoveLabel,
    PromptLookup,
    PromptQuota,
    PromptVersionInfo,
    SavedPrompt,
    SavePrompt,
    SavePromptRequest,
    VersionApproved,
)
from shared.messages.registry import (
    PROMPT_APPROVE,
    PROMPT_CONFIG_SCHEMA,
    PROMPT_CONFIG_SCHEMA_SET,
    PROMPT_DIFF,
    PROMPT_GET,
    PROMPT_IMPACT,
    PROMPT_LIST,
    PROMPT_MOVE_LABEL,
    PROMPT_POLICY,
    PROMPT_POLICY_SET,
    PROMPT_RENDER,
    PROMPT_SAVE,
    PROMPT_VERSIONS,
)
from shared.metrics import EDGE_CACHE_TOTAL
from shared.principals import team_of

__all__ = ["PROMPT_ROUTES"]

TAGS = ("prompts",)
FEATURE = "prompts"
PROMPTS = "/api/v1/prompts"
PROMPT = PROMPTS + "/{name}"
# `-` can start no prompt name, so the policy never shadows a prompt (npm's `/-/` convention).
POLICY = PROMPTS + "/-/policy"
CONFIG_SCHEMA = PROMPTS + "/-/config-schema"
# How long the edge keeps a prompt read at most (a PROMPTS_CHANGED notice missed while the bus was
# away), and how many it keeps (least recently read go first).
PROMPT_READ_TTL_SECONDS = 10.0
PROMPT_READS_KEPT = 20_000


async def _audit(call: Call, action: str, resource_id: str, *, before: Any = None, after: Any = None) -> None:
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn, team_of(call.ctx.principal), action, "prompt", resource_id, before=before, after=after
        )


async def _quota(call: Call, team_id: str) -> PromptQuota:
    """The plan's `prompts` limit of the team's account, counted over all its teams by the agent."""
    edge = deps(call)
    async with edge.pool.acquire() as conn:
        return await prompt_quota(conn, edge.plans, team_id)


async def save_prompt(call: Call) -> BaseModel:
    body: SavePrompt = call.input
    quota = await _quota(call, team_of(call.ctx.principal))
    saved: SavedPrompt = await deps(call).bus.request(
        PROMPT_SAVE, SavePromptRequest(prompt=body, quota=quota), call.ctx
    )
    if saved.created:
        # Read your writes on this replica at once; the others follow the agent's notice.
        deps(call).prompt_reads.drop_team(team_of(call.ctx.principal))
        info = saved.prompt
        await _audit(
            call,
            "prompts.save",
            f"{info.name}@v{info.version}",
            after={
                "version": info.version,
                "content_hash": info.content_hash,
                "commit_message": info.commit_message,
            },
        )
    return saved


def _etag(body: str) -> str:
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:40] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


async def get_prompt(call: Call) -> web.StreamResponse:
    """One version; its ETag covers the whole answer (document and labels), so a client that
    revalidates gets 304 until a save or a label move changes what it would read. Answers are kept at
    the edge per team until the LearningAgent announces a change of the team's prompts (or for
    `PROMPT_READ_TTL_SECONDS`): an SDK fleet revalidating every minute costs no bus round trip."""
    edge = deps(call)
    lookup: PromptLookup = call.input
    team_id = team_of(call.ctx.principal)
    key = (lookup.name, lookup.label, lookup.version)
    cached = edge.prompt_reads.get(team_id, key)
    EDGE_CACHE_TOTAL.labels("prompt_reads", "miss" if cached is None else "hit").inc()
    if cached is None:
        generation = edge.prompt_reads.generation(team_id)
        found: PromptVersionInfo = await edge.bus.request(PROMPT_GET, lookup, call.ctx)
        body = found.model_dump_json()
        cached = (body, _etag(body))
        edge.prompt_reads.put(team_id, key, cached, generation)
    body, etag = cached
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(call.request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(text=body, content_type="application/json", headers=headers)


async def move_label(call: Call) -> BaseModel:
    return await move_and_audit(call, call.input)


async def move_and_audit(call: Call, request: MoveLabel, via: dict[str, Any] | None = None) -> LabelMoved:
    """Move a label through its gate and put the move (or the gate's refusal) on the audit log;
    `via` says what asked for it besides the mover (an experiment's winner)."""
    resource = f"{request.name}@{request.label}"
    try:
        moved: LabelMoved = await deps(call).bus.request(PROMPT_MOVE_LABEL, request, call.ctx)
    except RemoteError as error:
        # A refusal of the gate (or a lost race) is on the record; a name the team lacks is not.
        if error.body.code != ErrorCode.NOT_FOUND:
            await _audit(
                call,
                "prompts.label_move_refused",
                resource,
                after={
                    "to_version": request.version,
                    "refusals": [d.get("type") for d in error.body.details],
                    "code": error.body.code.value,
                    **(via or {}),
                },
            )
        raise
    if moved.changed:
        deps(call).prompt_reads.drop_team(team_of(call.ctx.principal))
        await _audit(
            call,
            "prompts.label_move",
            resource,
            before={"version": moved.from_version},
            after={
                "version": moved.to_version,
                "rollback": moved.rollback,
                "protected": moved.protected,
                "approved_by": moved.approved_by,
                "affected": [f"{a.name}@v{a.version}" for a in moved.affected],
                **(via or {}),
            },
        )
    return moved


async def approve_version(call: Call) -> BaseModel:
    request: ApproveVersion = call.input
    approved: VersionApproved = await deps(call).bus.request(PROMPT_APPROVE, request, call.ctx)
    await _audit(
        call, "prompts.approve", f"{request.name}@v{request.version}", after={"approver": approved.approver}
    )
    return approved


async def set_policy(call: Call) -> BaseModel:
    edge = deps(call)
    before: LabelPolicyInfo = await edge.bus.request(PROMPT_POLICY, PROMPT_POLICY.request(), call.ctx)
    after: LabelPolicyInfo = await edge.bus.request(PROMPT_POLICY_SET, call.input, call.ctx)
    await _audit(
        call,
        "prompts.policy",
        "label-policy",
        before=before.model_dump(mode="json"),
        after=after.model_dump(mode="json"),
    )
    return after


async def set_config_schema(call: Call) -> BaseModel:
    edge = deps(call)
    before: ConfigSchemaInfo = await edge.bus.request(
        PROMPT_CONFIG_SCHEMA, PROMPT_CONFIG_SCHEMA.request(), call.ctx
    )
    after: ConfigSchemaInfo = await edge.bus.request(PROMPT_CONFIG_SCHEMA_SET, call.input, call.ctx)
    await _audit(
        call,
        "prompts.config_schema",
        "config-schema",
        before=before.model_dump(mode="json"),
        after=after.model_dump(mode="json"),
    )
    return after


def _forward(
    method: Any, path: str, summary: str, endpoint: Any, permission: Permission, extra: tuple[int, ...]
) -> Route:
    return Route(
        method, path, summary, permission, Forward(endpoint), tags=TAGS, feature=FEATURE, extra_status=extra
    )


def _local(
    method: Any,
    path: str,
    summary: str,
    permission: Permission,
    handler: Any,
    request: Any,
    response: Any,
    extra: tuple[int, ...],
) -> Route:
    return Route(
        method,
        path,
        summary,
        permission,
        Local(handler),
        request=request,
        response=response,
        tags=TAGS,
        feature=FEATURE,
        extra_status=extra,
    )


PROMPT_ROUTES: list[Route] = [
    _local(
        "POST",
        PROMPTS,
        "Save a version of a prompt (created with its first version). Content equal to the latest "
        "version's (same content hash: name, tags and commit message are not content) makes no "
        "version: the latest is answered with `created: false`. Every problem of the document "
        "(templates, variables, includes, config) is a 422 detail; an include cycle is refused. "
        "A new prompt counts against the plan's `prompts` limit (402).",
        Permission.PROMPTS_WRITE,
        save_prompt,
        SavePrompt,
        SavedPrompt,
        (402, 503, 504),
    ),
    _forward(
        "GET",
        PROMPTS,
        "Your team's prompts with their latest version, its content hash and their labels.",
        PROMPT_LIST,
        Permission.PROMPTS_READ,
        (503, 504),
    ),
    _forward(
        "GET",
        POLICY,
        "The team's label policy: protected labels, second approver, passing evaluation.",
        PROMPT_POLICY,
        Permission.PROMPTS_READ,
        (503, 504),
    ),
    _local(
        "PUT",
        POLICY,
        "Set the team's label policy. Moving a protected label needs prompts:promote_protected, and by "
        "this policy an approval of the version by a second person (not the author, not the mover) "
        "and a passing evaluation of it.",
        Permission.PROMPTS_PROMOTE_PROTECTED,
        set_policy,
        LabelPolicyInfo,
        LabelPolicyInfo,
        (503, 504),
    ),
    _forward(
        "GET",
        CONFIG_SCHEMA,
        "The team's JSON Schema for its prompts' `config` (null: none declared).",
        PROMPT_CONFIG_SCHEMA,
        Permission.PROMPTS_READ,
        (503, 504),
    ),
    _local(
        "PUT",
        CONFIG_SCHEMA,
        "Declare the team's JSON Schema for its prompts' `config` (model, temperature, ...; draft "
        "2020-12 unless `$schema` says otherwise; remote `$ref`s are never fetched), or drop it with "
        "null. Every later save (API, dashboard, `mno prompts push`, the GitHub sync) checks the "
        "config against our base schema and this one: a 422 names each violation. Versions already "
        "saved are not re-checked. An invalid schema is a 422 `invalid_config_schema`.",
        Permission.PROMPTS_PROMOTE_PROTECTED,
        set_config_schema,
        ConfigSchemaInfo,
        ConfigSchemaInfo,
        (422, 503, 504),
    ),
    _local(
        "GET",
        PROMPT,
        "A version by `label` (default `latest`) or `version`, with an ETag: send it in "
        "If-None-Match to get 304 while nothing changed.",
        Permission.PROMPTS_READ,
        get_prompt,
        PromptLookup,
        PromptVersionInfo,
        (304, 404, 503, 504),
    ),
    _forward(
        "GET",
        PROMPT + "/versions",
        "A prompt's versions, newest first, with their authors, commit messages and labels.",
        PROMPT_VERSIONS,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
    _forward(
        "POST",
        PROMPT + "/render",
        "Render a version (by label or version) with variables: includes resolved, variables "
        "type-checked. Missing, mistyped or unknown variables, include cycles and templates over "
        "their budget are 422 details naming the variable or the include chain. The content hash "
        "goes on token events as the tag `prompt_hash`. With `document` (a prompt body, as saved) "
        "that unsaved draft is checked and rendered instead, as the next version, and nothing is saved.",
        PROMPT_RENDER,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
    _forward(
        "GET",
        PROMPT + "/diff",
        "Two versions compared: a unified diff of the text, message by message for chat prompts, "
        "variables, includes and config key by key.",
        PROMPT_DIFF,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
    _local(
        "PUT",
        PROMPT + "/labels/{label}",
        "Move a label to a version (rollback: to an older one). With `check_expected`, only if the "
        "label is still on `expected_version`; of two concurrent moves one wins and the other gets "
        "409 `stale`. Protected labels pass the team's gate (403/409 naming every reason).",
        Permission.PROMPTS_PROMOTE,
        move_label,
        MoveLabel,
        LabelMoved,
        (403, 404, 409, 503, 504),
    ),
    _local(
        "POST",
        PROMPT + "/versions/{version}/approvals",
        "Approve a version for a protected label: by a person holding prompts:promote_protected who "
        "is not its author.",
        Permission.PROMPTS_PROMOTE_PROTECTED,
        approve_version,
        ApproveVersion,
        VersionApproved,
        (404, 409, 503, 504),
    ),
    _forward(
        "GET",
        PROMPT + "/labels/{label}/impact",
        "Which versions of which prompts include this prompt by this label (directly or through "
        "other includes), with the labels serving them: what changes when the label moves.",
        PROMPT_IMPACT,
        Permission.PROMPTS_READ,
        (404, 503, 504),
    ),
]
