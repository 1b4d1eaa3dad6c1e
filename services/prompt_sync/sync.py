"""Applying a `push` delivery to the prompt repositories it concerns.

Runs in the SuperAgent's webhook processing (`services.webhooks.processing`), inside the delivery's
transaction: the connections are locked, each team's files are read at the pushed commit through
the installation token (narrowed to that repository, `contents: read`), each changed file goes to
the LearningAgent (`PROMPT_IMPORT_FILE`: parsed and saved there, no version when the content hash is
unchanged), and the outcome is recorded with the delivery. A file's problems are recorded, never
raised; GitHub or the LearningAgent being unreachable raises, so the delivery is failed and retried
(what was saved before stays saved: a second save of the same content makes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from pydantic import ValidationError

from services.github.client import GitHubClient
from services.github.errors import GitHubError, GitHubRateLimited, GitHubUnavailable, GitHubUnexpectedResponse
from services.github.token_cache import TokenScope
from services.identity.audit_api import Acting
from services.identity.plans import PlanBook
from services.prompt_sync import store
from services.prompt_sync.plan import (
    PushEvent,
    TreeFile,
    branch_of,
    changed_files,
    commit_message,
    folder_files,
    github_author,
    next_synced_blobs,
)
from services.prompt_sync.quota import prompt_quota
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome, WebhookDispatcher
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import RemoteError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission
from shared.messages.prompt_repository import SyncedPrompt, SyncFileError
from shared.messages.prompts import MAX_PROMPT_FILE_BYTES, ImportPromptFile, SavedPrompt
from shared.messages.registry import PROMPT_IMPORT_FILE

log = structlog.get_logger("mno.prompt_sync")

FEATURE = "prompts"
# A file the LearningAgent refuses for what it holds: recorded against the file, the others go on.
_FILE_REFUSALS = frozenset({ErrorCode.VALIDATION_FAILED, ErrorCode.PAYMENT_REQUIRED, ErrorCode.CONFLICT})


class PromptSync:
    def __init__(self, github: GitHubClient | None, bus: Bus, plans: PlanBook) -> None:
        self._github = github
        self._bus = bus
        self._plans = plans

    def register(self, dispatcher: WebhookDispatcher) -> None:
        dispatcher.register("app", "push", self.on_push)

    async def on_push(self, conn: Connection, stored: StoredDelivery) -> Outcome:
        try:
            event = PushEvent.model_validate(stored.payload)
        except ValidationError as error:
            # Not a push as GitHub sends them (no repository, no head): nothing here to sync from.
            return Outcome("ignored", f"push without what a sync reads: {error.error_count()} problem(s)")
        where = f"{event.repository.full_name}:{event.ref}"
        branch = branch_of(event.ref)
        if branch is None:
            return Outcome("ignored", f"push to {where}: not a branch")
        connections = await store.connected_to(conn, event.repository.id, branch)
        if not connections:
            return Outcome("ignored", f"push to {where}: no team syncs prompts from it")
        if event.deleted:
            return Outcome("ignored", f"push to {where}: the branch was deleted")
        if self._github is None:
            return Outcome("ignored", f"push to {where}: the GitHub App is not configured here")
        outcomes = []
        for connection in connections:
            outcomes.append(await self._sync(conn, connection, event, stored))
        return Outcome("processed", f"push {event.after[:12]} to {where}: " + "; ".join(outcomes))

    async def _sync(
        self, conn: Connection, connection: store.Connected, event: PushEvent, stored: StoredDelivery
    ) -> str:
        team = connection.team_id
        if connection.last_sync_sha == event.after and connection.last_sync_read:
            return f"team {team}: {event.after[:12]} synced already"
        if connection.last_sync_delivery_id is not None and stored.id < connection.last_sync_delivery_id:
            # A push that arrived before the one synced, applied late (a retry): the later tree wins.
            return f"team {team}: older than the push synced ({(connection.last_sync_sha or '?')[:12]})"
        errors: list[SyncFileError] = []
        saved: list[SyncedPrompt] = []
        files: dict[str, TreeFile] | None = None
        synced: set[str] = set()
        author = await self._author(conn, team, event)
        problem = await self._refusal(conn, connection)
        if problem is not None:
            errors.append(problem)
        else:
            try:
                files, truncated = await self._files(connection, event.after)
            except GitHubError as error:
                if _transient(error):
                    raise
                errors.append(
                    SyncFileError(path=connection.folder, code="not_readable", message=error.message[:500])
                )
            else:
                if truncated:
                    errors.append(
                        SyncFileError(
                            path=connection.folder,
                            code="tree_truncated",
                            message="GitHub listed only part of the repository's tree",
                        )
                    )
                principal = Principal(
                    team_id=team,
                    user_id=author,
                    roles=("system",),
                    permissions=(Permission.PROMPTS_WRITE.value,),
                )
                message = commit_message(connection.full_name, event.head_commit, event.after)
                for file in changed_files(files, connection.synced_blobs):
                    outcome = await self._import(conn, connection, principal, file, message)
                    if isinstance(outcome, SyncFileError):
                        errors.append(outcome)
                    else:
                        saved.append(outcome)
                        synced.add(file.path)
        await store.record_sync(
            conn,
            team,
            sha=event.after,
            at=datetime.now(UTC),
            delivery_guid=stored.guid,
            delivery_id=stored.id,
            read=files is not None,
            pusher=event.sender.login if event.sender is not None else None,
            saved=saved,
            errors=errors,
            # A tree that could not be read changes nothing of what is known to be synced.
            synced_blobs=connection.synced_blobs
            if files is None
            else next_synced_blobs(files, connection.synced_blobs, synced),
        )
        created = [s for s in saved if s.created]
        # The audit chain's head is held until the commit: its entries are the last statements.
        acting = Acting(principal=Principal(team_id=team, user_id=author, roles=("system",)))
        for item in created:
            await acting.record(
                conn,
                team,
                "prompts.save",
                "prompt",
                f"{item.name}@v{item.version}",
                after={
                    "version": item.version,
                    "source": f"{connection.full_name}@{event.after}:{item.path}",
                },
            )
        return f"team {team}: {len(created)} new version(s), {len(errors)} error(s)"

    async def _author(self, conn: Connection, team_id: str, event: PushEvent) -> str:
        """The pusher as the team knows them: its member with that GitHub id, else `github:<login>`."""
        if event.sender is None:
            return github_author("unknown")
        member = await store.member_by_github_id(conn, team_id, event.sender.id)
        return member if member is not None else github_author(event.sender.login)

    async def _refusal(self, conn: Connection, connection: store.Connected) -> SyncFileError | None:
        """Why this team's push cannot sync at all (the repository is no longer its account's, its
        plan no longer sells prompts), or None."""
        if not await store.still_granted(
            conn, connection.team_id, connection.installation_id, connection.repository_id
        ):
            return SyncFileError(
                path=connection.folder,
                code="not_granted",
                message=f"{connection.full_name} is no longer granted to your account's installation",
            )
        _, entitlements = await self._plans.plan_of_account(
            conn, await store.account_of_team(conn, connection.team_id)
        )
        if FEATURE not in entitlements.features:
            return SyncFileError(
                path=connection.folder, code="plan_feature", message="your plan does not include prompts"
            )
        return None

    async def _files(self, connection: store.Connected, sha: str) -> tuple[dict[str, TreeFile], bool]:
        assert self._github is not None
        tree = await self._github.get_tree(
            connection.installation_id,
            connection.full_name,
            sha,
            recursive=True,
            scope=_scope(connection),
        )
        entries = [TreeFile(e.path, e.sha, e.size) for e in tree.tree if e.type == "blob"]
        return folder_files(entries, connection.folder), tree.truncated

    async def _import(
        self,
        conn: Connection,
        connection: store.Connected,
        principal: Principal,
        file: TreeFile,
        message: str,
    ) -> SyncedPrompt | SyncFileError:
        assert self._github is not None
        if file.size is not None and file.size > MAX_PROMPT_FILE_BYTES:
            return SyncFileError(
                path=file.path, code="too_large", message=f"over {MAX_PROMPT_FILE_BYTES} bytes"
            )
        try:
            raw = await self._github.get_blob(
                connection.installation_id, connection.full_name, file.sha, scope=_scope(connection)
            )
        except GitHubError as error:
            if _transient(error):
                raise
            return SyncFileError(path=file.path, code="not_readable", message=error.message[:500])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return SyncFileError(path=file.path, code="invalid_encoding", message="the file is not UTF-8")
        try:
            request = ImportPromptFile(
                path=file.path,
                content=text,
                commit_message=message,
                quota=await prompt_quota(conn, self._plans, connection.team_id),
            )
        except ValidationError as error:
            first = error.errors()[0]
            return SyncFileError(
                path=file.path,
                code=str(first.get("type", "invalid")),
                message=str(first.get("msg", ""))[:500],
            )
        try:
            answer: SavedPrompt = await self._bus.request(
                PROMPT_IMPORT_FILE, request, MessageContext(principal=principal)
            )
        except RemoteError as error:
            if error.body.code not in _FILE_REFUSALS:
                raise
            details = [d for d in error.body.details if d.get("message")]
            return SyncFileError(
                path=file.path,
                code=str((error.body.details or [{}])[0].get("type") or error.body.code.value),
                message="; ".join(f"{d.get('loc') or file.path}: {d['message']}" for d in details[:10])[:2000]
                or error.body.message[:2000],
            )
        return SyncedPrompt(
            path=file.path, name=answer.prompt.name, version=answer.prompt.version, created=answer.created
        )


def _transient(error: GitHubError) -> bool:
    """GitHub unreachable, failing or rate-limiting: worth the delivery's retry. Anything else (the
    commit or repository not visible, the installation lacking `contents: read`) will not heal by
    retrying, so it is recorded as the sync's error instead."""
    return isinstance(error, GitHubUnavailable | GitHubRateLimited | GitHubUnexpectedResponse)


def _scope(connection: store.Connected) -> TokenScope:
    return TokenScope.of(repository_ids=[connection.repository_id], permissions={"contents": "read"})
