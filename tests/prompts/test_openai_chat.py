"""The OpenAI-compatible chat-completions adapter against the local stand-in model API (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mno_wire.usage import Usage
from services.prompts.model_calls import ChatMessage, ChatRequest, ModelCallError
from services.prompts.openai_chat import OpenAIChat
from tests.fixtures.mesh import CLOSED_UPSTREAM
from tests.prompts import model_stand_in
from tests.prompts.model_stand_in import API_KEY, ModelStandIn


@pytest.fixture(scope="module")
def model_api() -> Iterator[ModelStandIn]:
    yield from model_stand_in.start(ModelStandIn())


async def test_the_adapter_sends_model_messages_key_and_known_parameters(model_api: ModelStandIn) -> None:
    """One POST to <base>/chat/completions with the bearer key, the model, the messages and only the
    chat-completions parameters of the config; the answer's text, snapshot model and usage come back."""
    chat = OpenAIChat(model_api.url + "/v1/", API_KEY, 10)
    try:
        answer = await chat.complete(
            ChatRequest(
                "gpt-4o-mini",
                (ChatMessage("system", "Be brief."), ChatMessage("user", "adapter check")),
                {"temperature": 0.3, "max_tokens": 50, "team_own_key": "kept home"},
            )
        )
    finally:
        await chat.close()
    sent = model_api.calls_with("adapter check")[-1]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "adapter check"},
        ],
        "temperature": 0.3,
        "max_tokens": 50,
        "stream": False,
    }
    assert answer.output == "Echo: adapter check"
    assert answer.model == "gpt-4o-mini-2024-07-18"
    assert answer.usage == Usage(input_tokens=1000, output_tokens=200)


async def test_refusals_and_unreachable_apis_are_model_call_errors(model_api: ModelStandIn) -> None:
    """A wrong key (401), a provider error (500) and a closed port raise ModelCallError with the
    provider's message, never another exception."""
    request = ChatRequest("gpt-4o-mini", (ChatMessage("user", "hello"),))
    wrong = OpenAIChat(model_api.url + "/v1", "sk-wrong", 10)
    failing = OpenAIChat(model_api.url + "/v1", API_KEY, 10)
    closed = OpenAIChat(CLOSED_UPSTREAM, API_KEY, 10)
    try:
        with pytest.raises(ModelCallError, match="401: Incorrect API key provided"):
            await wrong.complete(request)
        with pytest.raises(ModelCallError, match="500: the stand-in failed on purpose"):
            await failing.complete(ChatRequest("gpt-4o-mini", (ChatMessage("user", "FAIL now"),)))
        with pytest.raises(ModelCallError, match="could not be reached"):
            await closed.complete(request)
    finally:
        for chat in (wrong, failing, closed):
            await chat.close()
