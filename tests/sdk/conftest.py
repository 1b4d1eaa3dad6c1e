"""Fixtures: a fresh stand-in edge per test, and clients with test-sized timings that are closed after."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mno_sdk import MnoClient
from tests.sdk.fake_edge import API_KEY, FakeEdge

MakeClient = Callable[..., MnoClient]


@pytest.fixture
def edge() -> Iterator[FakeEdge]:
    server = FakeEdge().start()
    yield server
    server.stop()


@pytest.fixture
def make_client(edge: FakeEdge) -> Iterator[MakeClient]:
    clients: list[MnoClient] = []

    def make(**options: Any) -> MnoClient:
        settings: dict[str, Any] = {
            "batch_size": 100,
            "flush_interval": 30.0,
            "timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
            **options,
        }
        base_url = settings.pop("base_url", edge.base_url)
        api_key = settings.pop("api_key", API_KEY)
        client = MnoClient(base_url, api_key, **settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close(timeout=2)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
