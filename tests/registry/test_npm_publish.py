"""`npm publish`'s PUT body (services/registry/npm/publish.py) and `npm deprecate`'s, from the bodies
the real npm sent (tests/data/npm/, kept current by test_npm_capture.py), intact and tampered with."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest

from services.registry.ecosystems.interface import NotFound
from services.registry.errors import RegistryError
from services.registry.npm.deprecate import parse_deprecation
from services.registry.npm.publish import is_publish, parse_publish
from tests.registry.test_npm_capture import PACKAGE, VERSION, load

LIMIT = 10_000_000
ATTACHMENT = f"{PACKAGE}-{VERSION}.tgz"


def body() -> dict[str, Any]:
    return copy.deepcopy(load("publish")["body"])


def refused(data: dict[str, Any], code: str, url_name: str = PACKAGE, limit: int = LIMIT) -> str:
    with pytest.raises(RegistryError) as caught:
        parse_publish(data, url_name, max_tarball_bytes=limit)
    assert caught.value.code == code, caught.value.message
    return caught.value.message


def with_tarball(data: dict[str, Any], tarball: bytes) -> dict[str, Any]:
    """The body re-signed for another tarball: digests and length consistent, so only the content differs."""
    data["_attachments"][ATTACHMENT] = {
        "content_type": "application/octet-stream",
        "data": base64.b64encode(tarball).decode(),
        "length": len(tarball),
    }
    dist = data["versions"][VERSION]["dist"]
    dist["integrity"] = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    dist["shasum"] = hashlib.sha1(tarball).hexdigest()
    return data


def tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_the_real_npm_publish_body_is_accepted() -> None:
    """The body npm 11 sent is read: name, version, tags, the tarball and its digests, readme."""
    published = parse_publish(body(), PACKAGE, max_tarball_bytes=LIMIT)
    assert (published.name, published.version, published.dist_tags) == (PACKAGE, VERSION, {"latest": VERSION})
    assert published.filename == "fixture-demo-1.0.0.tgz"
    assert published.integrity == body()["versions"][VERSION]["dist"]["integrity"]
    assert published.sha256 == hashlib.sha256(published.tarball).hexdigest()
    assert published.file_count == 3  # package.json, index.js, README.md
    assert "dist" not in published.manifest
    assert published.readme is not None
    assert published.readme.startswith("# fixture-demo")
    assert published.readme_filename == "README.md"
    assert is_publish(body())


def test_a_publish_to_another_url_name_is_refused() -> None:
    """The body's name must be the name in the URL."""
    refused(body(), "invalid_name", url_name="@mno-test/other")


def test_a_tampered_integrity_is_refused() -> None:
    """A tarball whose sha512 is not dist.integrity is a digest_mismatch."""
    data = body()
    data["versions"][VERSION]["dist"]["integrity"] = "sha512-" + base64.b64encode(bytes(64)).decode()
    assert "sha512" in refused(data, "digest_mismatch")


def test_an_integrity_without_sha512_is_refused() -> None:
    """Only a sha512 integrity is checked; a sha1-only SRI is not enough."""
    data = body()
    data["versions"][VERSION]["dist"]["integrity"] = "sha1-" + base64.b64encode(bytes(20)).decode()
    refused(data, "digest_mismatch")


def test_a_tampered_shasum_is_refused() -> None:
    """A tarball whose sha1 is not dist.shasum is a digest_mismatch."""
    data = body()
    data["versions"][VERSION]["dist"]["shasum"] = "0" * 40
    assert "sha1" in refused(data, "digest_mismatch")


def test_a_length_that_disagrees_is_refused() -> None:
    """The decoded tarball must be exactly `length` bytes."""
    data = body()
    data["_attachments"][ATTACHMENT]["length"] += 1
    refused(data, "invalid_publish")


def test_bad_base64_is_refused() -> None:
    """Attachment data that is not strict base64 is refused, not decoded leniently."""
    data = body()
    data["_attachments"][ATTACHMENT]["data"] = "!!!not base64!!!"
    refused(data, "invalid_publish")


def test_a_tarball_past_the_size_bound_is_refused_before_decoding() -> None:
    """A tarball larger than the bound is refused by its declared and encoded sizes."""
    refused(body(), "archive_too_large", limit=100)


def test_two_versions_are_refused() -> None:
    """A publish carries exactly one new version."""
    data = body()
    data["versions"]["1.0.1"] = {**data["versions"][VERSION], "version": "1.0.1"}
    refused(data, "invalid_publish")


def test_two_attachments_are_refused() -> None:
    """A second attachment (a provenance bundle, anything) is refused."""
    data = body()
    data["_attachments"][f"{PACKAGE}-{VERSION}.sigstore"] = {"data": "e30=", "length": 2}
    refused(data, "invalid_publish")


def test_an_attachment_named_for_another_version_is_refused() -> None:
    """The attachment's name must be libnpmpublish's `<name>-<version>.tgz`."""
    data = body()
    data["_attachments"] = {f"{PACKAGE}-9.9.9.tgz": data["_attachments"][ATTACHMENT]}
    refused(data, "filename_mismatch")


def test_a_non_canonical_version_is_refused() -> None:
    """npm publishes node-semver's clean form; `v1.0.0` as a key is not what npm sends."""
    data = body()
    data["versions"] = {"v1.0.0": {**data["versions"][VERSION], "version": "v1.0.0"}}
    refused(data, "invalid_publish")


def test_a_dist_tag_that_is_a_range_is_refused() -> None:
    """`npm publish --tag 1.x` would shadow a range: refused like npm refuses it."""
    data = body()
    data["dist-tags"] = {"1.x": VERSION}
    refused(data, "invalid_tag")


def test_a_tarball_whose_package_json_names_another_version_is_refused() -> None:
    """The tarball's package/package.json must agree with the body (name and version)."""
    manifest = json.dumps({"name": PACKAGE, "version": "6.6.6"}).encode()
    data = with_tarball(body(), tarball({"package/package.json": manifest}))
    assert "6.6.6" in refused(data, "manifest_mismatch")


def test_a_tarball_without_package_json_is_refused() -> None:
    """No package.json at the top of the tarball: refused."""
    data = with_tarball(body(), tarball({"package/index.js": b"1"}))
    refused(data, "manifest_mismatch")


def test_an_unsafe_tarball_is_refused() -> None:
    """A traversal inside the published tarball is refused by the archive checks."""
    manifest = json.dumps({"name": PACKAGE, "version": VERSION}).encode()
    data = with_tarball(body(), tarball({"package/package.json": manifest, "package/../../evil": b"x"}))
    refused(data, "unsafe_archive")


def test_a_resigned_good_tarball_is_accepted() -> None:
    """The tampering tests' re-signing is sound: a good tarball re-signed the same way passes."""
    manifest = json.dumps({"name": PACKAGE, "version": VERSION}).encode()
    published = parse_publish(
        with_tarball(body(), tarball({"package/package.json": manifest})), PACKAGE, max_tarball_bytes=LIMIT
    )
    assert published.file_count == 1


def test_npm_deprecate_changes_only_the_versions_it_marks() -> None:
    """npm deprecate's PUT deprecates 1.0.0; a version already so deprecated is no change; an empty
    message un-deprecates; an unknown version is not_found."""
    deprecate = load("deprecate")["body"]
    assert not is_publish(deprecate)
    assert parse_deprecation(deprecate, {VERSION: None}) == {VERSION: "use 2.x"}
    assert parse_deprecation(deprecate, {VERSION: "use 2.x"}) == {}
    undeprecate = copy.deepcopy(deprecate)
    undeprecate["versions"][VERSION]["deprecated"] = ""
    assert parse_deprecation(undeprecate, {VERSION: "use 2.x"}) == {VERSION: None}
    with pytest.raises(NotFound):
        parse_deprecation(deprecate, {"2.0.0": None})
