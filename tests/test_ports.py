"""The test port allocator: xdist workers never share a port, and the OS never picks ours."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures import ports


def _slice(monkeypatch: pytest.MonkeyPatch, worker: str, count: int) -> range:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))
    return ports._worker_slice()


def test_workers_get_disjoint_slices_below_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of four workers draws from its own ports, all below where the OS picks client ports."""
    slices = [_slice(monkeypatch, f"gw{i}", 4) for i in range(4)]
    seen: set[int] = set()
    for share in slices:
        assert len(share) >= 200
        assert share.start >= 10_000
        assert share.stop <= ports._ephemeral_start()
        assert seen.isdisjoint(share)
        seen.update(share)


def test_a_port_is_handed_out_once_and_a_busy_one_is_skipped() -> None:
    """A port something listens on is passed over, and no port comes back twice."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as idle:
        idle.bind(("127.0.0.1", 0))
        idle_port = idle.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        allocator = ports.PortAllocator([busy.getsockname()[1], idle_port])
        assert allocator.take() == idle_port
        with pytest.raises(RuntimeError):
            allocator.take()
