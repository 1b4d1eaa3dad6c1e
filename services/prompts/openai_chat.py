"""The OpenAI-compatible chat-completions adapter (`POST <base_url>/chat/completions`): OpenAI
itself, Azure-style gateways, LiteLLM, vLLM, Ollama and most providers speak it. aiohttp rather than
the `openai` package: one non-streamed POST needs no SDK, and the server keeps no provider SDKs."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from mno_wire.usage import Usage, from_openai
from services.prompts.model_calls import ChatAnswer, ChatRequest, ModelCallError

# The parameters of a version's config that chat completions understands; others (a team's own
# keys) stay ours.
PASSED_PARAMETERS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "reasoning_effort",
    }
)
MAX_ANSWER_BYTES = 8 * 1024 * 1024


class OpenAIChat:
    def __init__(self, base_url: str, api_key: str | None, timeout_seconds: float) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def body(self, request: ChatRequest) -> dict[str, Any]:
        parameters = {k: v for k, v in request.parameters.items() if k in PASSED_PARAMETERS}
        return {
            **parameters,
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": False,
        }

    async def complete(self, request: ChatRequest) -> ChatAnswer:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            async with self._http().post(self._url, json=self.body(request), headers=headers) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ModelCallError(
                f"the model API could not be reached: {type(error).__name__} {error}"
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise ModelCallError(f"the answer is over {MAX_ANSWER_BYTES} bytes")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ModelCallError(f"the model API answered {status} with no JSON") from None
        if status != 200:
            raise ModelCallError(f"the model API answered {status}: {_error_message(answer)}")
        return parse_answer(answer, request.model)


def _error_message(answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:500]
    return json.dumps(answer)[:500]


def parse_answer(answer: Any, asked_model: str) -> ChatAnswer:
    """The first choice's text (content parts joined), the model that answered and the usage."""
    try:
        message = answer["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ModelCallError("the answer has no choices[0].message") from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if content is None and isinstance(message, dict) and message.get("refusal"):
        raise ModelCallError(f"the model refused: {str(message['refusal'])[:500]}")
    if not isinstance(content, str):
        raise ModelCallError("the answer's message has no text content")
    usage: Usage | None = None
    if isinstance(answer.get("usage"), dict):
        try:
            usage = from_openai(answer["usage"])
        except (ValueError, TypeError):
            usage = None
    model = answer.get("model")
    return ChatAnswer(content, model if isinstance(model, str) and model else asked_model, usage)
