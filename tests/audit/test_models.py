"""The audit models: actors from outside input, principals, and JSON output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.audit.chain import genesis_hash, seal
from services.audit.models import ActorKind, AuditActor, AuditContent
from shared.messages.envelope import Principal


def test_request_headers_never_make_an_actor_invalid() -> None:
    """User agents are cleaned and cut rather than refused; IPs are normalised; empty means none."""
    actor = AuditActor(
        kind=ActorKind.SESSION, user_id="u1", ip=" 2001:DB8:0:0::1 ", user_agent="a\x00b" + "x" * 1000
    )
    assert actor.ip == "2001:db8::1"
    assert actor.user_agent is not None
    assert actor.user_agent.startswith("ab")
    assert len(actor.user_agent) == 512
    assert AuditActor(kind=ActorKind.OPERATOR, ip="", user_agent="", session_id="").model_dump() == {
        "kind": ActorKind.OPERATOR,
        "user_id": None,
        "api_key_id": None,
        "session_id": None,
        "ip": None,
        "user_agent": None,
    }


def test_actor_kind_needs_its_identifier() -> None:
    """An api_key actor without a key id, a session actor without a user, or a bad IP is refused."""
    with pytest.raises(ValidationError):
        AuditActor(kind=ActorKind.API_KEY, user_id="u1")
    with pytest.raises(ValidationError):
        AuditActor(kind=ActorKind.SESSION)
    with pytest.raises(ValidationError):
        AuditActor(kind=ActorKind.OPERATOR, ip="999.1.1.1")


def test_actor_from_principal() -> None:
    """Principals from the edge map to the kind of credential that authenticated them."""
    key = AuditActor.from_principal(Principal(team_id="t", user_id="u", api_key_id="k"), ip="192.0.2.1")
    assert (key.kind, key.user_id, key.api_key_id, key.ip) == (ActorKind.API_KEY, "u", "k", "192.0.2.1")
    assert AuditActor.from_principal(Principal(team_id="t", user_id="u")).kind is ActorKind.SESSION
    assert AuditActor.from_principal(Principal(roles=("owner",))).kind is ActorKind.OPERATOR
    assert AuditActor.from_principal(Principal.system()).kind is ActorKind.SYSTEM


def test_json_output_has_plain_numbers() -> None:
    """An entry dumped as JSON (for an API) gives numbers as numbers, not strings."""
    team = "0b8e8f0e-54a4-4f63-9b43-6a3c0c1d6e01"
    content = AuditContent(
        id="5f2b4a8e-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
        team_id=team,
        seq=1,
        occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        actor=AuditActor(kind=ActorKind.SYSTEM),
        action="budgets.update",
        resource_type="budget",
        after={"limit": Decimal("12.50"), "n": 3.0},
    )
    dumped = json.loads(seal(content, genesis_hash(team)).model_dump_json())
    assert dumped["after"] == {"limit": 12.5, "n": 3}
