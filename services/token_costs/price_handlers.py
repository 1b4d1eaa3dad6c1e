"""Bus handlers of team price overrides and re-pricing. Each checks the principal's permission again
and acts in the principal's team only: an override id of another team is not found (404)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from services.pricing.overrides import PriceOverride
from services.token_costs import overrides_store
from services.token_costs.price_book import PriceBook
from services.token_costs.reprice import RepriceBusy, Repricer
from shared.bus.codec import validation_details
from shared.bus.context import MessageContext
from shared.bus.errors import AgentError
from shared.messages.envelope import ErrorCode, Principal
from shared.messages.permissions import Permission
from shared.messages.prices import (
    CreatePriceOverride,
    ListPriceOverrides,
    PriceOverrideInfo,
    PriceOverrideList,
    PriceOverrideRef,
    RepriceRequest,
    RepriceResult,
)
from shared.principals import require, team_of, team_with


def actor_of(principal: Principal) -> str | None:
    """Who to record as having done it: the API key when one was used, else the user."""
    if principal.api_key_id is not None:
        return f"api_key:{principal.api_key_id}"
    return principal.user_id


class PriceOverrides:
    def __init__(self, pool: Any, book: PriceBook, repricer: Repricer) -> None:
        self._pool = pool
        self._book = book
        self._repricer = repricer

    async def list(self, request: ListPriceOverrides, ctx: MessageContext) -> PriceOverrideList:
        team_id = team_with(ctx.principal, Permission.COSTS_READ)
        async with self._pool.acquire() as conn:
            found = await overrides_store.list_for(conn, team_id, include_deleted=request.include_deleted)
        return PriceOverrideList(overrides=found)

    async def create(self, request: CreatePriceOverride, ctx: MessageContext) -> PriceOverrideInfo:
        principal = require(ctx.principal, Permission.PRICES_WRITE)
        team_id = team_of(principal)
        try:
            override = PriceOverride.model_validate(request.model_dump(exclude_none=True))
        except ValidationError as error:
            raise AgentError(
                ErrorCode.VALIDATION_FAILED, "the override is not valid", validation_details(error)
            ) from error
        async with self._pool.acquire() as conn:
            row = await overrides_store.create(conn, team_id, override, actor_of(principal))
        self._book.invalidate(team_id)
        return overrides_store.info_of(row)

    async def delete(self, request: PriceOverrideRef, ctx: MessageContext) -> PriceOverrideInfo:
        principal = require(ctx.principal, Permission.PRICES_WRITE)
        team_id = team_of(principal)
        async with self._pool.acquire() as conn:
            deleted = await overrides_store.delete(conn, team_id, request.override_id, actor_of(principal))
        if deleted is None:
            raise AgentError(ErrorCode.NOT_FOUND, "no such price override in your team")
        self._book.invalidate(team_id)
        return deleted

    async def reprice(self, request: RepriceRequest, ctx: MessageContext) -> RepriceResult:
        principal = require(ctx.principal, Permission.PRICES_WRITE)
        team_id = team_of(principal)
        try:
            return await self._repricer.run(team_id, request, actor_of(principal))
        except RepriceBusy as busy:
            raise AgentError(
                ErrorCode.CONFLICT, "a re-pricing of your team is running; try again when it is done"
            ) from busy
