"""The MachineNativeOps wire contract shared by the SDK and the server.

`mno_wire.token_events`: the token event a client sends to `POST /api/v1/token-events` and the
edge's answer (pydantic models). `mno_wire.usage`: `Usage`, a call's tokens in disjoint billable
buckets, and the normalisers of the providers' own usage shapes into it. `mno_wire.assignment`:
experiment assignment (GrowthBook's hash v2), run by the server to check exposures and by the SDK
to assign locally. All pure: no I/O, nothing but the standard library and pydantic, Python 3.9
and later.
"""

from mno_wire.token_events import (
    MAX_EVENTS_PER_BATCH,
    CallStatus,
    EventRejection,
    IngestResult,
    TokenEventBatch,
    TokenEventIn,
)
from mno_wire.usage import Usage, from_anthropic, from_gemini, from_openai

__version__ = "0.1.0"

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "CallStatus",
    "EventRejection",
    "IngestResult",
    "TokenEventBatch",
    "TokenEventIn",
    "Usage",
    "__version__",
    "from_anthropic",
    "from_gemini",
    "from_openai",
]
