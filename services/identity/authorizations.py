"""`github_app_authorization.revoked`: a user withdrew the App's authorisation on GitHub, so the
tokens we hold for them are dead and their sessions (which rest on them) end now."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.identity import sessions, users
from services.identity.installations import GitHubAccountRef
from services.webhooks.deliveries import StoredDelivery
from services.webhooks.processing import Outcome, WebhookDispatcher
from shared.db.inbox import Connection


class AuthorizationEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action: str
    sender: GitHubAccountRef


async def on_authorization(conn: Connection, stored: StoredDelivery) -> Outcome:
    event = AuthorizationEvent.model_validate(stored.payload)
    if event.action != "revoked":
        return Outcome("ignored", f"github_app_authorization action {event.action!r} needs nothing from us")
    user_id = await conn.fetchval(
        "SELECT id::text FROM super_agent.users WHERE github_id = $1", event.sender.id
    )
    if user_id is None:
        return Outcome("ignored", f"{event.sender.login} never signed in here")
    await users.forget_tokens(conn, user_id)
    ended = await sessions.revoke_all_for_user(conn, user_id)
    return Outcome("processed", f"{event.sender.login}: tokens forgotten, {ended} session(s) ended")


def register_authorization_handlers(dispatcher: WebhookDispatcher) -> None:
    dispatcher.register("app", "github_app_authorization", on_authorization)
