"""Driver of the `litellm` venv: LiteLLM's OTel callback (the class `litellm.callbacks = ["otel"]`
names), its exporter configured from OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS, calling the stand-in
provider through LiteLLM's OpenAI and Anthropic providers.

argv: stand-in provider URL, row names (see tests/compat/rows.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import litellm
from _harness import RowTagger, run, wait_for_span
from litellm.integrations.opentelemetry import OpenTelemetry

CHAT = [{"role": "user", "content": "Hi"}]


def calls(provider: str) -> dict[str, Callable[[], Any]]:
    openai = {
        "model": "openai/gpt-4o-mini",
        "api_base": f"{provider}/v1",
        "api_key": "sk-test",
        "messages": CHAT,
    }
    anthropic = {
        "model": "anthropic/claude-sonnet-4-5",
        "api_base": provider,
        "api_key": "sk-ant",
        "messages": CHAT,
        "max_tokens": 100,
    }

    def drain(stream: Any) -> None:
        for _ in stream:
            pass

    return {
        "openai-chat": lambda: litellm.completion(**openai),
        "openai-chat-stream": lambda: drain(
            litellm.completion(**openai, stream=True, stream_options={"include_usage": True})
        ),
        "openai-chat-stream-no-usage": lambda: drain(litellm.completion(**openai, stream=True)),
        "anthropic-messages": lambda: litellm.completion(**anthropic),
        "anthropic-messages-stream": lambda: drain(litellm.completion(**anthropic, stream=True)),
    }


def main() -> None:
    provider, *rows = sys.argv[1:]
    otel = OpenTelemetry()  # what the "otel" callback string makes
    litellm.callbacks = [otel]
    tracer_provider = otel._tracer_provider
    tracer_provider.add_span_processor(RowTagger())

    def flush() -> None:
        # LiteLLM runs its success callbacks in a thread pool after the call returns: its span ends
        # there, then it can be exported.
        wait_for_span("litellm_request")
        tracer_provider.force_flush()

    run("litellm", rows, calls(provider), flush)
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
