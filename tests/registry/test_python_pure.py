"""The Python registry's pure parts, without HTTP: names, versions and their order, the simple pages,
content negotiation, twine's form, core metadata and its agreement with the file name, search terms."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest

from services.registry.ecosystems import RULES
from services.registry.ecosystems.interface import RegistryError
from services.registry.python import metadata as pymeta
from services.registry.python import simple
from services.registry.python.upload import FileDigests, check_digests, check_form
from services.registry.search import tsquery_of
from shared.archives import DEFAULT_LIMITS
from shared.messages.artifacts import Ecosystem, PythonUploadFields
from tests.registry.pypackages import minimal_wheel

PY = RULES[Ecosystem.PYPI]


def _code(call: object) -> str:
    with pytest.raises(RegistryError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_pep503_names_normalise_and_invalid_names_are_refused() -> None:
    """Runs of `-_.` and case fold to one name; a name of other characters is invalid_name."""
    assert PY.normalize_name("Acme__Lib.Core") == "acme-lib-core"
    PY.validate_name("A.b-c_1")
    assert _code(lambda: PY.validate_name("-leading")) == "invalid_name"
    assert _code(lambda: PY.validate_name("ünïcode")) == "invalid_name"


def test_pep440_ordering_gives_latest_and_stable() -> None:
    """Versions sort by PEP 440 (1.10 > 1.9, rc < final, .dev pre-release); stable skips pre-releases."""
    versions = ["1.9", "1.10rc1", "1.10", "2.0.dev1", "1.0.post1"]
    assert PY.latest(versions) == "2.0.dev1"
    assert PY.latest(versions, stable_only=True) == "1.10"
    assert PY.newest_first(["1.0", "1.0.post1", "1.0rc1"]) == ["1.0.post1", "1.0", "1.0rc1"]
    assert PY.normalize_version("1.0.0-RC1") == "1.0.0rc1"
    assert _code(lambda: PY.parse_version("not a version")) == "invalid_version"
    assert PY.purl("Acme_Lib", "1.0") == "pkg:pypi/acme-lib@1.0"


def _file(name: str, yanked: bool = False, reason: str | None = None) -> simple.SimpleFile:
    return simple.SimpleFile(
        filename=name,
        sha256="a" * 64,
        size=10,
        uploaded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        requires_python=">=3.9",
        yanked=yanked,
        yanked_reason=reason,
        core_metadata_sha256="b" * 64,
    )


def test_core_metadata_is_offered_for_wheels_from_the_threshold_up() -> None:
    """A wheel under registry.metadata_min_wheel_bytes is offered without PEP 658 metadata (one request
    fewer to install it); at the threshold and above, and with no threshold, with it; never without
    a metadata file, nor for an sdist (its PKG-INFO may leave dependencies to the build)."""
    digest, wheel, sdist = "b" * 64, "x-1.0-py3-none-any.whl", "x-1.0.tar.gz"
    assert simple.offered_metadata(wheel, 65_535, digest, 65_536) is None
    assert simple.offered_metadata(wheel, 65_536, digest, 65_536) == digest
    assert simple.offered_metadata(wheel, 10, digest, 0) == digest
    assert simple.offered_metadata(wheel, 1_000_000, None, 0) is None
    assert simple.offered_metadata(wheel, None, digest, 65_536) == digest
    assert simple.offered_metadata(sdist, 1_000_000, digest, 0) is None


def test_project_pages_carry_hashes_yanks_and_core_metadata() -> None:
    """HTML anchors (PEP 503/592/658/714) and JSON entries (PEP 691/700) say the same things,
    with relative URLs and escaped attribute values."""
    files = [_file("x-1.0-py3-none-any.whl"), _file("x-1.1.tar.gz", yanked=True, reason='bad "one"')]
    page = simple.project_page("x", ["1.0", "1.1"], files, simple.TEXT_HTML)
    assert 'href="../../files/' + "a" * 64 + "/x-1.0-py3-none-any.whl#sha256=" + "a" * 64 + '"' in page
    assert 'data-requires-python="&gt;=3.9"' in page
    assert f'data-core-metadata="sha256={"b" * 64}"' in page
    assert 'data-yanked="bad &quot;one&quot;"' in page
    document = json.loads(simple.project_page("x", ["1.0", "1.1"], files, simple.JSON_V1))
    assert document["meta"] == {"api-version": "1.1"}
    assert document["versions"] == ["1.0", "1.1"]
    wheel, sdist = document["files"]
    assert wheel["upload-time"] == "2026-01-02T03:04:05.000000Z"
    assert wheel["core-metadata"] == {"sha256": "b" * 64}
    assert "yanked" not in wheel
    assert sdist["yanked"] == 'bad "one"'


def test_accept_negotiation_follows_pep691() -> None:
    """pip's header gets JSON; q-values rank; no header or a wildcard gets HTML; nothing offered: None."""
    pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
    assert simple.negotiate(pip) == simple.JSON_V1
    assert simple.negotiate("application/vnd.pypi.simple.v1+json;q=0.2, text/html") == simple.TEXT_HTML
    assert simple.negotiate("application/vnd.pypi.simple.latest+html") == simple.HTML_V1
    assert simple.negotiate(None) == simple.TEXT_HTML
    assert simple.negotiate("*/*") == simple.TEXT_HTML
    assert simple.negotiate("image/png") is None


def _fields(**changes: str) -> PythonUploadFields:
    base = {":action": "file_upload", "protocol_version": "1", "name": "Acme_Lib", "version": "1.0"}
    return PythonUploadFields.model_validate({**base, "filetype": "bdist_wheel", **changes})


def test_the_upload_form_must_describe_the_file() -> None:
    """Action, protocol, file type, name and version of twine's form are checked against the file name."""
    dist = pymeta.parse_filename("acme_lib-1.0-py3-none-any.whl")
    check_form(_fields(), dist, "acme_lib-1.0-py3-none-any.whl")
    assert _code(lambda: check_form(_fields(**{":action": "submit"}), dist, "f")) == "invalid_upload"
    assert _code(lambda: check_form(_fields(filetype="sdist"), dist, "f")) == "filename_mismatch"
    assert _code(lambda: check_form(_fields(version="1.1"), dist, "f")) == "filename_mismatch"
    assert _code(lambda: check_form(_fields(name="other"), dist, "f")) == "filename_mismatch"
    assert _code(lambda: pymeta.parse_filename("acme_lib-1.0.zip")) == "invalid_upload"
    assert _code(lambda: pymeta.parse_filename("not-a-wheel.whl")) == "invalid_upload"


def test_digests_sent_must_be_those_computed() -> None:
    """Each digest twine sent is compared (case-insensitively); absent ones are skipped."""
    computed = FileDigests("a" * 64, "b" * 32, "c" * 64)
    check_digests(_fields(sha256_digest="A" * 64, md5_digest="b" * 32), computed)
    check_digests(_fields(), computed)
    assert _code(lambda: check_digests(_fields(blake2_256_digest="d" * 64), computed)) == "digest_mismatch"


def test_wheel_metadata_is_read_and_checked_against_the_file_name() -> None:
    """A wheel's .dist-info/METADATA is parsed with its dependencies; a file named for another
    version than its metadata is filename_mismatch; metadata packaging refuses is invalid_metadata."""
    filename, content = minimal_wheel("acme-lib", "1.0")
    dist = pymeta.parse_filename(filename)
    _, found = pymeta.inspect_distribution(io.BytesIO(content), dist, filename, DEFAULT_LIMITS)
    pymeta.check_agreement(filename, dist, found.metadata)
    assert found.metadata.summary == "made in memory"
    renamed = filename.replace("-1.0-", "-2.0-")
    _, other = pymeta.inspect_distribution(
        io.BytesIO(content), pymeta.parse_filename(renamed), renamed, DEFAULT_LIMITS
    )
    assert (
        _code(lambda: pymeta.check_agreement(renamed, pymeta.parse_filename(renamed), other.metadata))
        == "filename_mismatch"
    )
    raw = b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\nRequires-Dist: y[a] (>=1) ; extra == 'fast'\n"
    deps = pymeta.dependencies_of(pymeta.parse_metadata(raw))
    assert [(d.name, d.requirement, d.kind.value, d.extra) for d in deps] == [
        ("y", "[a]>=1", "optional", "fast")
    ]
    assert _code(lambda: pymeta.parse_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: nope\n")) == (
        "invalid_metadata"
    )


def test_a_wheel_without_metadata_is_refused() -> None:
    """No .dist-info/METADATA at all is invalid_metadata, not a crash."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("x/__init__.py", "")
    filename = "x-1.0-py3-none-any.whl"
    assert (
        _code(
            lambda: pymeta.inspect_distribution(
                io.BytesIO(buffer.getvalue()), pymeta.parse_filename(filename), filename, DEFAULT_LIMITS
            )
        )
        == "invalid_metadata"
    )


def test_search_text_becomes_prefix_terms_without_query_syntax() -> None:
    """Words become ANDed prefix terms; tsquery operators from the user never reach PostgreSQL."""
    assert tsquery_of("Acme lib") == "acme:* & lib:*"
    assert tsquery_of("a & !b | (c):*") == "a:* & b:* & c:*"
    assert tsquery_of("  &|! ") is None
    assert tsquery_of(None) is None
