"""Canonical serialisation and entry hashes, without a database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest
from pydantic import ValidationError

from services.audit.canonical import canonical_bytes, canonical_json, parse_json
from services.audit.chain import canonical_content, entry_hash, genesis_hash, seal
from services.audit.models import ActorKind, AuditActor, AuditContent

TEAM = "0b8e8f0e-54a4-4f63-9b43-6a3c0c1d6e01"


def content(before: object, after: object) -> AuditContent:
    return AuditContent(
        id="5f2b4a8e-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
        team_id=TEAM,
        seq=1,
        occurred_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        actor=AuditActor(kind=ActorKind.OPERATOR),
        action="teams.rename",
        resource_type="team",
        resource_id=TEAM,
        before=before,
        after=after,
    )


def test_same_content_gives_same_bytes_whatever_the_dict_order() -> None:
    """Key order, at any depth, does not change the canonical bytes or the entry hash."""
    one = {"b": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": None}, "é": "ü"}
    two = {"é": "ü", "a": {"x": None, "y": [1, {"p": 2, "q": 1}]}, "b": 1}

    assert canonical_bytes(one) == canonical_bytes(two)
    assert canonical_bytes(one) == '{"a":{"x":null,"y":[1,{"p":2,"q":1}]},"b":1,"é":"ü"}'.encode()
    assert canonical_content(content(one, two)) == canonical_content(content(two, one))


def test_every_spelling_of_a_number_serialises_the_same() -> None:
    """1, 1.0, Decimal('1.00') and 1e0 are one value; floats use their shortest form."""
    assert canonical_json([1, 1.0, Decimal("1.00"), Decimal("1E0")]) == "[1,1,1,1]"
    assert canonical_json([0.1, Decimal("0.10"), 1e20, 1e-20, -0.0]) == (
        "[0.1,0.1,100000000000000000000,0.00000000000000000001,0]"
    )


def test_decimal_precision_survives_a_round_trip() -> None:
    """Decimals keep every digit, and parsing canonical JSON back gives the same bytes again."""
    value = {"cost": Decimal("0.1000000000000000000000000000000001"), "n": 10**30}
    text = canonical_json(value)

    assert text == '{"cost":0.1000000000000000000000000000000001,"n":1000000000000000000000000000000}'
    assert canonical_json(parse_json(text)) == text


def test_uuids_timestamps_and_sets_have_one_form() -> None:
    """UUIDs are lower-case strings, timestamps UTC with microseconds and Z, sets sorted."""
    when = datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    value = {"id": UUID(TEAM.upper()), "at": when, "naive": datetime(2024, 1, 1), "tags": {"b", "a"}}

    assert json.loads(canonical_json(value)) == {
        "id": TEAM,
        "at": "2024-05-01T12:00:00.000005Z",
        "naive": "2024-01-01T00:00:00.000000Z",
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), Decimal("NaN"), "nul\x00", {1: "x"}, b"bytes", Decimal("1E+5000")]
)
def test_values_without_a_canonical_form_are_refused(bad: object) -> None:
    """NaN, infinities, NUL characters, non-string keys, bytes and absurd magnitudes are refused."""
    with pytest.raises((ValueError, TypeError)):
        canonical_json({"v": bad})


def test_models_refuse_values_without_a_canonical_form() -> None:
    """An entry's before/after is checked when the entry is built, not when it is stored."""
    with pytest.raises(ValidationError):
        content({"v": float("nan")}, None)


def test_hash_covers_previous_hash_and_content() -> None:
    """Changing the previous hash, any content field, or the team changes the entry hash."""
    base = content({"name": "a"}, {"name": "b"})
    prev = genesis_hash(TEAM)
    sealed = seal(base, prev)

    assert sealed.hash == entry_hash(prev, canonical_content(base))
    assert seal(base, "0" * 64).hash != sealed.hash
    assert seal(content({"name": "a"}, {"name": "c"}), prev).hash != sealed.hash
    assert genesis_hash(TEAM) != genesis_hash("0b8e8f0e-54a4-4f63-9b43-6a3c0c1d6e02")
    assert genesis_hash(TEAM.upper()) == genesis_hash(TEAM)
