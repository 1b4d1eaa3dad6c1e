"""What an evaluation run needs from a model provider: one chat completion. Adapters (one per API
shape: `openai_chat` for OpenAI-compatible chat completions) do the I/O; the runner measures,
prices and judges what they answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mno_wire.usage import Usage


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    # Generation parameters from the version's config (temperature, max_tokens, ...).
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatAnswer:
    output: str
    # The model the provider says answered (a dated snapshot of the alias asked for, often).
    model: str
    usage: Usage | None


class ModelCallError(Exception):
    """The call failed (transport, status, shape): the case fails with this message."""


class ChatModel(Protocol):
    async def complete(self, request: ChatRequest) -> ChatAnswer: ...

    async def close(self) -> None: ...
