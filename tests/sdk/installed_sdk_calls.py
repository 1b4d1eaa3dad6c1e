"""Run by the Python of a venv holding only the built mno-sdk and mno-wire wheels and their
dependencies (tests/sdk/test_distribution.py). argv: edge URL, API key, project.

Imports every module of the SDK's core (an import of anything the wheels do not declare fails
here), checks the provider wrappers need their extra, records three calls and prints a JSON report.
"""

import importlib
import json
import pkgutil
import sys

import mno_sdk
import mno_wire
from mno_sdk import MnoClient

WRAPPERS = {"openai": "openai", "anthropic": "anthropic", "gemini": "google", "litellm": "litellm"}


def main(edge_url: str, api_key: str, project: str) -> None:
    core = sorted(m.name for m in pkgutil.iter_modules(mno_sdk.__path__) if m.name not in WRAPPERS)
    for name in core:
        importlib.import_module(f"mno_sdk.{name}")
    missing = {}
    for wrapper in WRAPPERS:
        try:
            importlib.import_module(f"mno_sdk.{wrapper}")
        except ModuleNotFoundError as exc:
            missing[wrapper] = exc.name
        else:
            missing[wrapper] = None
    assert missing == WRAPPERS, missing  # each names the library its extra brings

    client = MnoClient(edge_url, api_key, flush_interval=0.05)
    openai_response = {
        "id": "chatcmpl-installed",
        "model": "gpt-4o-mini",
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 400},
            "completion_tokens_details": {"reasoning_tokens": 100},
        },
    }
    anthropic_response = {
        "id": "msg_installed",
        "model": "claude-sonnet-4-5",
        "usage": {
            "input_tokens": 50,
            "output_tokens": 20,
            "cache_read_input_tokens": 200,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
        },
    }
    ids = [
        client.record_openai(openai_response, project=project),
        client.record_anthropic(anthropic_response, project=project),
    ]
    with client.track("gemini", project=project) as call:
        call.usage(model="gemini-2.5-flash", input_tokens=7, output_tokens=3)
    ids.append(call.event_id)
    finished = client.close(timeout=30)
    stats = client.stats
    print(
        json.dumps(
            {
                "python": sys.executable,
                "sdk_file": mno_sdk.__file__,
                "wire_file": mno_wire.__file__,
                "core_modules": core,
                "finished": finished,
                "ids": ids,
                "sent": stats.sent,
                "rejected": stats.rejected,
                "failed": stats.failed,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
