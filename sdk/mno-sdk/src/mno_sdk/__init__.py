"""MachineNativeOps SDK: report each LLM call's token usage to `POST /api/v1/token-events`, fetch
prompts through a TTL cache and assign prompt experiments' variants locally.

    from mno_sdk import MnoClient

    mno = MnoClient("https://mno.example.com", api_key="mno_...")
    response = openai_client.chat.completions.create(...)
    mno.record_openai(response, project="search", user="u-42")

    with mno.track("anthropic", project="search") as call:
        call.response(anthropic_client.messages.create(...))

    for event in mno.record_stream("anthropic", anthropic_client.messages.create(..., stream=True)):
        ...  # events pass through unchanged; the call is recorded when the stream ends

    prompt = mno.get_prompt("support-answer", label="production", fallback="Answer: {{ question }}")
    variant = mno.assign(experiment_id, user_id)  # local, GrowthBook hash v2; exposure logged once
    mno.record_openai(response, prompt_name=prompt.name, tags=variant.tags)

Recording never does network I/O in the caller's thread; a background thread sends batches.
Only the standard library is used for HTTP; this package never imports a provider SDK. The
optional drop-in clients do, each its own: `mno_sdk.openai`, `mno_sdk.anthropic`,
`mno_sdk.gemini` (google-genai) and the LiteLLM callback `mno_sdk.litellm`.
"""

import logging

from mno_sdk.client import USER_AGENT, MnoClient, __version__
from mno_sdk.errors import MnoApiError, MnoError, MnoUnavailable, UsageNotFound
from mno_sdk.events import CallContext, EventContext
from mno_sdk.experiments import ExperimentAssignment
from mno_sdk.extract import Extracted, from_anthropic_response, from_gemini_response, from_openai_response
from mno_sdk.prompts import Prompt, RenderedPrompt
from mno_sdk.stats import Rejection, Stats
from mno_sdk.track import Track, TrackedCall

# A library leaves log output to the app; problems are also in `client.stats` and `on_error`.
logging.getLogger("mno_sdk").addHandler(logging.NullHandler())

__all__ = [
    "USER_AGENT",
    "CallContext",
    "EventContext",
    "ExperimentAssignment",
    "Extracted",
    "MnoApiError",
    "MnoClient",
    "MnoError",
    "MnoUnavailable",
    "Prompt",
    "Rejection",
    "RenderedPrompt",
    "Stats",
    "Track",
    "TrackedCall",
    "UsageNotFound",
    "__version__",
    "from_anthropic_response",
    "from_gemini_response",
    "from_openai_response",
]
