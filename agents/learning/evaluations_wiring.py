"""Evaluation runs on the LearningAgent: test sets, runs, the model API adapter from configuration,
and prices asked of the MonitoringAgent (the prices' owner, with the team's overrides)."""

from __future__ import annotations

from typing import Any

from services.prompts.evaluations import Evaluations
from services.prompts.openai_chat import OpenAIChat
from services.prompts.service import answers
from shared.bus.context import MessageContext
from shared.messages.prompt_evaluations import PriceQuote, PriceQuoteRequest
from shared.messages.registry import (
    PRICE_QUOTE,
    PROMPT_EVALUATION_GET,
    PROMPT_EVALUATION_LIST,
    PROMPT_EVALUATION_START,
    PROMPT_TEST_SET_GET,
    PROMPT_TEST_SET_PUT,
)
from shared.runtime import AgentRuntime


def wire_evaluations(runtime: AgentRuntime, pool: Any) -> Evaluations:
    settings = runtime.settings.evaluations
    chat = None
    if settings.base_url is not None:
        key = None if settings.api_key is None else settings.api_key.get_secret_value()
        chat = OpenAIChat(settings.base_url, key, settings.timeout_seconds)
    bus = runtime.bus

    async def quote(request: PriceQuoteRequest, ctx: MessageContext) -> PriceQuote:
        return await bus.request(PRICE_QUOTE, request, ctx)

    evaluations = Evaluations(
        pool,
        chat,
        quote,
        provider=settings.provider,
        call_timeout=settings.timeout_seconds,
        concurrency=settings.concurrency,
    )
    service = runtime.service
    service.add(PROMPT_TEST_SET_PUT, answers(evaluations.put_test_set))
    service.add(PROMPT_TEST_SET_GET, answers(evaluations.get_test_set))
    service.add(PROMPT_EVALUATION_START, answers(evaluations.start))
    service.add(PROMPT_EVALUATION_GET, answers(evaluations.get))
    service.add(PROMPT_EVALUATION_LIST, answers(evaluations.list_runs))
    runtime.on_shutdown(evaluations.close)
    return evaluations
