"""The other direction: a version of a prompt proposed to the team's prompt repository as a pull
request. Through the installation token (narrowed to the repository, `contents` and `pull_requests`
write): the base branch's head, the folder's tree (to replace the prompt's file where it is), a new
branch, the file written on it as `mno prompts pull` writes it, and the pull request into the
connected branch. Audited `prompts.pull_request`."""

from __future__ import annotations

import secrets
from typing import Any

from services.github.client import GitHubClient
from services.github.errors import (
    GitHubError,
    GitHubNotFound,
    GitHubRateLimited,
    GitHubUnavailable,
)
from services.github.token_cache import TokenScope
from services.identity.audit_api import Acting
from services.prompt_sync import store
from services.prompt_sync.plan import TreeFile, folder_files, git_blob_sha, prompt_file, prompt_path
from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode
from shared.messages.prompt_repository import OpenPullRequest, PullRequestOpened
from shared.messages.prompts import PromptLookup, PromptVersionInfo
from shared.messages.registry import PROMPT_GET


def _github_error(repository: str, error: GitHubError) -> AgentError:
    if isinstance(error, GitHubRateLimited | GitHubUnavailable):
        return AgentError(
            ErrorCode.UNAVAILABLE, f"GitHub did not answer for {repository}: {error.message}"[:500]
        )
    return AgentError(
        ErrorCode.CONFLICT,
        f"GitHub refused the pull request on {repository} (the App needs contents and pull requests: "
        f"write): {error.message}"[:500],
        [{"loc": "repository", "type": "github", "status": error.status}],
    )


async def open_pull_request(
    pool: Any,
    github: GitHubClient | None,
    bus: Bus,
    team_id: str,
    acting: Acting,
    ctx: MessageContext,
    request: OpenPullRequest,
) -> PullRequestOpened:
    # The version first: a name the team does not have is 404 whatever else is set up.
    found: PromptVersionInfo = await bus.request(
        PROMPT_GET, PromptLookup(name=request.name, label=request.label, version=request.version), ctx
    )
    async with pool.acquire() as conn:
        connection = await store.connection_of(conn, team_id)
        if connection is None:
            raise AgentError(
                ErrorCode.NOT_FOUND, "no prompt repository is connected", [{"loc": "repository"}]
            )
        if not await store.still_granted(conn, team_id, connection.installation_id, connection.repository_id):
            raise AgentError(
                ErrorCode.CONFLICT,
                f"{connection.full_name} is no longer granted to your account's installation",
                [{"loc": "repository", "type": "not_granted"}],
            )
    if github is None:
        raise AgentError(ErrorCode.UNAVAILABLE, "the GitHub App is not configured here")
    content = prompt_file(found.document.model_dump(mode="json", exclude_none=True)).encode()
    repository = connection.full_name
    scope = TokenScope.of(
        repository_ids=[connection.repository_id], permissions={"contents": "write", "pull_requests": "write"}
    )
    branch = f"mno/prompts/{found.name}-v{found.version}-{secrets.token_hex(3)}"
    try:
        base_sha = await github.get_branch_head(
            connection.installation_id, repository, connection.branch, scope=scope
        )
        tree = await github.get_tree(
            connection.installation_id, repository, base_sha, recursive=True, scope=scope
        )
        files = folder_files(
            [TreeFile(e.path, e.sha, e.size) for e in tree.tree if e.type == "blob"], connection.folder
        )
        path = prompt_path(files, connection.folder, found.name)
        existing = files.get(path)
        if existing is not None and existing.sha == git_blob_sha(content):
            raise AgentError(
                ErrorCode.CONFLICT,
                f"{repository}@{connection.branch} already holds {found.name} v{found.version} in {path}",
                [{"loc": "version", "type": "unchanged"}],
            )
        await github.create_branch(connection.installation_id, repository, branch, base_sha, scope=scope)
        message = f"Prompt {found.name}: v{found.version}"
        commit_sha = await github.put_file(
            connection.installation_id,
            repository,
            path,
            content,
            message=message + (f"\n\n{found.commit_message}" if found.commit_message else ""),
            branch=branch,
            replaces=existing.sha if existing is not None else None,
            scope=scope,
        )
        pull = await github.create_pull_request(
            connection.installation_id,
            repository,
            title=message,
            head=branch,
            base=connection.branch,
            body=(
                f"Version {found.version} of the prompt `{found.name}` "
                f"(content hash `{found.content_hash}`), proposed from MachineNativeOps by "
                f"{acting.principal.user_id or 'an API key'}."
                + (f"\n\n{found.commit_message}" if found.commit_message else "")
            ),
            scope=scope,
        )
    except GitHubNotFound as error:
        raise AgentError(
            ErrorCode.NOT_FOUND,
            f"{repository} has no branch {connection.branch} the App can see: {error.message}"[:500],
            [{"loc": "branch", "type": "not_found"}],
        ) from None
    except GitHubError as error:
        raise _github_error(repository, error) from None
    opened = PullRequestOpened(
        repository=repository,
        number=pull.number,
        url=pull.html_url,
        branch=branch,
        base=connection.branch,
        path=path,
        name=found.name,
        version=found.version,
        commit_sha=commit_sha,
    )
    async with pool.acquire() as conn, conn.transaction():
        await acting.record(
            conn,
            team_id,
            "prompts.pull_request",
            "prompt",
            f"{found.name}@v{found.version}",
            after=opened.model_dump(mode="json"),
        )
    return opened
