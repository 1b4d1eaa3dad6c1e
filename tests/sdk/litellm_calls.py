"""Run by the LiteLLM venv's Python (tests/sdk/test_litellm.py): LiteLLM calls the stand-in provider
with `MnoLogger` as its callback, and the SDK reports to the edge. argv: provider URL, edge URL, key."""

from __future__ import annotations

import asyncio
import sys
import time

import litellm

from mno_sdk import MnoClient
from mno_sdk.litellm import MnoLogger

CHAT = [{"role": "user", "content": "Hi"}]
EXPECTED_EVENTS = 6


async def async_calls(provider: str, mno: MnoClient) -> None:
    stream = await litellm.acompletion(  # no include_usage: LiteLLM estimates, the event says so
        model="openai/gpt-4o-mini", api_base=f"{provider}/v1", api_key="sk-test", messages=CHAT, stream=True
    )
    async for _ in stream:
        pass
    stream = await litellm.acompletion(
        model="openai/gpt-4o-mini",
        api_base=f"{provider}/v1",
        api_key="sk-test",
        messages=CHAT,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for _ in stream:
        pass
    await litellm.acompletion(
        model="anthropic/claude-sonnet-4-5",
        api_base=provider,
        api_key="sk-ant",
        messages=CHAT,
        max_tokens=100,
    )
    # LiteLLM runs async callbacks on this loop, later: wait for them before the loop ends.
    deadline = time.monotonic() + 30
    while handled(mno) < EXPECTED_EVENTS and time.monotonic() < deadline:
        await mno.aflush(timeout=1)
        await asyncio.sleep(0.1)


def handled(mno: MnoClient) -> int:
    stats = mno.stats
    return stats.sent + stats.rejected + stats.failed + stats.dropped


def main() -> None:
    provider, edge, key = sys.argv[1:4]
    mno = MnoClient(edge, key, flush_interval=0.2)
    litellm.callbacks = [MnoLogger(mno=mno, project="litellm")]
    litellm.completion(
        model="openai/gpt-4o-mini", api_base=f"{provider}/v1", api_key="sk-test", messages=CHAT
    )
    litellm.completion(
        model="anthropic/claude-sonnet-4-5",
        api_base=provider,
        api_key="sk-ant",
        messages=CHAT,
        max_tokens=100,
    )
    for _ in litellm.completion(
        model="anthropic/claude-sonnet-4-5",
        api_base=provider,
        api_key="sk-ant",
        messages=CHAT,
        max_tokens=100,
        stream=True,
    ):
        pass
    asyncio.run(async_calls(provider, mno))
    mno.close()
    print(mno.stats)


if __name__ == "__main__":
    main()
