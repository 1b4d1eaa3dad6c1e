"""The signing keys: `load_keyring` (PEM text or a file, only Ed25519, the generated key's file and two
processes creating it at once) and a rotation end to end, the SupplyChainAgent restarted on a new key
with the old one as previous: what the old key signed still verifies through the API, both keys are
listed, and once the old key is dropped its envelopes no longer verify."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.supply_chain.attestations import key_id
from services.supply_chain.signing import GENERATED_KEY_FILE, InvalidSigningKey, load_keyring, public_pem
from shared.messages.agents import AgentName
from tests.fixtures.mesh import REPO
from tests.supply_chain.mesh_support import Env, Team, call, start, team


def private_pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    )


def ed25519_pem() -> tuple[str, str]:
    """A new Ed25519 key: (its private PKCS#8 PEM, its key id)."""
    key = Ed25519PrivateKey.generate()
    return private_pem(key), key_id(key.public_key())


# --- load_keyring --------------------------------------------------------------------------------


def test_a_configured_key_loads_from_pem_text_or_a_file(tmp_path: Path) -> None:
    """The signing key as PEM text and as a PEM file's path give one key; previous keys load from private
    or public PEM, text or file, and blank entries are ignored; nothing is generated."""
    signer, signer_id = ed25519_pem()
    (tmp_path / "signer.pem").write_text(signer)
    old = Ed25519PrivateKey.generate()
    (tmp_path / "old-public.pem").write_text(public_pem(old.public_key()))
    older, older_id = ed25519_pem()
    from_text = load_keyring(signer, [private_pem(old), "  ", older], tmp_path / "data")
    from_file = load_keyring(
        str(tmp_path / "signer.pem"), [str(tmp_path / "old-public.pem")], tmp_path / "data"
    )
    assert from_text.key_id == from_file.key_id == signer_id
    assert [k for k, _, _ in from_text.public_keys()] == [signer_id, key_id(old.public_key()), older_id]
    assert [current for _, _, current in from_text.public_keys()] == [True, False, False]
    assert [k for k, _, _ in from_file.public_keys()] == [signer_id, key_id(old.public_key())]
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: private_pem(rsa.generate_private_key(65537, 2048)),
            "signing_key: the signing key must be an Ed25519",
        ),
        (
            lambda: private_pem(ec.generate_private_key(ec.SECP256R1())),
            "signing_key: the signing key must be an Ed25519",
        ),
        (lambda: "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", "signing_key: "),
        (lambda: "/nonexistent/signing.pem", "cannot read the key file /nonexistent/signing.pem"),
    ],
    ids=["rsa", "ec", "garbled-pem", "missing-file"],
)
def test_a_signing_key_that_is_not_ed25519_is_refused_clearly(
    make: Any, message: str, tmp_path: Path
) -> None:
    """An RSA or EC key, a garbled PEM or a missing file is InvalidSigningKey naming the setting or file."""
    with pytest.raises(InvalidSigningKey, match=message):
        load_keyring(make(), [], tmp_path)


def test_a_previous_key_that_is_not_ed25519_is_refused_clearly(tmp_path: Path) -> None:
    """A previous key must be Ed25519 too (private or public): an EC public key is refused, so is junk."""
    signer, _ = ed25519_pem()
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(InvalidSigningKey, match="a previous signing key must be an Ed25519 key"):
        load_keyring(signer, [ec_public], tmp_path)
    with pytest.raises(InvalidSigningKey, match="not a PEM key"):
        load_keyring(signer, ["-----BEGIN PUBLIC KEY-----\nbm9wZQ==\n-----END PUBLIC KEY-----\n"], tmp_path)


def test_without_a_configured_key_one_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    """No signing key: a key file is made in the data directory, readable by its owner only, and the
    next start signs with the same key; a damaged file is refused naming it, not replaced."""
    data = tmp_path / "data"
    first = load_keyring(None, [], data)
    path = data / GENERATED_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in data.iterdir()) == [GENERATED_KEY_FILE]
    assert load_keyring(None, [], data).key_id == first.key_id
    path.write_text("")
    with pytest.raises(InvalidSigningKey, match=f"{GENERATED_KEY_FILE} .*is not an Ed25519 PEM key"):
        load_keyring(None, [], data)
    assert path.read_text() == ""


_CREATE = """
import sys, time
from pathlib import Path
from services.supply_chain.signing import load_keyring
start = float(sys.argv[2])
while time.time() < start:
    pass
print(load_keyring(None, [], Path(sys.argv[1])).key_id)
"""


def test_processes_starting_together_end_up_with_one_generated_key(tmp_path: Path) -> None:
    """Eight processes generating the key at the same instant (as replicas on one data directory would)
    all sign with the one key that was published; no temporary file is left behind."""
    data = tmp_path / "data"
    start = time.time() + 2.0
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNO_")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE, str(data), str(start)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0] * 8, [err for _, err in results]
    ids = {out.strip() for out, _ in results}
    assert len(ids) == 1, ids
    assert sorted(p.name for p in data.iterdir()) == [GENERATED_KEY_FILE]
    assert ids == {load_keyring(None, [], data).key_id}


# --- a rotation, end to end ----------------------------------------------------------------------


KEY_A, KEY_A_ID = ed25519_pem()


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> AsyncIterator[Env]:
    """The edge and a SupplyChainAgent signing with key A (own NATS and database)."""
    overrides = {"supply_chain": {"signing_key": KEY_A}}
    async for running in start(tmp_path_factory.mktemp("key-rotation"), postgres_dsn, overrides=overrides):
        yield running


async def restart_supply_chain(env: Env, supply_chain: dict[str, Any]) -> None:
    """Stop the running SupplyChainAgent and start one with these `supply_chain` settings."""
    for handle in env.launcher.started:
        if handle.agent is AgentName.SUPPLY_CHAIN and handle.process.poll() is None:
            await asyncio.to_thread(handle.stop)
    env.launcher.overrides = {"supply_chain": supply_chain}
    await asyncio.to_thread(env.launcher.start, AgentName.SUPPLY_CHAIN)


async def signed_sbom(env: Env, owner: Team, name: str) -> list[str]:
    status, stored = await call(
        env,
        "POST",
        "/api/v1/sboms",
        owner.headers,
        body=f"{name}==1.0\n".encode(),
        params={"filename": "requirements.txt"},
    )
    assert status == 201, stored
    attestations: list[str] = stored["sbom"]["attestations"]
    assert len(attestations) == 3  # the SBOM as CycloneDX and as SPDX, and its scan
    return attestations


async def verified_by(env: Env, owner: Team, attestation_id: str, envelope: dict[str, Any]) -> set[str]:
    """The key ids that verified the stored attestation and, uploaded, its envelope (both must verify)."""
    status, by_id = await call(env, "POST", f"/api/v1/attestations/{attestation_id}/verify", owner.headers)
    assert status == 200, by_id
    status, uploaded = await call(
        env, "POST", "/api/v1/attestations/verify", owner.headers, body=json.dumps(envelope).encode()
    )
    assert status == 200, uploaded
    return {by_id["key_id"], uploaded["key_id"]}


async def test_a_rotated_out_key_still_verifies_what_it_signed(env: Env, tmp_path: Path) -> None:
    """Signed with key A; the agent restarted on key B with A as previous (a PEM file): A's attestations
    verify by id and as uploaded envelopes (naming A), new ones are signed with B, the keys list shows
    B current and A; restarted on B alone, A's envelopes are a 422 invalid_attestation."""
    owner = await team(env)
    status, keys = await call(env, "GET", "/api/v1/supply-chain/keys", owner.headers)
    assert status == 200, keys
    assert [(k["key_id"], k["current"]) for k in keys["keys"]] == [(KEY_A_ID, True)]
    old = await signed_sbom(env, owner, "acme-before")
    envelopes = {}
    for attestation_id in old:
        status, envelopes[attestation_id] = await call(
            env, "GET", f"/api/v1/attestations/{attestation_id}", owner.headers
        )
        assert status == 200
        assert await verified_by(env, owner, attestation_id, envelopes[attestation_id]) == {KEY_A_ID}

    key_b, key_b_id = ed25519_pem()
    (tmp_path / "key-a.pem").write_text(KEY_A)
    await restart_supply_chain(
        env, {"signing_key": key_b, "previous_signing_keys": [str(tmp_path / "key-a.pem")]}
    )
    status, keys = await call(env, "GET", "/api/v1/supply-chain/keys", owner.headers)
    assert status == 200, keys
    assert [(k["key_id"], k["current"]) for k in keys["keys"]] == [(key_b_id, True), (KEY_A_ID, False)]
    assert keys["keys"][1]["pem"] == public_pem(
        serialization.load_pem_private_key(KEY_A.encode(), None).public_key()  # type: ignore[arg-type]
    )
    for attestation_id, envelope in envelopes.items():
        assert await verified_by(env, owner, attestation_id, envelope) == {KEY_A_ID}
    new = await signed_sbom(env, owner, "acme-after")
    for attestation_id in new:
        status, envelope = await call(env, "GET", f"/api/v1/attestations/{attestation_id}", owner.headers)
        assert await verified_by(env, owner, attestation_id, envelope) == {key_b_id}

    await restart_supply_chain(env, {"signing_key": key_b})
    status, keys = await call(env, "GET", "/api/v1/supply-chain/keys", owner.headers)
    assert [k["key_id"] for k in keys["keys"]] == [key_b_id]
    for attestation_id, envelope in envelopes.items():
        status, refused = await call(
            env, "POST", f"/api/v1/attestations/{attestation_id}/verify", owner.headers
        )
        assert status == 422, refused
        assert refused["error"]["details"][0]["type"] == "invalid_attestation"
        status, refused = await call(
            env, "POST", "/api/v1/attestations/verify", owner.headers, body=json.dumps(envelope).encode()
        )
        assert status == 422, refused
        payload = json.loads(base64.b64decode(envelope["payload"]))
        assert payload["_type"] == "https://in-toto.io/Statement/v1"


async def test_the_agent_does_not_start_on_a_key_that_is_not_ed25519(env: Env) -> None:
    """A SupplyChainAgent configured with an EC signing key exits at start, saying the key must be Ed25519."""
    launcher = env.launcher
    saved = launcher.overrides
    launcher.overrides = {
        "supply_chain": {"signing_key": private_pem(ec.generate_private_key(ec.SECP256R1()))}
    }
    try:
        handle = await asyncio.to_thread(launcher.start, AgentName.SUPPLY_CHAIN, wait=False)
        code = await asyncio.to_thread(handle.process.wait, 60)
    finally:
        launcher.overrides = saved
    assert code != 0
    assert "the signing key must be an Ed25519 key" in handle.log_path.read_text()
