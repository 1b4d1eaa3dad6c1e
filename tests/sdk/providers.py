"""Fake provider responses in the providers' documented shapes: as SDK-like objects and as REST JSON.

The objects are small classes with attributes (as the provider SDKs' response objects are read),
one family is pydantic (like the `openai` and `anthropic` SDKs' models), and the dicts are the
REST APIs' JSON. Each case states the disjoint buckets it must map to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

# ---- OpenAI Chat Completions ------------------------------------------------------------------


@dataclass
class PromptTokensDetails:
    cached_tokens: int | None = None
    audio_tokens: int | None = None


@dataclass
class CompletionTokensDetails:
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


@dataclass
class CompletionUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


@dataclass
class ChatCompletion:
    id: str
    model: str
    usage: CompletionUsage | None
    object: str = "chat.completion"
    choices: list[Any] = field(default_factory=list)


OPENAI_CHAT_OBJECT = ChatCompletion(
    id="chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    model="o4-mini-2025-04-16",
    usage=CompletionUsage(
        prompt_tokens=2006,
        completion_tokens=300,
        total_tokens=2306,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1920, audio_tokens=0),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=192, audio_tokens=0, accepted_prediction_tokens=0, rejected_prediction_tokens=0
        ),
    ),
)

OPENAI_CHAT_JSON: dict[str, Any] = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "o4-mini-2025-04-16",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 192,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
}

# 2006 prompt of which 1920 cached; 300 completion of which 192 reasoning.
OPENAI_CHAT_BUCKETS = {
    "input_tokens": 86,
    "cache_read_tokens": 1920,
    "cache_write_tokens": 0,
    "output_tokens": 108,
    "reasoning_tokens": 192,
}

# ---- OpenAI Responses API, as pydantic models (like the openai SDK's) ---------------------------


class InputTokensDetails(BaseModel):
    cached_tokens: int


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class Response(BaseModel):
    id: str
    object: str = "response"
    model: str
    status: str = "completed"
    output: list[dict[str, Any]] = []
    usage: ResponseUsage | None = None


OPENAI_RESPONSES_OBJECT = Response(
    id="resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    model="o3-2025-04-16",
    usage=ResponseUsage(
        input_tokens=328,
        input_tokens_details=InputTokensDetails(cached_tokens=128),
        output_tokens=52,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=32),
        total_tokens=380,
    ),
)

OPENAI_RESPONSES_JSON: dict[str, Any] = OPENAI_RESPONSES_OBJECT.model_dump(mode="json")

OPENAI_RESPONSES_BUCKETS = {
    "input_tokens": 200,
    "cache_read_tokens": 128,
    "cache_write_tokens": 0,
    "output_tokens": 20,
    "reasoning_tokens": 32,
}

# ---- Anthropic Messages -----------------------------------------------------------------------


@dataclass
class CacheCreation:
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


@dataclass
class AnthropicUsage:
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation: CacheCreation | None = None
    service_tier: str | None = "standard"


@dataclass
class Message:
    id: str
    model: str
    usage: AnthropicUsage
    type: str = "message"
    role: str = "assistant"
    content: list[Any] = field(default_factory=list)
    stop_reason: str | None = "end_turn"


ANTHROPIC_OBJECT = Message(
    id="msg_01XFDUDYJgAACzvnptvVoYEL",
    model="claude-sonnet-4-5-20250929",
    usage=AnthropicUsage(
        input_tokens=21,
        output_tokens=393,
        cache_creation_input_tokens=1880,
        cache_read_input_tokens=10_500,
        cache_creation=CacheCreation(ephemeral_5m_input_tokens=1880),
    ),
)

ANTHROPIC_JSON: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 1880,
        "cache_read_input_tokens": 10_500,
        "cache_creation": {"ephemeral_5m_input_tokens": 1880, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 393,
        "service_tier": "standard",
    },
}

# Anthropic's input_tokens already exclude both cache buckets.
ANTHROPIC_BUCKETS = {
    "input_tokens": 21,
    "cache_read_tokens": 10_500,
    "cache_write_tokens": 1880,
    "output_tokens": 393,
    "reasoning_tokens": 0,
}

# ---- Gemini generateContent (google-genai's snake_case objects, REST camelCase JSON) -------------


@dataclass
class ModalityTokenCount:
    modality: str
    token_count: int


@dataclass
class UsageMetadata:
    prompt_token_count: int
    candidates_token_count: int
    total_token_count: int
    cached_content_token_count: int | None = None
    thoughts_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None


@dataclass
class GenerateContentResponse:
    usage_metadata: UsageMetadata | None
    model_version: str | None
    response_id: str | None
    candidates: list[Any] = field(default_factory=list)


GEMINI_OBJECT = GenerateContentResponse(
    usage_metadata=UsageMetadata(
        prompt_token_count=1200,
        candidates_token_count=300,
        total_token_count=1700,
        cached_content_token_count=1000,
        thoughts_token_count=200,
        prompt_tokens_details=[ModalityTokenCount("TEXT", 1200)],
    ),
    model_version="gemini-2.5-flash",
    response_id="mKpfaPaLI8asvdIPn9DxqAk",
)

GEMINI_JSON: dict[str, Any] = {
    "candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "finishReason": "STOP"}],
    "usageMetadata": {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 300,
        "totalTokenCount": 1700,
        "cachedContentTokenCount": 1000,
        "thoughtsTokenCount": 200,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mKpfaPaLI8asvdIPn9DxqAk",
}

# promptTokenCount includes the cached tokens; thoughts are outside candidatesTokenCount.
GEMINI_BUCKETS = {
    "input_tokens": 200,
    "cache_read_tokens": 1000,
    "cache_write_tokens": 0,
    "output_tokens": 300,
    "reasoning_tokens": 200,
}

# A response with prompt-cache writes of both lifetimes (`cache_control: {"ttl": "1h"}` on a block):
# cache_creation_input_tokens is their total, the breakdown says how many went to the 1-hour cache.
ANTHROPIC_1H_OBJECT = Message(
    id="msg_01XFDUDYJgAACzvnptvVoYEL",
    model="claude-sonnet-4-5-20250929",
    usage=AnthropicUsage(
        input_tokens=21,
        output_tokens=393,
        cache_creation_input_tokens=5_000,
        cache_read_input_tokens=10_500,
        cache_creation=CacheCreation(ephemeral_5m_input_tokens=1_000, ephemeral_1h_input_tokens=4_000),
    ),
)

ANTHROPIC_1H_JSON: dict[str, Any] = {
    **ANTHROPIC_JSON,
    "usage": {
        "input_tokens": 21,
        "cache_creation_input_tokens": 5_000,
        "cache_read_input_tokens": 10_500,
        "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 4_000},
        "output_tokens": 393,
        "service_tier": "standard",
    },
}

ANTHROPIC_1H_BUCKETS = {
    "input_tokens": 21,
    "cache_read_tokens": 10_500,
    "cache_write_tokens": 1_000,
    "cache_write_1h_tokens": 4_000,
    "output_tokens": 393,
    "reasoning_tokens": 0,
}
