"""Reported token counts → our disjoint buckets, given which counts include which (pure).

Reporters disagree on what a count holds. The GenAI conventions say ``input_tokens`` includes cache
reads and writes and ``output_tokens`` includes reasoning; Anthropic's own ``input_tokens`` excludes
the cache, Gemini's ``candidates_token_count`` excludes the thoughts, and libraries copy either. So the
emitting library's profile (`services.ingest.otlp_libraries`) says, per provider, whether input
includes the cache and output the reasoning, or that it does not know. A reported total checks that
reading: when it contradicts it, the reading the total confirms wins; when no reading matches and
no reasoning count was sent, the total's surplus over input and output is the reasoning the library
left out (Gemini's thoughts), recovered exactly.

With no profile and no total, the conventions' reading is taken unless the parts exceed the whole
(the reporter cannot have included them then).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product


@dataclass(frozen=True, slots=True)
class Reported:
    """Counts as a span sent them; None when the span did not send one."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None  # all cache writes, 1-hour ones included
    cache_write_1h: int | None = None
    reasoning: int | None = None
    total: int | None = None

    @property
    def cache(self) -> int:
        return (self.cache_read or 0) + (self.cache_write or 0)


@dataclass(frozen=True, slots=True)
class Reading:
    """Which reported counts include which; None: unknown (the reporter does not say)."""

    input_includes_cache: bool | None = None
    output_includes_reasoning: bool | None = None


@dataclass(frozen=True, slots=True)
class Buckets:
    """Disjoint token buckets (the fields of `TokenEventIn`)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
            + self.reasoning_tokens
        )


def _buckets(reported: Reported, input_includes_cache: bool, output_includes_reasoning: bool) -> Buckets:
    read = reported.cache_read or 0
    write_1h = reported.cache_write_1h or 0
    writes = reported.cache_write
    # The cache creation count includes the 1-hour writes (as Anthropic's own total does); one smaller
    # than them counted the 5-minute writes alone.
    write_5m = 0 if writes is None else (writes - write_1h if writes >= write_1h else writes)
    all_writes = write_5m + write_1h
    reasoning = reported.reasoning or 0
    input_total = reported.input or 0
    output_total = reported.output or 0
    uncached = input_total - read - all_writes if input_includes_cache else input_total
    visible = output_total - reasoning if output_includes_reasoning else output_total
    return Buckets(
        input_tokens=max(uncached, 0),
        output_tokens=max(visible, 0),
        cache_read_tokens=read,
        cache_write_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )


def _possible(reported: Reported, input_includes_cache: bool, output_includes_reasoning: bool) -> bool:
    """Whether the parts fit in the wholes under this reading (a whole cannot include more than itself)."""
    if input_includes_cache and (reported.input or 0) < reported.cache + _one_hour_beyond(reported):
        return False
    return not (output_includes_reasoning and (reported.output or 0) < (reported.reasoning or 0))


def _one_hour_beyond(reported: Reported) -> int:
    # 1-hour writes larger than the cache creation count were not part of it (see `_buckets`).
    writes, write_1h = reported.cache_write, reported.cache_write_1h or 0
    return write_1h if writes is None or writes < write_1h else 0


def _choices(known: bool | None) -> tuple[bool, ...]:
    # The conventions' reading (inclusive) first when the reporter does not say.
    return (True, False) if known is None else (known, not known)


def split(reported: Reported, reading: Reading) -> tuple[Buckets, bool]:
    """The disjoint buckets of `reported`, and whether reasoning was recovered from the total."""
    readings = [
        (cache, reasoning)
        for cache, reasoning in product(
            _choices(reading.input_includes_cache), _choices(reading.output_includes_reasoning)
        )
        if _possible(reported, cache, reasoning)
    ]
    if not readings:  # parts exceed wholes under every reading: take every count as disjoint
        readings = [(False, False)]
    if reported.total is not None:
        for cache, reasoning in readings:
            buckets = _buckets(reported, cache, reasoning)
            if buckets.total == reported.total:
                return buckets, False
        if reported.reasoning is None and reading.output_includes_reasoning is not True:
            cache, _ = readings[0]
            buckets = _buckets(reported, cache, False)
            missing = reported.total - buckets.total
            if missing > 0:
                return _with_reasoning(buckets, missing), True
    # Unknown readings: the preferred one among those possible (conventions first).
    known = [
        (cache, reasoning)
        for cache, reasoning in readings
        if reading.input_includes_cache in (None, cache)
        and reading.output_includes_reasoning in (None, reasoning)
    ]
    cache, reasoning = (known or readings)[0]
    return _buckets(reported, cache, reasoning), False


def _with_reasoning(buckets: Buckets, reasoning: int) -> Buckets:
    return Buckets(
        input_tokens=buckets.input_tokens,
        output_tokens=buckets.output_tokens,
        cache_read_tokens=buckets.cache_read_tokens,
        cache_write_tokens=buckets.cache_write_tokens,
        cache_write_1h_tokens=buckets.cache_write_1h_tokens,
        reasoning_tokens=reasoning,
    )
