"""The LiteLLM callback with the real `litellm` (in a venv of its own: its pins conflict with ours)
calling the stand-in provider, the SDK reporting to the real edge."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.messages.telemetry import TokenEventIn
from tests.compat.rows import LITELLM as LITELLM_VENV
from tests.compat.venvs import python_of
from tests.fixtures.mesh import REPO, Mesh
from tests.sdk.edge_proxy import EdgeProxy
from tests.sdk.stand_in_provider import ANTHROPIC_BUCKETS, OPENAI_CHAT_BUCKETS, StandInProvider
from tests.sdk.test_wrappers import buckets

# litellm requires boto3>=1.43, which the project's moto pins refuse: it runs in the compatibility
# suite's venv for it (tests/compat/rows.py LITELLM), made once for both suites.
CALLS = Path(__file__).with_name("litellm_calls.py")
# pytest-timeout counts fixture setup, and the first run installs litellm from the index (up to 900 s).
pytestmark = pytest.mark.timeout(960)


@pytest.fixture(scope="session")
def litellm_python() -> Path:
    """The Python of the compatibility suite's venv with the pinned litellm (made on first use; a failed
    install fails the test: the package index is reachable wherever the suite runs)."""
    return python_of(LITELLM_VENV)


@pytest.fixture(scope="module")
def litellm_events(litellm_python: Path, mesh: Mesh, edge_key: str) -> Iterator[list[TokenEventIn]]:
    """The events the edge accepted from one run of litellm_calls.py (6 calls: see there)."""
    provider = StandInProvider().start()
    edge = EdgeProxy(mesh.edge_url, edge_key).start()
    env = {
        **os.environ,
        # The SDK from its source tree (the venv's litellm brings pydantic and typing-extensions).
        "PYTHONPATH": os.pathsep.join(str(REPO / "sdk" / dist / "src") for dist in ("mno-wire", "mno-sdk")),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch LiteLLM's price table from the internet
    }
    try:
        done = subprocess.run(
            [litellm_python, CALLS, provider.url, edge.base_url, edge.api_key],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=REPO,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        yield list(edge.stored.values())
    finally:
        edge.stop()
        provider.stop()


def test_litellm_calls_are_recorded_with_cache_writes_and_reads(litellm_events: list[TokenEventIn]) -> None:
    """OpenAI and Anthropic calls through LiteLLM (sync, async, streamed) are recorded with their
    cache reads, both cache-write lifetimes and reasoning in their own buckets, not as input."""
    exact = [e for e in litellm_events if not e.estimated_counts]
    got = sorted(((e.provider, e.model, e.project, buckets(e)) for e in exact), key=lambda row: row[:3])
    assert [row[:3] for row in got] == [
        ("anthropic", "claude-sonnet-4-5", "litellm"),
        ("anthropic", "claude-sonnet-4-5", "litellm"),
        ("anthropic", "claude-sonnet-4-5", "litellm"),
        ("openai", "gpt-4o-mini", "litellm"),
        ("openai", "gpt-4o-mini", "litellm"),
    ]
    assert {(p, u) for p, _, _, u in got} == {
        ("anthropic", ANTHROPIC_BUCKETS),
        ("openai", OPENAI_CHAT_BUCKETS),
    }


def test_litellm_streams_without_usage_are_flagged_as_estimated(litellm_events: list[TokenEventIn]) -> None:
    """An OpenAI stream without include_usage, whose counts LiteLLM estimated, says which are estimated."""
    (estimated,) = [e for e in litellm_events if e.estimated_counts]
    assert (estimated.provider, estimated.model) == ("openai", "gpt-4o-mini")
    assert set(estimated.estimated_counts) == {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "reasoning_tokens",
    }
