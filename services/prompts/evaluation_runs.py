"""One evaluation run: every case of a test set rendered with the candidate version, sent to the
model through a provider adapter, timed and priced, then judged by `evaluation.evaluate`. The
adapter and the pricer are given (I/O at the edges); cases run concurrently up to a bound, and a
case that fails (rendering, the call, pricing) fails alone with its reason."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from mno_wire.usage import Usage
from services.prompts.evaluation import EvaluationResult, Observation, TestCase, TestSet, evaluate
from services.prompts.model_calls import ChatMessage, ChatModel, ChatRequest, ModelCallError
from services.prompts.problems import PromptError
from services.prompts.rendering import PromptVersion, RenderedPrompt, Resolver, render_prompt

# The model that answered and what it used -> the call's price in USD (None: no price known).
Pricer = Callable[[str, Usage], Awaitable[Decimal | None]]


@dataclass(frozen=True)
class CaseRun:
    observation: Observation
    cost_usd: Decimal | None
    usage: Usage | None


@dataclass(frozen=True)
class RunOutcome:
    result: EvaluationResult
    cases: Mapping[str, CaseRun]


def chat_request(rendered: RenderedPrompt, model: str) -> ChatRequest:
    """A text prompt is one user message; a chat prompt its messages as rendered."""
    if rendered.messages is None:
        messages: tuple[ChatMessage, ...] = (ChatMessage("user", rendered.text or ""),)
    else:
        messages = tuple(ChatMessage(m.role, m.content) for m in rendered.messages)
    parameters = {k: v for k, v in rendered.config.items() if k != "model"}
    return ChatRequest(model, messages, parameters)


async def run_case(
    case: TestCase,
    root: PromptVersion,
    resolve: Resolver,
    model: str,
    chat: ChatModel,
    price: Pricer,
) -> CaseRun:
    try:
        # Rendering is synchronous and bounded by the sandbox's budgets; off the loop all the same.
        rendered = await asyncio.to_thread(render_prompt, root, dict(case.variables), resolve)
    except PromptError as error:
        return CaseRun(Observation(case.id, "", error=f"rendering failed: {error}"[:2000]), None, None)
    request = chat_request(rendered, model)
    started = time.perf_counter()
    try:
        answer = await chat.complete(request)
    except ModelCallError as error:
        return CaseRun(Observation(case.id, "", error=str(error)[:2000]), None, None)
    latency_ms = (time.perf_counter() - started) * 1000
    cost = None if answer.usage is None else await price(answer.model, answer.usage)
    return CaseRun(
        Observation(
            case.id,
            answer.output,
            cost_usd=None if cost is None else float(cost),
            latency_ms=latency_ms,
        ),
        cost,
        answer.usage,
    )


async def run_test_set(
    test_set: TestSet,
    root: PromptVersion,
    resolve: Resolver,
    model: str,
    chat: ChatModel,
    price: Pricer,
    concurrency: int,
) -> RunOutcome:
    gate = asyncio.Semaphore(concurrency)

    async def bounded(case: TestCase) -> CaseRun:
        async with gate:
            return await run_case(case, root, resolve, model, chat, price)

    runs = await asyncio.gather(*(bounded(case) for case in test_set.cases))
    by_id = {case.id: run for case, run in zip(test_set.cases, runs, strict=True)}
    # The regex assertion may spend up to its timeout per case: judged off the loop too.
    result = await asyncio.to_thread(evaluate, test_set, {k: v.observation for k, v in by_id.items()})
    return RunOutcome(result, by_id)


def deadline_seconds(cases: int, concurrency: int, call_timeout: float) -> float:
    """How long a run may take at most: every wave of calls at its timeout, and a minute to spare."""
    waves = -(-cases // concurrency)
    return waves * call_timeout + 60.0
