"""MnoClient against a real HTTP server on loopback: batching, flush/close, retries, errors, limits."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mno_sdk import MnoApiError
from tests.fixtures.mesh import Mesh
from tests.sdk.conftest import MakeClient, StrictEdge, wait_until
from tests.sdk.edge_proxy import DROP, UNCONFIRMED, EdgeProxy


def _record(client: object, count: int, **extra: object) -> list[str]:
    return [
        client.record("openai", "gpt-4o", input_tokens=10, output_tokens=5, **extra)  # type: ignore[attr-defined]
        for _ in range(count)
    ]


def test_a_full_batch_is_sent_without_waiting_for_the_interval(
    edge: EdgeProxy, make_client: MakeClient
) -> None:
    """Reaching batch_size sends a batch at once, well before flush_interval."""
    client = make_client(batch_size=5, flush_interval=30.0)
    ids = _record(client, 10)
    assert wait_until(lambda: client.stats.sent == 10)
    assert edge.sent_ids() == [ids[:5], ids[5:]]


def test_a_partial_batch_is_sent_after_the_interval(edge: EdgeProxy, make_client: MakeClient) -> None:
    """Fewer than batch_size events go out together once the oldest has waited flush_interval."""
    client = make_client(batch_size=100, flush_interval=0.3)
    started = time.monotonic()
    ids = _record(client, 3)
    assert wait_until(lambda: len(edge.requests) == 1, timeout=5)
    assert time.monotonic() - started >= 0.25
    assert edge.sent_ids() == [ids]
    time.sleep(0.4)
    assert len(edge.requests) == 1


def test_flush_delivers_everything_queued(edge: EdgeProxy, make_client: MakeClient) -> None:
    """flush() sends what is queued now and returns True once the server has accepted it."""
    client = make_client(batch_size=4, flush_interval=30.0)
    ids = _record(client, 7)
    assert client.flush(timeout=5) is True
    assert edge.stored_ids() == set(ids)
    stats = client.stats
    assert (stats.sent, stats.queued, stats.failed, stats.dropped) == (7, 0, 0, 0)


def test_close_delivers_everything_and_later_events_are_dropped(
    edge: EdgeProxy, make_client: MakeClient
) -> None:
    """close() sends the queue; events recorded after it are counted as dropped, not sent."""
    client = make_client(flush_interval=30.0)
    ids = _record(client, 5)
    assert client.close(timeout=5) is True
    assert edge.stored_ids() == set(ids)
    client.record("openai", "gpt-4o", input_tokens=1)
    assert client.stats.dropped == 1
    assert len(edge.requests) == 1


def test_batches_share_one_kept_alive_connection(edge: EdgeProxy, make_client: MakeClient) -> None:
    """Successive batches reuse one TCP connection."""
    client = make_client()
    for _ in range(3):
        _record(client, 2)
        assert client.flush(timeout=5)
    assert len(edge.requests) == 3
    assert len({r.client_port for r in edge.requests}) == 1


def test_server_errors_are_retried_with_the_same_ids(edge: EdgeProxy, make_client: MakeClient) -> None:
    """503 then 500 are retried with backoff, resending the same event ids, until accepted."""
    edge.script(503, 500)
    client = make_client()
    ids = _record(client, 3)
    assert client.flush(timeout=5)
    assert [r.status for r in edge.requests] == [503, 500, 200]
    assert edge.sent_ids() == [ids, ids, ids]
    assert len({r.headers["x-request-id"] for r in edge.requests}) == 3
    stats = client.stats
    assert (stats.sent, stats.retries, stats.failed) == (3, 2, 0)


def test_a_resent_batch_is_counted_once_by_the_server(edge: EdgeProxy, make_client: MakeClient) -> None:
    """An answer lost after the server stored the batch is retried, and the ids keep it stored once."""
    client = make_client()
    ids = _record(client, 2)
    assert client.flush(timeout=5)
    edge.script(DROP)
    # The same ids again, as a crashed-and-restarted app replaying its log would send them.
    for event_id in ids:
        client.record("openai", "gpt-4o", input_tokens=10, output_tokens=5, event_id=event_id)
    assert client.flush(timeout=5)
    assert edge.stored_ids() == set(ids)
    assert len(edge.stored) == 2


def test_events_the_server_answers_as_duplicates_count_as_sent(
    edge: EdgeProxy, make_client: MakeClient
) -> None:
    """Ids the server answers as duplicates (sent before) are counted sent, and as duplicates: every
    recorded event still ends in exactly one of sent / rejected / failed / dropped."""
    client = make_client()
    ids = _record(client, 2)
    assert client.flush(timeout=5)
    for event_id in ids:
        client.record("openai", "gpt-4o", input_tokens=10, output_tokens=5, event_id=event_id)
    assert client.flush(timeout=5)
    stats = client.stats
    assert (stats.sent, stats.duplicates, stats.rejected, stats.failed) == (4, 2, 0, 0)


def test_an_outcome_unknown_answer_is_resent_with_the_same_ids_and_stored_once(
    edge: EdgeProxy, make_client: MakeClient
) -> None:
    """A batch the edge stored but answered 504 `outcome_unknown` is resent with the same ids; the
    edge recognises them as duplicates, so each event is stored and counted once."""
    edge.script(UNCONFIRMED)
    client = make_client()
    ids = _record(client, 3)
    assert client.flush(timeout=5)
    assert [r.status for r in edge.requests] == [504, 200]
    assert edge.sent_ids() == [ids, ids]
    assert edge.requests[1].answer["duplicate_ids"] == ids
    stats = client.stats
    assert (stats.sent, stats.duplicates, stats.retries, stats.failed) == (3, 3, 1, 0)


def test_a_dropped_connection_is_retried(edge: EdgeProxy, make_client: MakeClient) -> None:
    """A connection closed without an answer counts as a connection error and is retried."""
    edge.script(DROP)
    client = make_client()
    ids = _record(client, 2)
    assert client.flush(timeout=5)
    assert edge.stored_ids() == set(ids)
    assert client.stats.retries == 1


def test_an_unreachable_server_fails_after_the_retries(make_client: MakeClient) -> None:
    """With nothing listening, the batch is retried max_retries times and then counted as failed."""
    client = make_client(base_url="http://127.0.0.1:9", max_retries=2)
    _record(client, 3)
    assert client.flush(timeout=5)
    stats = client.stats
    assert (stats.failed, stats.retries, stats.sent) == (3, 2, 0)
    assert stats.last_error is not None
    assert stats.last_error.code == "connection_error"


def test_rate_limit_honours_retry_after(edge: EdgeProxy, make_client: MakeClient) -> None:
    """A 429 with Retry-After: 1 delays the resend by that second, not by the (tiny) backoff."""
    edge.script((429, "1"))
    client = make_client()
    _record(client, 1)
    assert client.flush(timeout=5)
    first, second = edge.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95
    assert client.stats.sent == 1


@pytest.mark.parametrize(
    ("status", "code"), [(400, "bad_request"), (403, "forbidden"), (422, "validation_failed")]
)
def test_client_errors_are_not_retried(
    edge: EdgeProxy, make_client: MakeClient, status: int, code: str
) -> None:
    """400/403/422 fail the batch at once (no retry), and later batches are still sent."""
    edge.script(status)
    errors: list[MnoApiError] = []
    client = make_client(on_error=errors.append)
    _record(client, 2)
    assert client.flush(timeout=5)
    assert len(edge.requests) == 1
    stats = client.stats
    assert (stats.failed, stats.retries, stats.halted) == (2, 0, False)
    assert stats.last_error is not None
    assert (stats.last_error.status, stats.last_error.code) == (status, code)
    assert errors == [stats.last_error]
    ids = _record(client, 1)
    assert client.flush(timeout=5)
    assert edge.stored_ids() == set(ids)


def test_a_wrong_api_key_is_not_retried(edge: EdgeProxy, make_client: MakeClient) -> None:
    """The server's 401 for an unknown key fails the batch without retrying."""
    client = make_client(api_key="mno_k1test_wrong")
    _record(client, 1)
    assert client.flush(timeout=5)
    assert [r.status for r in edge.requests] == [401]
    assert edge.requests[0].headers["authorization"] == "Bearer mno_k1test_wrong"
    assert client.stats.last_error is not None
    assert client.stats.last_error.code == "unauthenticated"


def test_plan_limit_stops_sending_until_resumed(strict_edge: StrictEdge, make_client: MakeClient) -> None:
    """The edge's 402 halts the client: the error is surfaced, later events fail locally without requests."""
    edge = EdgeProxy(strict_edge.url, strict_edge.free_plan_key).start()
    errors: list[MnoApiError] = []
    client = make_client(base_url=edge.base_url, api_key=edge.api_key, on_error=errors.append)
    _record(client, 2)
    assert client.flush(timeout=5)
    _record(client, 3)
    assert client.flush(timeout=5)
    _record(client, 4)
    assert client.flush(timeout=5)
    assert [r.status for r in edge.requests] == [200, 402]
    stats = client.stats
    assert stats.halted is True
    assert (stats.sent, stats.failed, stats.retries) == (2, 7, 0)
    assert stats.last_error is not None
    assert (stats.last_error.status, stats.last_error.code) == (402, "payment_required")
    assert "limit" in stats.last_error.message
    assert [e.status for e in errors] == [402]

    client.resume()  # e.g. after an upgrade; the plan still refuses, so it halts again
    _record(client, 1)
    assert client.flush(timeout=5)
    assert [r.status for r in edge.requests] == [200, 402, 402]
    edge.stop()


def test_a_full_queue_drops_new_events_without_blocking(edge: EdgeProxy, make_client: MakeClient) -> None:
    """While the server stalls, record() keeps returning at once and events beyond max_queue are dropped."""
    client = make_client(batch_size=1, flush_interval=0.01, max_queue=5)
    with edge.hold():
        first = _record(client, 1)
        assert wait_until(lambda: len(edge.requests) == 1)  # in flight, out of the queue
        # A record() that blocked on the stalled server would hang here until the hold ends (never).
        queued = _record(client, 5)
        dropped = _record(client, 20)
        stats = client.stats
        assert (stats.queued, stats.dropped, stats.sent) == (5, 20, 0)
    assert client.flush(timeout=10)
    assert edge.stored_ids() == set(first + queued)
    assert not set(dropped) & edge.stored_ids()
    assert client.stats.dropped == 20


def test_per_event_rejections_are_surfaced_in_stats(edge: EdgeProxy, make_client: MakeClient) -> None:
    """The real edge's per-index rejections count as rejected, with ids and field-named reasons."""
    client = make_client()
    good = _record(client, 2)
    ahead = client.record(
        "openai", "gpt-4o", input_tokens=1, timestamp=datetime.now(UTC) + timedelta(hours=1)
    )
    assert client.flush(timeout=5)
    stats = client.stats
    assert (stats.sent, stats.rejected, stats.failed) == (2, 1, 0)
    assert [r.event_id for r in stats.rejections] == [ahead]
    assert stats.rejections[0].errors[0]["type"] == "future_timestamp"
    # The edge sends `loc` as a dotted string: the reason still names the field.
    assert stats.rejection_reasons == {"timestamp: more than 300 s in the future": 1}
    assert edge.stored_ids() == set(good)


def test_a_batch_too_large_is_split(mesh: Mesh, edge_key: str, make_client: MakeClient) -> None:
    """A 413 (here a load balancer's body limit, answered in HTML) splits the batch until each half fits."""
    edge = EdgeProxy(mesh.edge_url, edge_key, max_body_bytes=1500).start()
    try:
        client = make_client(base_url=edge.base_url)
        ids = _record(client, 12)
        assert client.flush(timeout=5)
        assert edge.stored_ids() == set(ids)
        assert 413 in [r.status for r in edge.requests]
        assert client.stats.sent == 12
    finally:
        edge.stop()


def test_base_url_with_a_path_prefix(mesh: Mesh, edge_key: str, make_client: MakeClient) -> None:
    """A base_url behind a reverse-proxy prefix posts to <prefix>/api/v1/token-events."""
    edge = EdgeProxy(mesh.edge_url, edge_key, prefix="/mno/").start()
    try:
        client = make_client(base_url=edge.base_url + "/")
        ids = _record(client, 1)
        assert client.flush(timeout=5)
        assert edge.stored_ids() == set(ids)
    finally:
        edge.stop()


def test_headers_identify_the_sdk(edge: EdgeProxy, make_client: MakeClient) -> None:
    """Requests carry the API key, JSON content type, the SDK's user agent and a request id."""
    client = make_client()
    _record(client, 1)
    assert client.flush(timeout=5)
    headers = edge.requests[0].headers
    assert headers["authorization"] == f"Bearer {edge.api_key}"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("mno-sdk-python/")
    assert len(headers["x-request-id"]) == 32


def test_many_threads_record_concurrently(edge: EdgeProxy, make_client: MakeClient) -> None:
    """Events recorded from 8 threads at once are all delivered, each exactly once."""
    client = make_client(batch_size=50, flush_interval=0.05)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        mine = _record(client, 250)
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=10)
    assert len(ids) == len(set(ids)) == 2000
    assert edge.stored_ids() == set(ids)
    assert sum(len(r.events) for r in edge.requests) == 2000
    assert client.stats.sent == 2000


async def test_usable_from_async_code(edge: EdgeProxy, make_client: MakeClient) -> None:
    """record() inside coroutines and `await aflush()` deliver without blocking the loop."""
    client = make_client()

    async def call(n: int) -> str:
        await asyncio.sleep(0)
        return client.record("anthropic", "claude-sonnet-4-5", input_tokens=n, output_tokens=1)

    ids = await asyncio.gather(*(call(n) for n in range(20)))
    assert await client.aflush(timeout=5)
    assert edge.stored_ids() == set(ids)
    assert await client.aclose(timeout=5)


def test_close_times_out_while_the_server_stalls(edge: EdgeProxy, make_client: MakeClient) -> None:
    """close(timeout) returns False instead of hanging when the server does not answer in time."""
    client = make_client(timeout=60.0)
    with edge.hold():
        _record(client, 1)
        client.flush(timeout=0)
        assert wait_until(lambda: len(edge.requests) == 1)
        started = time.monotonic()
        assert client.close(timeout=0.3) is False
        # Bounded by close's own timeout, not by the 60 s request timeout (half of it: no stall reaches).
        assert time.monotonic() - started < 30


def test_events_are_sent_at_interpreter_exit(edge: EdgeProxy) -> None:
    """A program that records and exits without close() still delivers its events (atexit)."""
    program = (
        "import sys\n"
        "from mno_sdk import MnoClient\n"
        "client = MnoClient(sys.argv[1], sys.argv[2], flush_interval=60)\n"
        "print(client.record('openai', 'gpt-4o', input_tokens=3, output_tokens=4))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, edge.base_url, edge.api_key],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert edge.stored_ids() == {done.stdout.strip()}


def test_invalid_arguments_raise_and_queue_nothing(edge: EdgeProxy, make_client: MakeClient) -> None:
    """Negative counts, naive timestamps, bad tag keys or statuses raise ValueError in the caller."""
    client = make_client()
    with pytest.raises(ValueError, match="input_tokens"):
        client.record("openai", "gpt-4o", input_tokens=-1)
    with pytest.raises(ValueError, match="timezone"):
        client.record("openai", "gpt-4o", timestamp=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="tags"):
        client.record("openai", "gpt-4o", tags={"bad key!": "x"})
    with pytest.raises(ValueError, match="status"):
        client.record("openai", "gpt-4o", status="maybe")
    assert client.flush(timeout=2)
    assert client.stats.queued == 0
    assert edge.requests == []


def test_every_field_reaches_the_server(edge: EdgeProxy, make_client: MakeClient) -> None:
    """All of record()'s arguments arrive as the TokenEventIn fields of the same name."""
    client = make_client()
    at = datetime.now(UTC) - timedelta(minutes=5)
    event_id = client.record(
        "anthropic",
        "claude-opus-4-1",
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        cache_write_1h_tokens=6,
        latency_ms=12.5,
        user="u-1",
        project="search",
        tags={"env": "prod"},
        prompt_name="summarise",
        prompt_version="v3",
        request_id="req_1",
        timestamp=at,
        status="error",
    )
    assert client.flush(timeout=5)
    stored = edge.stored[event_id]
    # `estimated_counts` is for reporters that had to guess a count; record() takes exact counts only.
    assert stored.model_dump(exclude={"id", "estimated_counts"}) == {
        "timestamp": at,
        "provider": "anthropic",
        "model": "claude-opus-4-1",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_read_tokens": 3,
        "cache_write_tokens": 4,
        "cache_write_1h_tokens": 6,
        "reasoning_tokens": 5,
        "latency_ms": 12.5,
        "status": "error",
        "user": "u-1",
        "project": "search",
        "tags": {"env": "prod"},
        "prompt_name": "summarise",
        "prompt_version": "v3",
        "request_id": "req_1",
    }


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_its_own_events(edge: EdgeProxy, make_client: MakeClient) -> None:
    """After a fork the child gets a sender of its own, and leaves the inherited queue to the parent."""
    client = make_client()
    parent_id = client.record("openai", "gpt-4o", input_tokens=1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery here, only an exit status
        status = 1
        try:
            child_id = client.record("openai", "gpt-4o", input_tokens=2)
            if client.flush(timeout=5) and client.stats.sent == 1:
                os.write(write_end, child_id.encode())
                status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.flush(timeout=5)
    assert edge.stored_ids() == {parent_id, child_id}
    assert sum(len(r.events) for r in edge.requests) == 2


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_https_with_a_custom_ca(tmp_path: Path, mesh: Mesh, edge_key: str, make_client: MakeClient) -> None:
    """HTTPS verifies the certificate: untrusted fails unretried, trusted via ssl_context delivers."""
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    edge = EdgeProxy(mesh.edge_url, edge_key, tls=server_tls).start()
    try:
        untrusting = make_client(base_url=edge.base_url)
        _record(untrusting, 1)
        assert untrusting.flush(timeout=5)
        assert (untrusting.stats.failed, untrusting.stats.retries) == (1, 0)
        error = untrusting.stats.last_error
        assert error is not None
        assert error.code == "tls_error"
        assert "CERTIFICATE_VERIFY_FAILED" in error.message

        client = make_client(base_url=edge.base_url, ssl_context=ssl.create_default_context(cafile=cert_file))
        ids = _record(client, 3)
        assert client.flush(timeout=5)
        assert edge.stored_ids() == set(ids)
    finally:
        edge.stop()
