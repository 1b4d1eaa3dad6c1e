"""Routes of team price overrides and re-pricing (`PRICE_ROUTES`).

The MonitoringAgent owns overrides and does the re-pricing; the edge forwards the writes and, once the
agent has answered, appends the audit entry (who, from where, what changed) to the team's chain.
"""

from __future__ import annotations

from pydantic import BaseModel

from agents.super_agent.edge_deps import acting, deps
from services.gateway.route_table import Call, Forward, Local, Route
from shared.messages.permissions import Permission
from shared.messages.prices import (
    CreatePriceOverride,
    PriceOverrideInfo,
    PriceOverrideRef,
    RepriceRequest,
    RepriceResult,
)
from shared.messages.registry import (
    COSTS_REPRICE,
    PRICE_OVERRIDE_CREATE,
    PRICE_OVERRIDE_DELETE,
    PRICE_OVERRIDES_LIST,
)
from shared.principals import team_of

PRICES = ("prices",)
# A run walks up to 400 days of events in chunks; far longer than an ordinary request may take.
REPRICE_TIMEOUT_SECONDS = 300.0


async def _audit(call: Call, action: str, resource_type: str, resource_id: str, **change: object) -> None:
    async with deps(call).pool.acquire() as conn, conn.transaction():
        await acting(call).record(
            conn, team_of(call.ctx.principal), action, resource_type, resource_id, **change
        )


async def override_create(call: Call) -> BaseModel:
    created: PriceOverrideInfo = await deps(call).bus.request(PRICE_OVERRIDE_CREATE, call.input, call.ctx)
    await _audit(call, "prices.overrides.create", "price_override", created.id, after=created)
    return created


async def override_delete(call: Call) -> BaseModel:
    deleted: PriceOverrideInfo = await deps(call).bus.request(PRICE_OVERRIDE_DELETE, call.input, call.ctx)
    await _audit(call, "prices.overrides.delete", "price_override", deleted.id, before=deleted)
    return deleted


async def reprice(call: Call) -> BaseModel:
    # Totals go into the audit entry as strings: the API shows audit numbers as floats.
    result: RepriceResult = await deps(call).bus.request(
        COSTS_REPRICE, call.input, call.ctx, timeout=REPRICE_TIMEOUT_SECONDS
    )
    scope = {"since": result.since, "until": result.until, "provider": result.provider, "model": result.model}
    await _audit(
        call,
        "prices.reprice",
        "reprice_run",
        result.run_id,
        before={**scope, "total_usd": str(result.before_total_usd)},
        after={
            **scope,
            "total_usd": str(result.after_total_usd),
            "events_scanned": result.events_scanned,
            "events_repriced": result.events_repriced,
        },
    )
    return result


PRICE_ROUTES: list[Route] = [
    Route(
        "GET",
        "/api/v1/price-overrides",
        "Your team's price overrides (custom models, negotiated rates, discounts).",
        Permission.COSTS_READ,
        Forward(PRICE_OVERRIDES_LIST),
        tags=PRICES,
        extra_status=(503, 504),
    ),
    Route(
        "POST",
        "/api/v1/price-overrides",
        "Add a price override for your team: per-MTok prices or a discount off the maintained price, "
        "from a date. New events are priced with it at once; re-price to apply it to stored ones.",
        Permission.PRICES_WRITE,
        Local(override_create),
        request=CreatePriceOverride,
        response=PriceOverrideInfo,
        status=201,
        tags=PRICES,
        extra_status=(503, 504),
    ),
    Route(
        "DELETE",
        "/api/v1/price-overrides/{override_id}",
        "Delete one of your team's price overrides (stored events keep their price until re-priced).",
        Permission.PRICES_WRITE,
        Local(override_delete),
        request=PriceOverrideRef,
        response=PriceOverrideInfo,
        tags=PRICES,
        extra_status=(404, 503, 504),
    ),
    Route(
        "POST",
        "/api/v1/costs/reprice",
        "Price your team's stored events in [since, until) again (at most 400 days, optionally one "
        "provider or model) with the prices in force now; returns the totals before and after, audited.",
        Permission.PRICES_WRITE,
        Local(reprice),
        request=RepriceRequest,
        response=RepriceResult,
        tags=PRICES,
        extra_status=(409, 503, 504),
    ),
]
