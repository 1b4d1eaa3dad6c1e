"""OpenAI-shaped usage as other providers and proxies send it: each cache read/write key in its bucket."""

from __future__ import annotations

from typing import Any

import pytest

from services.pricing.models import Usage, from_openai

# prompt 3,000 = 400 uncached + 2,000 cache reads + 600 cache writes; completion 500 = 380 + 120 reasoning.
EXPECTED = Usage(
    input_tokens=400, cache_read_tokens=2000, cache_write_tokens=600, output_tokens=380, reasoning_tokens=120
)
COMPLETION = {"completion_tokens": 500, "completion_tokens_details": {"reasoning_tokens": 120}}

SHAPES: dict[str, dict[str, Any]] = {
    # LiteLLM's Usage for an Anthropic call, as `model_dump()` gives it: both names of each count.
    "litellm anthropic": {
        "prompt_tokens": 3000,
        "total_tokens": 3500,
        "cache_creation_input_tokens": 600,
        "cache_read_input_tokens": 2000,
        "prompt_tokens_details": {
            "cached_tokens": 2000,
            "cache_creation_tokens": 600,
            "cache_write_tokens": 600,
            "text_tokens": 400,
            "audio_tokens": None,
        },
        **COMPLETION,
    },
    "top-level anthropic-style keys only": {
        "prompt_tokens": 3000,
        "cache_creation_input_tokens": 600,
        "cache_read_input_tokens": 2000,
        **COMPLETION,
    },
    "prompt_tokens_details.cache_creation_tokens": {
        "prompt_tokens": 3000,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_creation_tokens": 600},
        **COMPLETION,
    },
    "prompt_tokens_details.cache_write_tokens (OpenRouter)": {
        "prompt_tokens": 3000,
        "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 600, "audio_tokens": 0},
        **COMPLETION,
    },
    "Responses API with cache writes": {
        "input_tokens": 3000,
        "input_tokens_details": {"cached_tokens": 2000, "cache_creation_tokens": 600},
        "output_tokens": 500,
        "output_tokens_details": {"reasoning_tokens": 120},
    },
}


@pytest.mark.parametrize("shape", SHAPES)
def test_cache_writes_and_reads_of_every_openai_shaped_key_are_split_out(shape: str) -> None:
    """Each proxy's/provider's cache write and read keys leave only uncached tokens in input."""
    assert from_openai(SHAPES[shape]) == EXPECTED


def test_litellm_one_hour_cache_writes_are_their_own_bucket() -> None:
    """LiteLLM's cache_creation_token_details.ephemeral_1h_input_tokens are priced as 1-hour writes."""
    usage = from_openai(
        {
            "prompt_tokens": 3000,
            "completion_tokens": 10,
            "cache_creation_input_tokens": 600,
            "prompt_tokens_details": {
                "cached_tokens": 2000,
                "cache_creation_tokens": 600,
                "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": 200,
                    "ephemeral_1h_input_tokens": 400,
                },
            },
        }
    )
    assert usage == Usage(
        input_tokens=400,
        cache_read_tokens=2000,
        cache_write_tokens=200,
        cache_write_1h_tokens=400,
        output_tokens=10,
    )


def test_deepseek_cache_hit_tokens_are_cache_reads() -> None:
    """DeepSeek's prompt_cache_hit_tokens are cache reads (its prompt_tokens = hit + miss)."""
    usage = from_openai(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 50,
            "prompt_cache_hit_tokens": 700,
            "prompt_cache_miss_tokens": 300,
        }
    )
    assert usage == Usage(input_tokens=300, cache_read_tokens=700, output_tokens=50)


def test_deepseek_hit_and_miss_without_prompt_total() -> None:
    """Hit + miss make the prompt when prompt_tokens is absent."""
    usage = from_openai(
        {"completion_tokens": 5, "prompt_cache_hit_tokens": 70, "prompt_cache_miss_tokens": 30}
    )
    assert usage == Usage(input_tokens=30, cache_read_tokens=70, output_tokens=5)


def test_moonshot_top_level_cached_tokens_are_cache_reads() -> None:
    """Moonshot's top-level cached_tokens are cache reads."""
    usage = from_openai({"prompt_tokens": 1000, "completion_tokens": 50, "cached_tokens": 800})
    assert usage == Usage(input_tokens=200, cache_read_tokens=800, output_tokens=50)


def test_cache_counts_larger_than_the_prompt_are_refused() -> None:
    """Reads + writes above prompt_tokens cannot be parts of it: a ValueError, never a negative count."""
    with pytest.raises(ValueError, match="cache read \\+ cache write"):
        from_openai({"prompt_tokens": 100, "cache_read_input_tokens": 80, "cache_creation_input_tokens": 40})
