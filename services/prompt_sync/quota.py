"""The plan's `prompts` limit as the LearningAgent enforces it in a save's transaction: counted over
every team of the team's account (plans are the SuperAgent's, so it is read here)."""

from __future__ import annotations

from services.identity.plans import PlanBook
from shared.db.inbox import Connection
from shared.messages.prompts import PromptQuota


async def prompt_quota(conn: Connection, plans: PlanBook, team_id: str) -> PromptQuota:
    account_id = await conn.fetchval(
        "SELECT account_id::text FROM super_agent.teams WHERE id = $1::uuid", team_id
    )
    teams = await conn.fetch(
        "SELECT id::text FROM super_agent.teams WHERE account_id = $1::uuid ORDER BY id", account_id
    )
    plan, entitlements = await plans.plan_of_account(conn, account_id)
    return PromptQuota(
        account_id=str(account_id),
        team_ids=[r["id"] for r in teams],
        max_prompts=entitlements.prompts,
        plan=plan,
    )
