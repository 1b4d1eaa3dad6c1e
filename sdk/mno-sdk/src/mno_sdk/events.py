"""One recorded call as the JSON event the ingest endpoint takes, validated where it is recorded."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, TypedDict, cast

from mno_wire.token_events import TokenEventIn
from mno_wire.usage import Usage

# The tag a rendered prompt's content hash travels in (group costs by it: `group_by=tag:prompt_hash`).
PROMPT_HASH_TAG = "prompt_hash"


class PromptUsed(Protocol):
    """A prompt a call was made with: `get_prompt`'s `Prompt` or `render_prompt`'s `RenderedPrompt`."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int | None: ...

    @property
    def content_hash(self) -> str | None: ...


class AssignmentUsed(Protocol):
    """An experiment assignment a call served (`assign`'s `ExperimentAssignment`)."""

    @property
    def prompt(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def tags(self) -> dict[str, str]: ...


class EventContext(TypedDict, total=False):
    """What a caller may add to a recorded call besides its provider, model and usage."""

    latency_ms: float | None
    user: str | None
    project: str | None
    tags: Mapping[str, str] | None
    prompt_name: str | None
    prompt_version: str | None
    # The prompt (its name, version and content hash) and the experiment assignment the call served:
    # their fields fill what the caller left out, and their tags join the caller's.
    prompt: PromptUsed | None
    experiment: AssignmentUsed | None
    request_id: str | None
    timestamp: datetime | None
    status: str
    event_id: str | None
    # Token fields the reporter could not know exactly (e.g. a stream whose provider sent no usage
    # and whose counts were estimated by a tokenizer): the server keeps the flag with the event.
    estimated_counts: Sequence[str]


class CallContext(EventContext, total=False):
    """`EventContext` plus the model, for calls whose response names one (the caller's wins)."""

    model: str


def split_model(context: CallContext) -> tuple[str | None, EventContext]:
    """The caller's model, and the rest of the context."""
    rest = dict(context)
    model = rest.pop("model", None)
    return (model if isinstance(model, str) else None), cast(EventContext, rest)


def new_event_id() -> str:
    return uuid.uuid4().hex


def build_event(
    provider: str,
    model: str,
    usage: Usage,
    *,
    event_id: str | None = None,
    latency_ms: float | None = None,
    user: str | None = None,
    project: str | None = None,
    tags: Mapping[str, str] | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    prompt: PromptUsed | None = None,
    experiment: AssignmentUsed | None = None,
    request_id: str | None = None,
    timestamp: datetime | None = None,
    status: str = "ok",
    estimated_counts: Sequence[str] = (),
) -> dict[str, Any]:
    """The event as JSON-ready data; raises ValueError (pydantic's ValidationError) when invalid.

    Validating here, with the server's own model, makes a bad argument fail in the caller's code
    instead of as a rejection seconds later. The timestamp is taken now, not when the batch leaves.
    """
    tags = dict(tags or {})
    if prompt is not None:
        prompt_name = prompt_name or prompt.name
        if prompt_version is None and prompt.version is not None:
            prompt_version = str(prompt.version)
        if prompt.content_hash:
            tags.setdefault(PROMPT_HASH_TAG, prompt.content_hash)
    if experiment is not None:
        prompt_name = prompt_name or experiment.prompt
        if prompt_version is None:
            prompt_version = str(experiment.version)
        for key, value in experiment.tags.items():
            tags.setdefault(key, value)
    event = TokenEventIn(
        id=event_id or new_event_id(),
        timestamp=timestamp or datetime.now(timezone.utc),
        provider=provider,
        model=model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        latency_ms=latency_ms,
        status=status,
        user=user,
        project=project,
        tags=tags,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        request_id=request_id,
        estimated_counts=list(estimated_counts),
    )
    data = event.model_dump(mode="json", exclude_none=True)
    if not data["estimated_counts"]:
        del data["estimated_counts"]  # likewise left out when empty, for older servers
    if not data["cache_write_1h_tokens"]:
        # Left out when zero: servers older than this token kind refuse fields they do not know.
        del data["cache_write_1h_tokens"]
    return data
