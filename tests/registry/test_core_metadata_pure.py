"""Core metadata 2.1 to 2.4 as the registry parses it (services/registry/python/metadata.py), pure:
setuptools' early License-File, 2.2's Dynamic, and the rules packaging keeps."""

from __future__ import annotations

import pytest
from packaging.version import Version

from services.registry.ecosystems.interface import InvalidMetadata
from services.registry.python.metadata import DistFilename, dynamic_of, parse_metadata
from tests.registry.coremeta import core_metadata

SDIST = DistFilename("sdist", "acme", Version("1.0"))
WHEEL = DistFilename("wheel", "acme", Version("1.0"))


@pytest.mark.parametrize("metadata_version", ["2.1", "2.2", "2.3"])
def test_license_file_before_2_4_is_dropped_not_refused(metadata_version: str) -> None:
    """License-File under a version that predates it (setuptools 56-76, `wheel`) is dropped, as PyPI
    and twine drop it; the rest of the metadata is read."""
    text = core_metadata(
        "acme",
        "1.0",
        metadata_version=metadata_version,
        fields=[("License", "MIT"), ("License-File", "LICENSE")],
    )
    metadata = parse_metadata(text.encode())
    assert metadata.license_files is None
    assert metadata.license == "MIT"


def test_license_file_under_2_4_is_kept() -> None:
    """From 2.4 License-File is a field like any other."""
    text = core_metadata(
        "acme",
        "1.0",
        metadata_version="2.4",
        fields=[("License-Expression", "MIT"), ("License-File", "LICENSE")],
    )
    assert parse_metadata(text.encode()).license_files == ["LICENSE"]


def test_other_problems_are_still_named_together() -> None:
    """An unknown field and a 2.4 field under 2.2 are both named in one refusal."""
    text = core_metadata(
        "acme", "1.0", metadata_version="2.2", fields=[("Foo", "bar"), ("License-Expression", "MIT")]
    )
    with pytest.raises(InvalidMetadata) as caught:
        parse_metadata(text.encode())
    assert "unrecognized field: 'foo'" in caught.value.message
    assert "license-expression introduced in metadata version 2.4, not 2.2" in caught.value.message


def test_dynamic_fields_count_for_sdists_only() -> None:
    """An sdist's Dynamic fields are listed by their header names; a wheel's metadata is final."""
    text = core_metadata(
        "acme", "1.0", metadata_version="2.2", fields=[("Dynamic", "requires-dist"), ("Dynamic", "Home-page")]
    )
    metadata = parse_metadata(text.encode())
    assert dynamic_of(metadata, SDIST) == ["Home-Page", "Requires-Dist"]
    assert dynamic_of(metadata, WHEEL) == []
