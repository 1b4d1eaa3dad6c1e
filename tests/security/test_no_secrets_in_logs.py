"""No secret reaches a log: API keys (ours, made-up and revoked), the operator token, webhook secrets
and the callers' provider keys pass through the mesh and none of them is written by any process."""

from __future__ import annotations

import re
import uuid

import aiohttp
import asyncpg
import pytest

from shared.messages.agents import AgentName
from shared.messages.permissions import Permission
from tests.fixtures.mesh import TOKEN, MeshLauncher
from tests.fixtures.teams import org_team_key
from tests.webhooks.test_webhooks_e2e import APP_SECRET, deliver, installation_payload

# `mno_<key id>_<secret>`: any key-shaped string in a log is a leak, whoever's key it is.
KEY_SHAPE = re.compile(r"mno_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}_[A-Za-z0-9_-]{8,}")
PROVIDER_KEY = "sk-proj-" + uuid.uuid4().hex


@pytest.fixture
def edge(launcher: MeshLauncher) -> MeshLauncher:
    launcher.overrides = {"github": {"webhook_secrets": [APP_SECRET]}}
    launcher.start(AgentName.SUPER_AGENT)
    launcher.start(AgentName.MONITORING)
    return launcher


async def test_no_process_logs_a_secret_it_handled(edge: MeshLauncher) -> None:
    """After keys are made, used, refused and revoked, webhooks signed right and wrong, and a provider
    key proxied, the raw logs of every process contain none of those secrets."""
    conn = await asyncpg.connect(edge.postgres_dsn)
    try:
        admin_key = await org_team_key(
            conn, [Permission.APIKEYS_CREATE, Permission.APIKEYS_REVOKE, Permission.TOKEN_EVENTS_WRITE]
        )
    finally:
        await conn.close()
    base = edge.edge_url
    bearer = {"Authorization": f"Bearer {admin_key}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/api/v1/apikeys",
            json={"name": "ci", "permissions": ["token_events:write"]},
            headers=bearer,
        ) as response:
            assert response.status == 201, await response.text()
            created = await response.json()
        new_key = created["token"]
        event = {"id": f"e-{uuid.uuid4().hex}", "provider": "openai", "model": "gpt-4o", "input_tokens": 10}
        async with http.post(
            f"{base}/api/v1/token-events",
            json={"events": [event]},
            headers={"Authorization": f"Bearer {new_key}"},
        ) as response:
            assert response.status == 200, await response.text()
        made_up = new_key[:-6] + "abcdef"
        async with http.get(
            f"{base}/api/v1/apikeys", headers={"Authorization": f"Bearer {made_up}"}
        ) as response:
            assert response.status == 401
        async with http.delete(
            f"{base}/api/v1/apikeys/{created['key']['key_id']}", headers=bearer
        ) as response:
            assert response.status == 200
        async with http.get(f"{base}/api/v1/mesh", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
        async with http.post(
            f"{base}/proxy/openai/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {PROVIDER_KEY}", "X-MNO-Api-Key": admin_key},
        ) as response:
            assert response.status >= 400  # the upstream is a closed port: the key still went through
    assert (await deliver(edge, installation_payload()))[0] == 202
    assert (await deliver(edge, installation_payload(), secret="not-the-secret"))[0] == 401

    secrets = {
        "admin API key": admin_key,
        "created API key": new_key,
        "made-up API key": made_up,
        "operator token": TOKEN,
        "webhook secret": APP_SECRET,
        "provider key": PROVIDER_KEY,
    }
    leaks: list[str] = []
    for process in edge.started:
        text = process.log_path.read_text(errors="replace")
        assert text, f"{process.agent.value} wrote no log: nothing was checked"
        leaks += [f"{process.agent.value}: {name}" for name, value in secrets.items() if value in text]
        leaks += [f"{process.agent.value}: key-shaped {m[:12]}…" for m in KEY_SHAPE.findall(text)]
    assert leaks == []
