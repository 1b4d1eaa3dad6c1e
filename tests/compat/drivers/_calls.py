"""The call shapes, made through the real provider SDKs against the stand-in provider.

One function per shape; each reads its whole response (a stream to its end), as an application
does, so the instrumentation sees the call finish. Imported lazily: a venv may lack a provider SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHAT = [{"role": "user", "content": "Hi"}]
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
GEMINI_MODEL = "gemini-2.5-flash"


def openai_calls(provider: str) -> dict[str, Callable[[], Any]]:
    import openai

    client = openai.OpenAI(api_key="sk-test", base_url=f"{provider}/v1", max_retries=0)

    def chat() -> None:
        client.chat.completions.create(model=OPENAI_MODEL, messages=CHAT)  # type: ignore[arg-type]

    def chat_stream() -> None:
        stream = client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=CHAT,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass

    def chat_stream_no_usage() -> None:
        for _ in client.chat.completions.create(model=OPENAI_MODEL, messages=CHAT, stream=True):  # type: ignore[arg-type]
            pass

    def responses() -> None:
        client.responses.create(model=OPENAI_MODEL, input="Hi")

    def responses_stream() -> None:
        for _ in client.responses.create(model=OPENAI_MODEL, input="Hi", stream=True):
            pass

    return {
        "openai-chat": chat,
        "openai-chat-stream": chat_stream,
        "openai-chat-stream-no-usage": chat_stream_no_usage,
        "openai-responses": responses,
        "openai-responses-stream": responses_stream,
    }


def anthropic_calls(provider: str, **options: Any) -> dict[str, Callable[[], Any]]:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-ant", base_url=provider, max_retries=0, **options)

    def messages() -> None:
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, messages=CHAT)  # type: ignore[arg-type]

    def messages_stream() -> None:
        stream = client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=100,
            messages=CHAT,  # type: ignore[arg-type]
            stream=True,
        )
        for _ in stream:
            pass

    def messages_thinking() -> None:
        client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=2000,
            messages=CHAT,  # type: ignore[arg-type]
            thinking={"type": "enabled", "budget_tokens": 1024},
        )

    return {
        "anthropic-messages": messages,
        "anthropic-messages-stream": messages_stream,
        "anthropic-messages-thinking": messages_thinking,
    }


def calls_for(rows: list[str], provider: str, **anthropic_options: Any) -> dict[str, Callable[[], Any]]:
    """The calls of `rows` (named `<provider>-<shape>`), importing only the SDKs they need."""
    makers: dict[str, Callable[[], dict[str, Callable[[], Any]]]] = {
        "openai": lambda: openai_calls(provider),
        "anthropic": lambda: anthropic_calls(provider, **anthropic_options),
        "gemini": lambda: gemini_calls(provider),
    }
    calls: dict[str, Callable[[], Any]] = {}
    for name in sorted({row.split("-", 1)[0] for row in rows}):
        calls.update(makers[name]())
    return calls


def gemini_calls(provider: str) -> dict[str, Callable[[], Any]]:
    from google import genai

    client = genai.Client(api_key="gm-test", http_options={"base_url": provider, "api_version": "v1beta"})

    def generate() -> None:
        client.models.generate_content(model=GEMINI_MODEL, contents="Hi")

    def generate_stream() -> None:
        for _ in client.models.generate_content_stream(model=GEMINI_MODEL, contents="Hi"):
            pass

    return {"gemini-generate-content": generate, "gemini-generate-content-stream": generate_stream}
