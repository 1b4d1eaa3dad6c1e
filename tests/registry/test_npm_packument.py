"""Packuments (services/registry/npm/packument.py): the full document `npm view` reads and the
abbreviated one `npm install` asks for, built from stored versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.registry.npm.packument import (
    ABBREVIATED_VERSION_FIELDS,
    NpmPackageRecord,
    NpmVersionRecord,
    abbreviated_packument,
    full_packument,
    revision,
    tarball_url,
    wants_abbreviated,
)

REGISTRY = "https://mesh.example/registry/t1/npm/"
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def manifest(version: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "@acme/widget",
        "version": version,
        "description": f"widget {version}",
        "license": "MIT",
        "dependencies": {"left-pad": "^1.3.0"},
        "scripts": {"test": "node t.js"},
        "main": "index.js",
        "_npmVersion": "11.0.0",
        "dist": {"tarball": "http://client-side/ignored.tgz"},
        "readme": "x",
        "_from": "file:/home/dev/widget.tgz",
        "_resolved": "/home/dev/widget.tgz",
        **extra,
    }


def package() -> NpmPackageRecord:
    versions = [
        NpmVersionRecord(
            "1.0.0",
            manifest("1.0.0"),
            "widget-1.0.0.tgz",
            "sha512-AAA=",
            "a" * 40,
            T0,
            file_count=3,
            unpacked_size=900,
        ),
        NpmVersionRecord(
            "1.1.0-beta.1",
            manifest("1.1.0-beta.1", bin={"w": "cli.js"}),
            "widget-1.1.0-beta.1.tgz",
            "sha512-BBB=",
            "b" * 40,
            T0 + timedelta(days=1),
        ),
        NpmVersionRecord(
            "0.9.0",
            manifest("0.9.0", scripts={"postinstall": "node build.js"}),
            "widget-0.9.0.tgz",
            "sha512-CCC=",
            "c" * 40,
            T0 - timedelta(days=30),
            deprecated="use 1.x",
        ),
    ]
    return NpmPackageRecord(
        name="@acme/widget",
        versions=versions,
        dist_tags={"latest": "1.0.0", "beta": "1.1.0-beta.1"},
        modified=T0 + timedelta(days=2),
        revision=4,
        readme="# Widget",
        readme_filename="README.md",
    )


def test_full_packument_has_ids_tags_times_and_dists() -> None:
    """The full document: _id/_rev, dist-tags, time (created, modified, per version in npm's format),
    each version's registry-computed dist with the tarball URL, and the latest's hoisted fields."""
    doc = full_packument(package(), REGISTRY)
    assert doc["_id"] == doc["name"] == "@acme/widget"
    assert doc["_rev"].startswith("4-")
    assert len(doc["_rev"]) == 2 + 32
    assert doc["dist-tags"] == {"latest": "1.0.0", "beta": "1.1.0-beta.1"}
    assert list(doc["versions"]) == ["0.9.0", "1.0.0", "1.1.0-beta.1"]
    assert doc["time"]["created"] == "2026-01-30T12:00:00.123Z"
    assert doc["time"]["modified"] == "2026-03-03T12:00:00.123Z"
    assert doc["time"]["1.0.0"] == "2026-03-01T12:00:00.123Z"
    one = doc["versions"]["1.0.0"]
    assert one["_id"] == "@acme/widget@1.0.0"
    assert one["dist"] == {
        "tarball": "https://mesh.example/registry/t1/npm/@acme/widget/-/widget-1.0.0.tgz",
        "integrity": "sha512-AAA=",
        "shasum": "a" * 40,
        "fileCount": 3,
        "unpackedSize": 900,
    }
    assert "readme" not in one
    assert "_from" not in one  # the publisher's own paths (`npm publish ./x.tgz`) are not served
    assert "_resolved" not in one
    assert doc["description"] == "widget 1.0.0"  # hoisted from latest, not from the highest version
    assert doc["readme"] == "# Widget"
    assert doc["readmeFilename"] == "README.md"


def test_deprecations_and_install_scripts_show_in_versions() -> None:
    """A deprecated version carries `deprecated`; others do not; install scripts set hasInstallScript."""
    doc = full_packument(package(), REGISTRY)
    assert doc["versions"]["0.9.0"]["deprecated"] == "use 1.x"
    assert "deprecated" not in doc["versions"]["1.0.0"]
    assert doc["versions"]["0.9.0"]["hasInstallScript"] is True
    assert doc["versions"]["1.0.0"]["hasInstallScript"] is False


def test_abbreviated_packument_keeps_only_install_fields() -> None:
    """The abbreviated form: name, modified, dist-tags, and per version only the install fields."""
    doc = abbreviated_packument(package(), REGISTRY)
    assert set(doc) == {"name", "modified", "dist-tags", "versions"}
    for version in doc["versions"].values():
        assert set(version) <= set(ABBREVIATED_VERSION_FIELDS)
        assert {"name", "version", "dist"} <= set(version)
    assert doc["versions"]["1.1.0-beta.1"]["bin"] == {"w": "cli.js"}
    assert doc["versions"]["0.9.0"]["deprecated"] == "use 1.x"
    assert "scripts" not in doc["versions"]["1.0.0"]
    assert "description" not in doc["versions"]["1.0.0"]


def test_rev_changes_with_the_document() -> None:
    """_rev changes when tags or deprecations change (npm sends it back on unpublish)."""
    base = package()
    retagged = NpmPackageRecord(base.name, base.versions, {"latest": "0.9.0"}, base.modified, base.revision)
    assert revision(base) != revision(retagged)


def test_tarball_urls_follow_npmjs_layout() -> None:
    """Unscoped and scoped tarball URLs are `<registry>/<name>/-/<file>`."""
    assert tarball_url("http://h/r/", "lodash", "lodash-4.0.0.tgz") == "http://h/r/lodash/-/lodash-4.0.0.tgz"
    assert tarball_url("http://h/r", "@a/b", "b-1.0.0.tgz") == "http://h/r/@a/b/-/b-1.0.0.tgz"


def test_accept_negotiation() -> None:
    """npm install's Accept gets the abbreviated form; plain JSON, none, or a lower q gets the full."""
    assert wants_abbreviated("application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
    assert not wants_abbreviated("application/json")
    assert not wants_abbreviated(None)
    assert not wants_abbreviated("application/vnd.npm.install-v1+json; q=0.5, application/json")
    assert not wants_abbreviated("application/vnd.npm.install-v1+json; q=0")
