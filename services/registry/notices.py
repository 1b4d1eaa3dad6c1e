"""The registry's change notices (`REGISTRY_CHANGED`): after a commit that changes what a team's
registry reads answer, every edge replica drops that team's cached registry answers
(services/gateway/team_cache.py; the edge's routes in agents/super_agent/routes/registry_*.py).

What the edge keeps is what only this agent's commits change (answers marked `cacheable`): the
Python index and a private project's page (HTML or JSON), a private file's location (and its core
metadata's), a private npm packument (full or abbreviated) and tarball location. So a notice follows
every commit that changes one of those: publish, yank/unyank, delete of a version or package, npm
dist-tag changes, deprecation and unpublish (`announcing`, wrapped around those endpoints), and the
SupplyChainAgent's download decisions applied here (`download_policy.DownloadPolicyConsumer`: a
blocked version's file must stop being served at once, not when the edge's entry expires). Every
decision is announced, whether it is about a team's own version or one its upstream serves (blocks,
releases, the policy, overrides): the consumer does not tell them apart, so no decision can reach the
registry without the edges dropping what they keep of the team.

Upstream answers (pages, packuments and files of names a team does not publish) are never kept at
the edge: what they answer moves with the upstream's own cache and with the clock (a quarantine
ends by itself), which no commit announces. An upstream cache fill (a file fetched and recorded
for the team, a large document stored) therefore changes no answer the edge keeps, and sends no
notice.

A notice is not stored: one sent while an edge was disconnected is lost there, so the edge forgets
everything when its bus reconnects and every entry expires after `registry.edge_cache_ttl_seconds`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from shared.bus.client import Bus
from shared.bus.context import MessageContext
from shared.messages.artifacts import Ecosystem, RegistryChanged
from shared.messages.envelope import Principal
from shared.messages.registry import REGISTRY_CHANGED

__all__ = ["announce", "announcing"]

log = structlog.get_logger("mno.registry.notices")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

# What changed, from an endpoint's request and answer: the package (ecosystem and name, either may
# be unknown), or None when the answer says nothing changed (e.g. a deprecation to the same text).
Changed = Callable[[Any, Any], tuple[Ecosystem | None, str | None] | None]


async def announce(
    bus: Bus, team_id: str, ecosystem: Ecosystem | None = None, name: str | None = None
) -> None:
    """Broadcast that the team's registry reads changed; raises when the bus cannot take it."""
    notice = RegistryChanged(team_id=team_id, ecosystem=ecosystem, name=name)
    await bus.notify(REGISTRY_CHANGED, notice, MessageContext(principal=Principal.system()))


def announcing(
    bus: Bus, handler: Callable[[T, MessageContext], Awaitable[R]], changed: Changed
) -> Callable[[T, MessageContext], Awaitable[R]]:
    """`handler`, then a `REGISTRY_CHANGED` notice for the principal's team, when `changed` says
    something changed. The handler's transaction has committed by then: a notice that cannot be sent
    is logged, not raised (the change stands), and the edges' cache expiry bounds how long they answer
    the older read."""

    async def handle(request: T, ctx: MessageContext) -> R:
        answer = await handler(request, ctx)
        what = changed(request, answer)
        team_id = ctx.principal.team_id if ctx.principal is not None else None
        if what is not None and team_id is not None:
            try:
                await announce(bus, team_id, *what)
            except Exception as error:  # the bus is down; the change itself stands
                log.warning("registry_changed notice not sent", team_id=team_id, error=repr(error))
        return answer

    return handle
