"""The SDK's prompt fetch against the session's real mesh (edge, LearningAgent, PostgreSQL), through a
counting proxy: the TTL cache, background revalidation with If-None-Match, the last good copy while
the edge is down, the caller's fallback, and errors the cache never hides."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest

from mno_sdk import MnoApiError, MnoUnavailable, Prompt
from tests.fixtures.mesh import Mesh
from tests.prompts.api_support import Member, api, text_prompt
from tests.sdk.conftest import MakeClient, wait_until
from tests.sdk.edge_proxy import DROP, EdgeProxy

PROMPTS = "/api/v1/prompts"


async def ok(mesh: Mesh, method: str, path: str, who: Member, body: Any = None) -> Any:
    status, answer, _ = await api(mesh.edge_url, method, path, who, body)
    assert status == 200, (status, answer)
    return answer


async def save(mesh: Mesh, who: Member, name: str, template: str, *, production: bool = True) -> int:
    """Save a version; with `production`, move the label to it. Returns the version."""
    variables = {v: {"type": "string"} for v in re.findall(r"{{ (\w+) }}", template)}
    saved = await ok(mesh, "POST", PROMPTS, who, text_prompt(name, template, variables=variables))
    version: int = saved["prompt"]["version"]
    if production:
        await ok(mesh, "PUT", f"{PROMPTS}/{name}/labels/production", who, {"version": version})
    return version


def fetches(proxy: EdgeProxy, name: str) -> list[Any]:
    return proxy.received("GET", f"{PROMPTS}/{name}?")


async def test_a_cache_hit_makes_no_request(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """Within the TTL, get_prompt (sync and async) answers from memory: one GET reaches the edge."""
    await save(mesh, prompt_owner, "greeting", "Hello {{ name }}.")
    client = make_team_client(cache_ttl=60.0)
    first = client.get_prompt("greeting")
    assert (first.version, first.template, first.stale, first.fallback) == (
        1,
        "Hello {{ name }}.",
        False,
        False,
    )
    assert "production" in first.labels
    for _ in range(50):
        assert client.get_prompt("greeting") == first
    assert await client.aget_prompt("greeting") == first
    assert len(fetches(team_edge, "greeting")) == 1
    by_version = client.get_prompt("greeting", version=1)
    assert by_version.version == 1
    assert len(fetches(team_edge, "greeting")) == 2  # another key: version=1, not label=production


async def test_after_the_ttl_the_copy_is_served_at_once_and_revalidated_with_a_304(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """Past the TTL the cached copy is answered without waiting for the edge (held here), and the
    background revalidation sends If-None-Match and gets 304, keeping the copy."""
    await save(mesh, prompt_owner, "faq", "Answer: {{ q }}")
    client = make_team_client(cache_ttl=0.2)
    first = client.get_prompt("faq")
    time.sleep(0.3)
    with team_edge.hold():
        started = time.monotonic()
        served = client.get_prompt("faq")
        assert time.monotonic() - started < 0.1
        assert served == first
    assert wait_until(lambda: any(r.status == 304 for r in fetches(team_edge, "faq")))
    revalidation = next(r for r in fetches(team_edge, "faq") if r.status == 304)
    assert revalidation.headers["if-none-match"].startswith('"')
    assert "if-none-match" not in fetches(team_edge, "faq")[0].headers
    assert client.get_prompt("faq") == first


async def test_a_label_move_is_seen_after_the_ttl(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """Moving `production` to a new version is not seen within the TTL, and is seen after it."""
    await save(mesh, prompt_owner, "tone", "Be brief.")
    client = make_team_client(cache_ttl=0.5)
    assert client.get_prompt("tone").version == 1
    assert await save(mesh, prompt_owner, "tone", "Be brief and kind.") == 2
    assert client.get_prompt("tone").version == 1
    assert wait_until(lambda: client.get_prompt("tone").version == 2)
    assert client.get_prompt("tone").template == "Be brief and kind."
    statuses = [r.status for r in fetches(team_edge, "tone")]
    assert statuses.count(200) == 2, statuses


async def test_the_last_good_copy_is_served_while_the_edge_is_down(
    mesh: Mesh,
    prompt_owner: Member,
    team_edge: EdgeProxy,
    make_team_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """5xx answers, then recovery, then no answer at all: the last good copy is served marked stale
    (a warning logged), unmarked once the edge answers again, and a fallback never replaces it."""
    await save(mesh, prompt_owner, "policy", "Refunds within 30 days.")
    caplog.set_level(logging.INFO, logger="mno_sdk")
    client = make_team_client(cache_ttl=0.1, timeout=1.0)
    good = client.get_prompt("policy")
    team_edge.script(503, 503)
    assert wait_until(lambda: client.get_prompt("policy").stale)
    stale = client.get_prompt("policy", fallback="never served")
    assert (stale.version, stale.template, stale.fallback) == (1, good.template, False)
    assert stale.error is not None
    assert "503" in stale.error
    assert wait_until(lambda: "serving the last good copy" in caplog.text)
    assert wait_until(lambda: not client.get_prompt("policy").stale)  # the script ran out
    assert wait_until(lambda: "the edge answers again" in caplog.text)
    team_edge.script(*[DROP] * 20)  # connections closed without an answer, retried or not
    assert wait_until(lambda: client.get_prompt("policy").stale)
    down = client.get_prompt("policy")
    assert down.template == good.template
    assert down.error is not None
    assert "could not be reached" in down.error


async def test_a_fallback_is_served_only_while_there_was_never_a_good_copy(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """With the edge down on the first fetch, the caller's fallback is served (without one:
    MnoUnavailable); once the edge answers, its copy replaces the fallback for good."""
    await save(mesh, prompt_owner, "intro", "Welcome, {{ name }}.")
    client = make_team_client(cache_ttl=0.3, timeout=1.0)
    team_edge.script(DROP, 502)
    served = client.get_prompt("intro", fallback="Hi {{ name }}")
    assert isinstance(served, Prompt)
    assert (served.fallback, served.version, served.template) == (True, None, "Hi {{ name }}")
    with pytest.raises(MnoUnavailable):  # within the TTL the edge is not asked again
        client.get_prompt("intro")
    chat = client.get_prompt(
        "intro", fallback={"type": "chat", "messages": [{"role": "system", "content": "Hi"}]}
    )
    assert (chat.fallback, chat.type, chat.messages) == (True, "chat", [{"role": "system", "content": "Hi"}])
    time.sleep(0.35)
    again = client.get_prompt("intro", fallback="Hi {{ name }}")  # 502 from the script
    assert again.fallback
    time.sleep(0.35)
    real = client.get_prompt("intro", fallback="Hi {{ name }}")
    assert (real.fallback, real.version, real.template) == (False, 1, "Welcome, {{ name }}.")
    assert [r.status for r in fetches(team_edge, "intro")] == [DROP, 502, 200]


async def test_a_404_raises_and_the_cache_does_not_hide_it(
    mesh: Mesh, prompt_owner: Member, team_edge: EdgeProxy, make_team_client: MakeClient
) -> None:
    """An unknown prompt, label or version is a 404 MnoApiError, even with a fallback; a 404 met by
    a revalidation is raised at the next get instead of serving the cached copy."""
    await save(mesh, prompt_owner, "known", "Known.")
    client = make_team_client(cache_ttl=0.1)
    with pytest.raises(MnoApiError) as raised:
        client.get_prompt("unknown", fallback="unused")
    assert raised.value.status == 404
    with pytest.raises(MnoApiError) as raised:
        client.get_prompt("known", label="staging", fallback="unused")
    assert raised.value.status == 404
    with pytest.raises(MnoApiError) as raised:
        client.get_prompt("known", version=7)
    assert raised.value.status == 404
    assert client.get_prompt("known").version == 1
    team_edge.script(404)
    time.sleep(0.15)
    client.get_prompt("known")  # past the TTL: served, and revalidated in the background
    assert wait_until(lambda: any(r.status == 404 for r in fetches(team_edge, "known")))
    assert client.flush(5)

    with pytest.raises(MnoApiError) as raised:
        client.get_prompt("known")
    assert raised.value.status == 404
    assert client.get_prompt("known").version == 1  # asked again: the edge has it


async def test_render_goes_through_the_edge(
    mesh: Mesh, prompt_owner: Member, make_team_client: MakeClient
) -> None:
    """render_prompt renders the fetched version on the edge with typed variables; a missing
    variable is a 422 MnoApiError naming it."""
    body = text_prompt("hello", "Hello {{ name }}, you are {{ age }}.")
    body["variables"] = {"name": {"type": "string"}, "age": {"type": "integer"}}
    await ok(mesh, "POST", PROMPTS, prompt_owner, body)
    await ok(mesh, "PUT", f"{PROMPTS}/hello/labels/production", prompt_owner, {"version": 1})
    client = make_team_client()
    prompt = client.get_prompt("hello")
    rendered = client.render_prompt("hello", {"name": "Ada", "age": 36}, version=prompt.version)
    assert (rendered.text, rendered.version, rendered.type) == ("Hello Ada, you are 36.", 1, "text")
    assert rendered.content_hash.startswith("sha256:")
    assert (await client.arender_prompt("hello", {"name": "Ada", "age": 36})).text == rendered.text
    with pytest.raises(MnoApiError) as raised:
        client.render_prompt("hello", {"name": "Ada"})
    assert raised.value.status == 422
    assert "age" in f"{raised.value.message} {raised.value.details}"


async def test_a_call_recorded_with_its_rendered_prompt_is_costed_by_content_hash(
    mesh: Mesh, prompt_owner: Member, make_team_client: MakeClient
) -> None:
    """record(prompt=rendered) stores the prompt's name, version and content hash with the event:
    the cost report grouped by tag:prompt_hash finds the call under that hash."""
    body = text_prompt("hashed", "Hi {{ who }}")
    body["variables"] = {"who": {"type": "string"}}
    await ok(mesh, "POST", PROMPTS, prompt_owner, body)
    client = make_team_client()
    rendered = client.render_prompt("hashed", {"who": "Ada"}, version=1)
    client.record("openai", "gpt-4o", input_tokens=100, output_tokens=10, prompt=rendered)
    assert client.flush(10)
    params = {
        "since": "2020-01-01T00:00:00Z",
        "until": "2100-01-01T00:00:00Z",
        "group_by": "tag:prompt_hash",
        "prompt_name": "hashed",
        "prompt_version": "1",
    }
    groups: list[Any] = []
    for _ in range(100):
        status, body, _headers = await api(mesh.edge_url, "GET", "/api/v1/costs", prompt_owner, params=params)
        assert status == 200, body
        groups = body["groups"]
        if groups:
            break
        time.sleep(0.05)
    assert [(g["key"], g["totals"]["events"]) for g in groups] == [
        ({"tag:prompt_hash": rendered.content_hash}, 1)
    ]
