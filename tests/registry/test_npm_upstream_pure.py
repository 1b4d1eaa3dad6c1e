"""The npm upstream's packuments and tarball checks, pure: which versions are kept, where their
tarballs point, which bytes are accepted, and what a team's quarantine leaves of a packument."""

from __future__ import annotations

import base64
import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from services.registry.npm.upstream import (
    IntegrityMismatch,
    TarballCheck,
    UnreadablePackument,
    UpstreamTooLarge,
    parse_packument,
    publish_instants,
    render,
    without_versions,
)

UPSTREAM = "http://up.example/npm/"
OURS = "https://edge.example/registry/team-1/npm"
CONTENT = b"a tarball's bytes"
SHA512 = "sha512-" + base64.b64encode(hashlib.sha512(CONTENT).digest()).decode()
SHA1 = hashlib.sha1(CONTENT).hexdigest()


def _version(name: str, version: str, **dist: Any) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "description": "long text the abbreviated form leaves out",
        "dependencies": {"left-pad": "^1.0.0"},
        "dist": {"tarball": f"/{name}/-/{name.split('/')[-1]}-{version}.tgz", **dist},
    }


def _document(name: str) -> dict[str, Any]:
    return {
        "_id": name,
        "_rev": "7-abc",
        "name": name,
        "dist-tags": {"latest": "2.0.0", "old": "0.9.0", "next": "3.0.0"},
        "time": {"modified": "2026-01-02T00:00:00.000Z"},
        "versions": {
            "1.0.0": _version(name, "1.0.0", integrity=f"sha1-xyz {SHA512}", shasum=SHA1),
            "2.0.0": _version(name, "2.0.0", shasum=SHA1.upper(), signatures=[{"keyid": "npmjs"}]),
            "0.9.0": _version(name, "0.9.0"),  # no digest at all: unverifiable
            "3.0.0": _version(name, "3.0.0", integrity="sha512-not-base64!", shasum="short"),
            "01.0.0": _version(name, "01.0.0", shasum=SHA1),  # not a canonical version
        },
    }


def test_only_versions_with_a_checkable_digest_are_kept() -> None:
    """sha512 integrity (among other SRI hashes) or a sha1 shasum keeps a version; none, or only
    malformed ones, drops it and every dist-tag pointing at it."""
    parsed = parse_packument(_document("pkg"), "pkg", UPSTREAM)
    assert sorted(parsed.document["versions"]) == ["1.0.0", "2.0.0"]
    assert parsed.document["dist-tags"] == {"latest": "2.0.0"}
    assert "_rev" not in parsed.document
    one, two = parsed.tarballs["pkg-1.0.0.tgz"], parsed.tarballs["pkg-2.0.0.tgz"]
    assert one.url == "http://up.example/pkg/-/pkg-1.0.0.tgz"
    assert one.digest == SHA512
    assert (two.sha512, two.digest) == (None, SHA1)


def test_an_upstream_answering_for_another_name_is_not_believed() -> None:
    """A packument naming another package, or one that is not a packument, is refused."""
    with pytest.raises(UnreadablePackument):
        parse_packument(_document("other"), "pkg", UPSTREAM)
    with pytest.raises(UnreadablePackument):
        parse_packument(["pkg"], "pkg", UPSTREAM)


def test_rendered_tarballs_point_at_the_team_registry() -> None:
    """Full and abbreviated renders put each tarball under our URL (scoped layout as npmjs's), drop
    the upstream's signatures, and the abbreviated form keeps only install fields."""
    parsed = parse_packument(_document("@acme/tool"), "@acme/tool", UPSTREAM)
    full = render(parsed, OURS, abbreviated=False)
    assert full["versions"]["1.0.0"]["dist"]["tarball"] == f"{OURS}/@acme/tool/-/tool-1.0.0.tgz"
    assert full["versions"]["1.0.0"]["description"]
    assert "signatures" not in full["versions"]["2.0.0"]["dist"]
    assert parsed.document["versions"]["2.0.0"]["dist"]["signatures"]  # the parsed one untouched
    short = render(parsed, OURS, abbreviated=True)
    assert set(short) == {"name", "modified", "dist-tags", "versions"}
    assert short["modified"] == "2026-01-02T00:00:00.000Z"
    assert "description" not in short["versions"]["1.0.0"]
    assert short["versions"]["1.0.0"]["dependencies"] == {"left-pad": "^1.0.0"}
    assert short["versions"]["2.0.0"]["dist"]["tarball"] == f"{OURS}/@acme/tool/-/tool-2.0.0.tgz"


def _check(version: str, content: bytes, max_bytes: int = 1000) -> None:
    parsed = parse_packument(_document("pkg"), "pkg", UPSTREAM)
    check = TarballCheck(parsed.tarballs[f"pkg-{version}.tgz"], max_bytes)
    for start in range(0, len(content), 5):
        check.update(content[start : start + 5])
    check.verify()


def test_tarball_bytes_are_checked_against_the_listed_digest() -> None:
    """The listed bytes pass by sha512 or (without integrity) sha1; one byte more fails either way."""
    _check("1.0.0", CONTENT)
    _check("2.0.0", CONTENT)
    for version in ("1.0.0", "2.0.0"):
        with pytest.raises(IntegrityMismatch) as refused:
            _check(version, CONTENT + b"\0")
        assert refused.value.code == "upstream_digest_mismatch"


def test_a_tarball_past_the_size_bound_is_refused_while_streaming() -> None:
    """Bytes past the bound are refused as they arrive, before any digest is compared."""
    with pytest.raises(UpstreamTooLarge):
        _check("1.0.0", CONTENT, max_bytes=len(CONTENT) - 1)


def _dated(name: str) -> dict[str, Any]:
    """A packument whose `time` dates most versions, with stable, prerelease and tagged versions."""
    versions = ("1.0.0", "1.9.0", "1.10.0", "2.0.0-rc.1", "2.0.0")
    return {
        "_id": name,
        "name": name,
        "dist-tags": {"latest": "2.0.0", "next": "2.0.0-rc.1", "old": "1.0.0"},
        "time": {
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-03-01T00:00:00.000Z",
            "1.0.0": "2026-01-01T00:00:00.000Z",
            "1.9.0": "2026-01-05T12:30:00+02:00",
            "1.10.0": "2026-02-01T00:00:00.000Z",
            "2.0.0-rc.1": "not a date",
            # 2.0.0: no instant at all
            "0.1.0": "2025-01-01T00:00:00.000Z",  # unpublished: listed in time only
        },
        "versions": {v: _version(name, v, shasum=SHA1) for v in versions},
    }


def test_publish_instants_come_from_the_time_map() -> None:
    """Each listed version gets its `time` instant (any offset); a missing or unreadable one, or an
    abbreviated packument without `time`, gives None; versions only in `time` are not listed."""
    parsed = parse_packument(_dated("pkg"), "pkg", UPSTREAM)
    assert publish_instants(parsed) == {
        "1.0.0": datetime(2026, 1, 1, tzinfo=UTC),
        "1.9.0": datetime(2026, 1, 5, 10, 30, tzinfo=UTC),
        "1.10.0": datetime(2026, 2, 1, tzinfo=UTC),
        "2.0.0-rc.1": None,
        "2.0.0": None,
    }
    short = {k: v for k, v in _dated("pkg").items() if k != "time"}
    assert set(publish_instants(parse_packument(short, "pkg", UPSTREAM)).values()) == {None}


def test_hidden_versions_leave_the_packument_and_their_tags_move() -> None:
    """Hidden versions are gone from `versions`, `time` and the tarballs; `latest` and `next`, which
    pointed at them, step back to the highest remaining stable version below (semver: 1.10.0 over 1.9.0);
    other tags stay; the cached packument is untouched."""
    parsed = parse_packument(_dated("pkg"), "pkg", UPSTREAM)
    before = copy.deepcopy(dict(parsed.document))
    kept = without_versions(parsed, {"2.0.0", "2.0.0-rc.1"})
    assert sorted(kept.document["versions"]) == ["1.0.0", "1.10.0", "1.9.0"]
    assert kept.document["dist-tags"] == {"latest": "1.10.0", "next": "1.10.0", "old": "1.0.0"}
    assert set(kept.document["time"]) == {"created", "modified", "1.0.0", "1.9.0", "1.10.0", "0.1.0"}
    assert kept.document["time"]["modified"] == "2026-03-01T00:00:00.000Z"
    assert sorted(kept.tarballs) == ["pkg-1.0.0.tgz", "pkg-1.10.0.tgz", "pkg-1.9.0.tgz"]
    assert kept.tarball("pkg-2.0.0.tgz") is None
    assert parsed.document == before
    assert "pkg-2.0.0.tgz" in parsed.tarballs
    assert without_versions(parsed, set()) is parsed


def test_full_and_abbreviated_renders_of_a_quarantined_packument() -> None:
    """Both forms the team gets lack the hidden version and carry the moved `latest`; the full form's
    `time` lacks it too."""
    kept = without_versions(parse_packument(_dated("@acme/tool"), "@acme/tool", UPSTREAM), {"2.0.0"})
    full = render(kept, OURS, abbreviated=False)
    short = render(kept, OURS, abbreviated=True)
    for document in (full, short):
        assert "2.0.0" not in document["versions"]
        assert document["dist-tags"] == {"latest": "1.10.0", "next": "2.0.0-rc.1", "old": "1.0.0"}
    assert "2.0.0" not in full["time"]
    assert full["time"]["1.10.0"] == "2026-02-01T00:00:00.000Z"
    assert short["versions"]["2.0.0-rc.1"]["dist"]["tarball"] == f"{OURS}/@acme/tool/-/tool-2.0.0-rc.1.tgz"


def test_a_tag_with_no_stable_version_left_goes() -> None:
    """When only prereleases remain, a tag that pointed at a hidden version is removed (not pointed
    at a prerelease), while a tag on a remaining prerelease stays."""
    parsed = parse_packument(_dated("pkg"), "pkg", UPSTREAM)
    kept = without_versions(parsed, {"1.0.0", "1.9.0", "1.10.0", "2.0.0"})
    assert list(kept.document["versions"]) == ["2.0.0-rc.1"]
    assert kept.document["dist-tags"] == {"next": "2.0.0-rc.1"}


def test_a_hidden_tag_steps_back_never_forward_to_a_newer_line() -> None:
    """A `latest` on a young 1.x backport while 2.0.0 exists steps back to 1.9.0 (what it named
    before), not up to 2.0.0: a quarantine never moves an install to a newer major line."""
    document = _dated("pkg")
    document["dist-tags"] = {"latest": "1.10.0", "beta": "2.0.0-rc.1"}
    kept = without_versions(parse_packument(document, "pkg", UPSTREAM), {"1.10.0", "2.0.0-rc.1"})
    assert kept.document["dist-tags"] == {"latest": "1.9.0", "beta": "1.9.0"}
