"""The compatibility rows: library x provider x call shape, with what the edge must store (plain data).

Each library's pins, its venv and its driver; each row the buckets the stored event must have (the
stand-in provider's exact buckets where docs/INSTRUMENTATIONS.md says exact, the documented estimate
otherwise), the counts `estimated_counts` must name, or why no event is stored. Expected USD is the
price of the expected buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from services.pricing.models import Usage
from tests.sdk.stand_in_provider import (
    ANTHROPIC_BUCKETS,
    ANTHROPIC_THINKING_BUCKETS,
    GEMINI_BUCKETS,
    OPENAI_CHAT_BUCKETS,
    OPENAI_RESPONSES_BUCKETS,
)

OTEL_SDK: Final = ("opentelemetry-sdk==1.45.2", "opentelemetry-exporter-otlp-proto-http==1.45.2")


@dataclass(frozen=True)
class Venv:
    """A venv of pinned packages (build/compat-venvs/<name>), made on first use."""

    name: str
    packages: tuple[str, ...]


# Every library whose pins agree shares one venv. An instrumentor wraps the provider SDKs
# process-wide, so the libraries of one provider share a driver process one after the other, each
# undone before the next (the driver checks its patches are gone); see `processes`.
INSTRUMENTATIONS: Final = Venv(
    "instrumentations",
    (
        "openai==3.57.0",
        "anthropic==2.16.0",
        "google-genai==3.6.1",
        *OTEL_SDK,
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        # openai-v2 2.4b0 imports opentelemetry.util.genai.instruments, gone from util-genai 1.2b0 on,
        # and httpx, which openai 3 (httpx2) no longer brings.
        "opentelemetry-util-genai==1.1b0",
        "httpx==0.28.1",
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-instrumentation-anthropic==0.62.4",
        # Traceloop's Google instrumentation: it instruments google-genai (google.genai) today.
        "opentelemetry-instrumentation-google-generativeai==0.62.4",
        "openinference-instrumentation-openai==0.1.66",
        "openinference-instrumentation-anthropic==3.1.0",
        "openinference-instrumentation-google-genai==1.4.14",
    ),
)
# Contrib google-genai instruments google-genai<3 only, and needs util-genai>=1.3b0 (openai-v2 cannot).
OTEL_GOOGLE_GENAI: Final = Venv(
    "otel-google-genai",
    ("google-genai==2.34.0", *OTEL_SDK, "opentelemetry-instrumentation-google-genai==1.3b0"),
)
# OpenLIT pins openai<3 and anthropic<0.126.
OPENLIT: Final = Venv(
    "openlit", ("openlit==1.45.0", "openai==2.54.0", "anthropic==0.125.0", "google-genai==3.6.1")
)
# The venv tests/sdk/test_litellm.py makes (litellm needs boto3>=1.43, which moto's pins refuse), with
# the OTel exporter LiteLLM's "otel" callback imports.
LITELLM: Final = Venv("litellm-1.110.2", ("litellm==1.110.2", *OTEL_SDK))

DRIVERS: Final = {
    INSTRUMENTATIONS.name: "instrumentations.py",
    OTEL_GOOGLE_GENAI.name: "instrumentations.py",
    OPENLIT.name: "openlit_driver.py",
    LITELLM.name: "litellm_driver.py",
}


@dataclass(frozen=True)
class Library:
    name: str  # the driver's name for it
    package: str  # what the docs table says it was tested with
    venv: Venv
    # Whether its uninstrument removes every patch (else it runs last in its process, or alone).
    undoes: bool = True


@dataclass(frozen=True)
class Row:
    library: Library
    shape: str  # `<provider>-<call shape>`, a call of tests/compat/drivers/_calls.py
    expected: Usage | None  # None: no event
    estimated: tuple[str, ...] = ()
    # Why no event, when none: a drop reason the edge reports in partial_success, or "no span".
    no_event: str = ""
    # The call is reported by several spans: one event (the richest report), the others reported back
    # as duplicates.
    reported_twice: bool = False

    @property
    def id(self) -> str:
        shape = (
            self.shape.removeprefix(self.provider + "-") if self.provider in self.library.name else self.shape
        )
        return f"{self.library.name}-{shape}"

    @property
    def tag(self) -> str:
        return f"{self.library.name}:{self.shape}"

    @property
    def provider(self) -> str:
        return self.shape.split("-", 1)[0]


OTEL_OPENAI = Library("otel-openai-v2", "opentelemetry-instrumentation-openai-v2==2.4b0", INSTRUMENTATIONS)
OTEL_GENAI = Library(
    "otel-google-genai", "opentelemetry-instrumentation-google-genai==1.3b0", OTEL_GOOGLE_GENAI
)
# 0.62.4's uninstrument leaves its wrappers on openai 3's chat, completions, responses, embeddings,
# images and assistants (the driver lists them when it is not run last).
TL_OPENAI = Library(
    "traceloop-openai", "opentelemetry-instrumentation-openai==0.62.4", INSTRUMENTATIONS, undoes=False
)
TL_ANTHROPIC = Library(
    "traceloop-anthropic", "opentelemetry-instrumentation-anthropic==0.62.4", INSTRUMENTATIONS
)
TL_GENAI = Library(
    "traceloop-google-genai", "opentelemetry-instrumentation-google-generativeai==0.62.4", INSTRUMENTATIONS
)
OI_OPENAI = Library("openinference-openai", "openinference-instrumentation-openai==0.1.66", INSTRUMENTATIONS)
OI_ANTHROPIC = Library(
    "openinference-anthropic", "openinference-instrumentation-anthropic==3.1.0", INSTRUMENTATIONS
)
OI_GENAI = Library(
    "openinference-google-genai", "openinference-instrumentation-google-genai==1.4.14", INSTRUMENTATIONS
)
ANTHROPIC_SDK = Library("anthropic-sdk", "anthropic==2.16.0", INSTRUMENTATIONS)
# Both on at once: each call is reported by two spans (two traces, one gen_ai.response.id).
TL_ANTHROPIC_AND_SDK = Library(
    "traceloop-anthropic-and-sdk",
    "opentelemetry-instrumentation-anthropic==0.62.4 + anthropic==2.16.0",
    INSTRUMENTATIONS,
)
OPENLIT_LIB = Library("openlit", "openlit==1.45.0", OPENLIT)
LITELLM_LIB = Library("litellm", "litellm==1.110.2", LITELLM)

# The estimates, as docs/INSTRUMENTATIONS.md describes them.
_NO_CACHE_SPLIT = Usage(input_tokens=2006, output_tokens=300)  # prompt_tokens / completion_tokens as sent
_REASONING_IN_OUTPUT = Usage(input_tokens=86, cache_read_tokens=1920, output_tokens=300)
_ANTHROPIC_WRITES_WHOLE = Usage(
    input_tokens=50, cache_read_tokens=2000, cache_write_tokens=1000, output_tokens=300
)
_ONE_HOUR: Final = ("cache_write_1h_tokens",)
_NO_USAGE = "no_usage"
_NO_SPAN = "no span"  # the library does not instrument the call at all

ROWS: Final[tuple[Row, ...]] = (
    # OpenTelemetry contrib
    Row(OTEL_OPENAI, "openai-chat", _NO_CACHE_SPLIT, ("cache_read_tokens",)),
    Row(OTEL_OPENAI, "openai-chat-stream", _NO_CACHE_SPLIT, ("cache_read_tokens",)),
    Row(OTEL_OPENAI, "openai-chat-stream-no-usage", None, no_event=_NO_USAGE),
    Row(OTEL_OPENAI, "openai-responses", None, no_event=_NO_SPAN),
    Row(OTEL_OPENAI, "openai-responses-stream", None, no_event=_NO_SPAN),
    Row(OTEL_GENAI, "gemini-generate-content", GEMINI_BUCKETS),
    Row(OTEL_GENAI, "gemini-generate-content-stream", GEMINI_BUCKETS),
    # OpenLLMetry / Traceloop
    Row(TL_OPENAI, "openai-chat", OPENAI_CHAT_BUCKETS),
    Row(TL_OPENAI, "openai-chat-stream", _REASONING_IN_OUTPUT),  # no reasoning count: priced the same
    Row(TL_OPENAI, "openai-chat-stream-no-usage", None, no_event=_NO_USAGE),
    Row(TL_OPENAI, "openai-responses", OPENAI_RESPONSES_BUCKETS),
    Row(TL_OPENAI, "openai-responses-stream", OPENAI_RESPONSES_BUCKETS),
    Row(TL_ANTHROPIC, "anthropic-messages", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(
        TL_ANTHROPIC,
        "anthropic-messages-stream",
        replace(_ANTHROPIC_WRITES_WHOLE, output_tokens=301),  # + message_start's output count
        ("output_tokens", "cache_write_1h_tokens"),
    ),
    Row(TL_ANTHROPIC, "anthropic-messages-thinking", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(TL_GENAI, "gemini-generate-content", GEMINI_BUCKETS),
    Row(TL_GENAI, "gemini-generate-content-stream", GEMINI_BUCKETS),
    # OpenInference
    Row(OI_OPENAI, "openai-chat", OPENAI_CHAT_BUCKETS),
    Row(OI_OPENAI, "openai-chat-stream", OPENAI_CHAT_BUCKETS),
    Row(OI_OPENAI, "openai-chat-stream-no-usage", None, no_event=_NO_USAGE),
    Row(OI_OPENAI, "openai-responses", OPENAI_RESPONSES_BUCKETS),
    Row(OI_OPENAI, "openai-responses-stream", OPENAI_RESPONSES_BUCKETS),
    Row(OI_ANTHROPIC, "anthropic-messages", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(OI_ANTHROPIC, "anthropic-messages-stream", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(
        OI_ANTHROPIC,
        "anthropic-messages-thinking",
        replace(_ANTHROPIC_WRITES_WHOLE, output_tokens=180, reasoning_tokens=120),
        _ONE_HOUR,
    ),
    Row(OI_GENAI, "gemini-generate-content", GEMINI_BUCKETS),
    Row(OI_GENAI, "gemini-generate-content-stream", GEMINI_BUCKETS),
    # The anthropic SDK's own spans
    Row(ANTHROPIC_SDK, "anthropic-messages", ANTHROPIC_BUCKETS),
    Row(ANTHROPIC_SDK, "anthropic-messages-stream", ANTHROPIC_BUCKETS),
    Row(ANTHROPIC_SDK, "anthropic-messages-thinking", ANTHROPIC_THINKING_BUCKETS),
    # Traceloop's Anthropic instrumentation with the SDK's own spans on: stored once, the SDK's usage
    Row(TL_ANTHROPIC_AND_SDK, "anthropic-messages", ANTHROPIC_BUCKETS, reported_twice=True),
    Row(TL_ANTHROPIC_AND_SDK, "anthropic-messages-stream", ANTHROPIC_BUCKETS, reported_twice=True),
    # OpenLIT
    Row(OPENLIT_LIB, "openai-chat", _REASONING_IN_OUTPUT),
    Row(OPENLIT_LIB, "openai-chat-stream", _REASONING_IN_OUTPUT),
    # Counted by OpenLIT's tokenizer (the prompt "Hi" and the answer "Hi").
    Row(
        OPENLIT_LIB,
        "openai-chat-stream-no-usage",
        Usage(input_tokens=4, output_tokens=1),
        ("input_tokens", "output_tokens"),
    ),
    Row(OPENLIT_LIB, "openai-responses", OPENAI_RESPONSES_BUCKETS),
    Row(OPENLIT_LIB, "openai-responses-stream", OPENAI_RESPONSES_BUCKETS),
    Row(OPENLIT_LIB, "anthropic-messages", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(
        OPENLIT_LIB,
        "anthropic-messages-stream",
        Usage(input_tokens=50, output_tokens=300),  # cache counts overwritten by message_delta's
        ("cache_read_tokens", "cache_write_tokens"),
    ),
    Row(OPENLIT_LIB, "anthropic-messages-thinking", _ANTHROPIC_WRITES_WHOLE, _ONE_HOUR),
    Row(OPENLIT_LIB, "gemini-generate-content", GEMINI_BUCKETS),
    Row(OPENLIT_LIB, "gemini-generate-content-stream", GEMINI_BUCKETS),
    # LiteLLM's OTel callback: OpenAI-shaped gen_ai.usage.*, the split read from metadata.usage_object
    Row(LITELLM_LIB, "openai-chat", OPENAI_CHAT_BUCKETS),
    Row(LITELLM_LIB, "openai-chat-stream", OPENAI_CHAT_BUCKETS),
    # Counted by LiteLLM's tokenizer (its usage object has no prompt_tokens_details): flagged.
    Row(
        LITELLM_LIB,
        "openai-chat-stream-no-usage",
        Usage(input_tokens=8, output_tokens=1),
        ("input_tokens", "output_tokens", "cache_read_tokens"),
    ),
    Row(LITELLM_LIB, "anthropic-messages", ANTHROPIC_BUCKETS),
    Row(LITELLM_LIB, "anthropic-messages-stream", ANTHROPIC_BUCKETS),
)


@dataclass(frozen=True)
class Process:
    """One driver process: the libraries it runs in turn (those whose uninstrument is not clean last)."""

    venv: Venv
    libraries: tuple[Library, ...]

    @property
    def name(self) -> str:
        return "+".join(library.name for library in self.libraries)


def processes(rows: tuple[Row, ...] = ROWS) -> list[Process]:
    """The driver processes: the instrumentations driver's libraries grouped by venv and provider
    (one provider SDK imported per process), every other driver's library alone."""
    groups: dict[tuple[str, str], list[Library]] = {}
    for row in rows:
        library = row.library
        shared = DRIVERS[library.venv.name] == "instrumentations.py"
        key = (library.venv.name, row.provider if shared else library.name)
        if library not in groups.setdefault(key, []):
            groups[key].append(library)
    found: list[Process] = []
    for libraries in groups.values():
        clean = [library for library in libraries if library.undoes]
        unclean = [library for library in libraries if not library.undoes]
        found.append(Process(libraries[0].venv, (*clean, *unclean[:1])))
        found += [Process(library.venv, (library,)) for library in unclean[1:]]
    return found
