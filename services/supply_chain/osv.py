"""The parts of the OSV schema (https://ossf.github.io/osv-schema/) that matching and findings need.

Unknown fields are ignored: OSV promises that minor schema versions only add fields. What the
schema calls invalid (an event naming two kinds, a range with no `introduced`) is rejected, so a bad
record fails at import with its file name instead of matching wrongly later.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

try:  # libyaml's parser, several times faster; pyyaml's wheels ship it
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class RangeType(StrEnum):
    SEMVER = "SEMVER"
    ECOSYSTEM = "ECOSYSTEM"
    GIT = "GIT"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(_Model):
    """One point of a range's timeline: exactly one of the four kinds is set."""

    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    limit: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Event:
        kinds = [k for k in ("introduced", "fixed", "last_affected", "limit") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"an event has exactly one of introduced/fixed/last_affected/limit, got {kinds}")
        return self

    @property
    def kind(self) -> str:
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated to hold one kind")

    @property
    def version(self) -> str:
        value = getattr(self, self.kind)
        assert isinstance(value, str)
        return value


class Range(_Model):
    type: RangeType
    repo: str | None = None
    events: tuple[Event, ...]
    database_specific: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _has_introduced(self) -> Range:
        if not any(e.introduced is not None for e in self.events):
            raise ValueError("a range needs at least one introduced event")
        return self


class Package(_Model):
    ecosystem: str
    name: str
    purl: str | None = None


class Severity(_Model):
    type: str
    score: str


class Affected(_Model):
    package: Package
    severity: tuple[Severity, ...] = ()
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    ecosystem_specific: dict[str, Any] | None = None
    database_specific: dict[str, Any] | None = None


class Advisory(_Model):
    schema_version: str | None = None
    id: str
    modified: datetime
    published: datetime | None = None
    withdrawn: datetime | None = None
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str | None = None
    severity: tuple[Severity, ...] = ()
    affected: tuple[Affected, ...] = ()
    database_specific: dict[str, Any] | None = None

    @field_validator("modified", "published", "withdrawn")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # OSV writes UTC; a few records omit the `Z`. Naive and aware instants do not compare, so a
        # record without it would break every comparison of `modified` (imports, the index).
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class _StringScalarsLoader(_SafeLoader):
    """pyyaml's safe loader that leaves numbers and timestamps as the strings they are written as.

    OSV's versions are strings: an unquoted `fixed: 2.10` read as the float 2.1 would move the fix
    to another release. Booleans and nulls keep their meaning (database_specific uses them).
    """


_StringScalarsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":int", ":float", ":timestamp"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class InvalidAdvisory(ValueError):
    """A file that is not an OSV record: bad JSON/YAML, or a record the schema rejects."""


def parse(text: str | bytes, filename: str) -> Advisory:
    """One OSV record, by its file name's suffix: `.json`, or `.yaml` / `.yml` (the PyPA database)."""
    return read(text, filename)[1]


def read(text: str | bytes, filename: str) -> tuple[dict[str, Any], Advisory]:
    """The record as written (JSON-ready: YAML's scalars stay strings) and as validated, so an
    import can keep the whole record, fields we do not model included."""
    try:
        if filename.endswith(".json"):
            data = json.loads(text)
        elif filename.endswith((".yaml", ".yml")):
            data = yaml.load(text, Loader=_StringScalarsLoader)
        else:
            raise InvalidAdvisory(f"{filename}: not an OSV file (.json, .yaml or .yml)")
        advisory = Advisory.model_validate(data)
    except (ValueError, yaml.YAMLError) as error:  # JSON's and pydantic's errors are ValueErrors
        if isinstance(error, InvalidAdvisory):
            raise
        raise InvalidAdvisory(f"{filename}: {error}") from error
    return data, advisory
