"""Teams, people with API keys and HTTP calls for the prompt API tests (the session's real mesh)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from multidict import CIMultiDict

from services.identity import apikeys
from shared.messages.permissions import Role, permissions_of_roles
from tests.identity.test_teams_support import account, person


@dataclass(frozen=True)
class Member:
    user_id: str
    team_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_team(pool: asyncpg.Pool) -> str:
    """A new organisation's default team (no subscription: the `free` plan, which sells prompts)."""
    _, team_id = await account(pool, f"org-{uuid.uuid4().hex[:8]}")
    return team_id


async def member(pool: asyncpg.Pool, team_id: str, role: Role) -> Member:
    """A person of the team with the role, and an API key of theirs with the role's permissions
    (requests with it act as that person: approvals and authorship are theirs)."""
    someone = await person(pool, team_id, f"u-{uuid.uuid4().hex[:8]}", role)
    async with pool.acquire() as conn:
        _, token = await apikeys.create(
            conn,
            team_id=team_id,
            name="k",
            permissions=sorted(permissions_of_roles((role.value,))),
            created_by=someone.user_id,
        )
    return Member(someone.user_id, team_id, str(token))


async def api(
    base: str,
    method: str,
    path: str,
    who: Member,
    body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, CIMultiDict[str]]:
    """(status, JSON body or None, response headers) of one call to the edge."""
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            f"{base}{path}",
            json=body,
            params=params,
            headers={**who.headers, **(headers or {})},
        ) as response,
    ):
        text = await response.text()
        return response.status, json.loads(text) if text else None, CIMultiDict(response.headers)


def text_prompt(name: str, template: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "text", "template": template, **extra}
