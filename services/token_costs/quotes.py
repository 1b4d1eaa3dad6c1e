"""Price quotes for other agents: one call's usage priced with the team's price book (the maintained
prices with the team's overrides), as that call's token event would be priced. The LearningAgent
asks for its evaluation calls, so a test set's `max_cost_usd` is judged against what the team pays;
pricing stays here, with the prices' owner."""

from __future__ import annotations

from services.pricing.interface import UnknownModel
from services.pricing.models import Usage
from services.token_costs.price_book import PriceBook
from shared.bus.context import MessageContext
from shared.messages.permissions import Permission
from shared.messages.prompt_evaluations import PriceQuote, PriceQuoteRequest
from shared.principals import require, team_of


class PriceQuotes:
    def __init__(self, book: PriceBook) -> None:
        self._book = book

    async def quote(self, request: PriceQuoteRequest, ctx: MessageContext) -> PriceQuote:
        # Asked on behalf of whoever started the evaluation run (who may run evaluations).
        team_id = team_of(require(ctx.principal, Permission.PROMPTS_WRITE))
        source = await self._book.source_for(team_id)
        usage = Usage(
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            cache_read_tokens=request.cache_read_tokens,
            cache_write_tokens=request.cache_write_tokens,
            cache_write_1h_tokens=request.cache_write_1h_tokens,
            reasoning_tokens=request.reasoning_tokens,
        )
        try:
            price = source.price(request.provider, request.model, usage, request.at)
        except UnknownModel:
            return PriceQuote(total_usd=None, price_version=None)
        return PriceQuote(total_usd=price.total, price_version=price.price_version)
