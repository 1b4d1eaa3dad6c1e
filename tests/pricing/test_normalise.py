"""Provider usage shapes normalise into disjoint `Usage` buckets."""

import pytest

from services.pricing.models import Usage, from_anthropic, from_gemini, from_openai


def test_openai_chat_cached_and_reasoning_are_split_out() -> None:
    """OpenAI prompt_tokens include cached tokens and completion_tokens include reasoning tokens."""
    usage = from_openai(
        {
            "prompt_tokens": 10_000,
            "completion_tokens": 3_000,
            "total_tokens": 13_000,
            "prompt_tokens_details": {"cached_tokens": 4_000, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2_000},
        }
    )
    assert usage == Usage(
        input_tokens=6_000, cache_read_tokens=4_000, output_tokens=1_000, reasoning_tokens=2_000
    )
    assert usage.total_input_tokens == 10_000
    assert usage.total_output_tokens == 3_000


def test_openai_responses_api_shape_has_the_same_semantics() -> None:
    """The Responses API's input_tokens/output_tokens are totals like prompt/completion tokens."""
    usage = from_openai(
        {
            "input_tokens": 500,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 80,
            "output_tokens_details": {"reasoning_tokens": 30},
            "total_tokens": 580,
        }
    )
    assert usage == Usage(input_tokens=400, cache_read_tokens=100, output_tokens=50, reasoning_tokens=30)


def test_openai_without_details_has_no_cache_or_reasoning() -> None:
    """Missing *_details objects mean zero cached and zero reasoning tokens."""
    assert from_openai({"prompt_tokens": 7, "completion_tokens": 3}) == Usage(input_tokens=7, output_tokens=3)


def test_openai_cached_above_prompt_is_rejected() -> None:
    """A cached count larger than the prompt is inconsistent data and raises ValueError."""
    with pytest.raises(ValueError, match="cannot exceed"):
        from_openai(
            {"prompt_tokens": 10, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 11}}
        )


def test_anthropic_input_already_excludes_cache_tokens() -> None:
    """Anthropic input_tokens is kept as is; cache read and cache creation come from their own fields."""
    usage = from_anthropic(
        {
            "input_tokens": 1_000,
            "cache_read_input_tokens": 20_000,
            "cache_creation_input_tokens": 5_000,
            "output_tokens": 2_000,
        }
    )
    assert usage == Usage(
        input_tokens=1_000, cache_read_tokens=20_000, cache_write_tokens=5_000, output_tokens=2_000
    )
    assert usage.total_input_tokens == 26_000


def test_anthropic_null_cache_fields_are_zero() -> None:
    """Anthropic may send null cache fields; they count as zero."""
    usage = from_anthropic(
        {
            "input_tokens": 12,
            "output_tokens": 5,
            "cache_read_input_tokens": None,
            "cache_creation_input_tokens": None,
        }
    )
    assert usage == Usage(input_tokens=12, output_tokens=5)


def test_gemini_prompt_includes_cached_and_thoughts_are_separate_output() -> None:
    """Gemini promptTokenCount includes cachedContentTokenCount; thoughtsTokenCount is extra output."""
    usage = from_gemini(
        {
            "promptTokenCount": 12_000,
            "cachedContentTokenCount": 10_000,
            "candidatesTokenCount": 500,
            "thoughtsTokenCount": 1_500,
            "totalTokenCount": 14_000,
        }
    )
    assert usage == Usage(
        input_tokens=2_000, cache_read_tokens=10_000, output_tokens=500, reasoning_tokens=1_500
    )


def test_gemini_snake_case_and_tool_use_prompt() -> None:
    """The Python SDK's snake_case keys work, and tool-use prompt tokens are uncached input."""
    usage = from_gemini(
        {"prompt_token_count": 100, "candidates_token_count": 10, "tool_use_prompt_token_count": 7}
    )
    assert usage == Usage(input_tokens=107, output_tokens=10)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_provider_counts_must_be_non_negative_ints(bad: object) -> None:
    """Negative, fractional, string or boolean token counts are rejected."""
    with pytest.raises(ValueError, match="non-negative integer"):
        from_anthropic({"input_tokens": bad, "output_tokens": 1})


def test_usage_rejects_negative_and_unknown_fields() -> None:
    """Usage is strict: negative, fractional or boolean counts and unknown buckets are refused, and it is
    immutable."""
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="input_tokens must be a non-negative integer"):
            Usage(input_tokens=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Usage(audio_tokens=1)  # type: ignore[call-arg]
    usage = Usage(input_tokens=1)
    with pytest.raises(AttributeError):
        usage.input_tokens = 2  # type: ignore[misc]
