"""A team's prompt repository through the edge: connect (only a repository an active installation of
the team's own account grants), read with the last sync's outcome, disconnect. Every change is audited
in the same transaction. Another account's repository is "not found", never "forbidden"."""

from __future__ import annotations

from services.identity.audit_api import Acting
from services.prompt_sync import store
from shared.bus.errors import AgentError
from shared.db.inbox import Connection
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.prompt_repository import ConnectRepository, PromptRepositoryInfo, RepositoryDisconnected

RESOURCE = "prompt_repository"


def _who(principal: Principal) -> str:
    if principal.user_id is not None:
        return principal.user_id
    return f"key:{principal.api_key_id}" if principal.api_key_id else "unknown"


def _none_connected() -> AgentError:
    return AgentError(ErrorCode.NOT_FOUND, "no prompt repository is connected", [{"loc": "repository"}])


async def connect(
    conn: Connection, team_id: str, acting: Acting, request: ConnectRepository
) -> PromptRepositoryInfo:
    async with conn.transaction():
        granted = await store.granted_repository(conn, team_id, request.repository)
        if granted is None:
            raise AgentError(
                ErrorCode.NOT_FOUND,
                f"{request.repository} is not a repository your account's GitHub App installation grants",
                [{"loc": "repository", "type": "not_found"}],
            )
        before = await store.info(conn, team_id)
        await store.connect(conn, team_id, granted, request.branch, request.folder, _who(acting.principal))
        after = await store.info(conn, team_id)
        assert after is not None
        await acting.record(
            conn,
            team_id,
            "prompts.repository_connect",
            RESOURCE,
            after.repository,
            before=None if before is None else _audited(before),
            after=_audited(after),
        )
    return after


async def read(conn: Connection, team_id: str) -> PromptRepositoryInfo:
    found = await store.info(conn, team_id)
    if found is None:
        raise _none_connected()
    return found


async def disconnect(conn: Connection, team_id: str, acting: Acting) -> RepositoryDisconnected:
    async with conn.transaction():
        before = await store.info(conn, team_id)
        if before is None or await store.disconnect(conn, team_id) is None:
            raise _none_connected()
        await acting.record(
            conn,
            team_id,
            "prompts.repository_disconnect",
            RESOURCE,
            before.repository,
            before=_audited(before),
        )
    return RepositoryDisconnected(repository=before.repository)


def _audited(info: PromptRepositoryInfo) -> dict[str, object]:
    return {
        "repository": info.repository,
        "repository_id": info.repository_id,
        "installation_id": info.installation_id,
        "branch": info.branch,
        "folder": info.folder,
    }
