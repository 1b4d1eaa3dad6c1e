"""Licences as SPDX ids (services/registry/licenses.py), pure: what a version's licence is normalised
to at publish time, and what a search's licence filter asks of a package."""

from __future__ import annotations

import pytest
from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

from services.registry.licenses import (
    CLASSIFIERS,
    MAX_FILTER_ALTERNATIVES,
    LicenseFilterRefused,
    license_filter,
    npm_license_ids,
    npm_license_text,
    python_license_ids,
    text_license_ids,
)
from services.registry.python.metadata import license_ids_of, parse_metadata

# A licence value as packages write it -> the SPDX ids stored for it.
NORMALISED = [
    ("MIT", ["MIT"]),
    ("mit", ["MIT"]),
    ("  MIT  ", ["MIT"]),
    ("MIT OR Apache-2.0", ["Apache-2.0", "MIT"]),
    ("(Apache-2.0 OR MIT)", ["Apache-2.0", "MIT"]),
    ("mit or apache-2.0", ["Apache-2.0", "MIT"]),
    ("MIT-0", ["MIT-0"]),
    ("LGPL-2.1-only", ["LGPL-2.1-only"]),
    ("GPL-2.0-only WITH Classpath-exception-2.0", ["Classpath-exception-2.0", "GPL-2.0-only"]),
    ("BSD-3-Clause AND (MIT OR ISC)", ["BSD-3-Clause", "ISC", "MIT"]),
    # Deprecated ids are read as the ids that replaced them.
    ("GPL-2.0", ["GPL-2.0-only"]),
    ("GPL-2.0+", ["GPL-2.0-or-later"]),
    ("LGPL-3.0+", ["LGPL-3.0-or-later"]),
    ("LicenseRef-Acme-Internal", ["LicenseRef-Acme-Internal"]),
    # Free-text names packages use.
    ("MIT License", ["MIT"]),
    ("The MIT License (MIT)", ["MIT"]),
    ("BSD License (BSD-3-Clause)", ["BSD-3-Clause"]),
    ("GNU General Public License v3 (GPLv3)", ["GPL-3.0-only"]),
    ("Apache 2.0", ["Apache-2.0"]),
    ("Apache License, Version 2.0", ["Apache-2.0"]),
    ("Apache Software License 2.0", ["Apache-2.0"]),
    ("Apache License 2.0 OR MIT", ["Apache-2.0", "MIT"]),
    ("new BSD License", ["BSD-3-Clause"]),
    ("Simplified BSD", ["BSD-2-Clause"]),
    ("BSD 3-Clause", ["BSD-3-Clause"]),
    ("GPLv3+", ["GPL-3.0-or-later"]),
    ("GPLv2", ["GPL-2.0-only"]),
    ("LGPLv2.1+", ["LGPL-2.1-or-later"]),
    ("MPL 2.0", ["MPL-2.0"]),
    ("ISC License", ["ISC"]),
    ("The Unlicense", ["Unlicense"]),
    ("MIT/Apache-2.0", ["Apache-2.0", "MIT"]),
    ("MIT AND Proprietary", ["MIT"]),
    # What names no SPDX licence, or no version of one, names nothing.
    ("BSD", []),
    ("Apache", []),
    ("Proprietary", []),
    ("UNLICENSED", []),
    ("SEE LICENSE IN LICENSE.md", []),
    ("", []),
    ("MIT License\n\nCopyright (c) 2020 someone", []),
]


@pytest.mark.parametrize(("value", "ids"), NORMALISED, ids=[repr(v) for v, _ in NORMALISED])
def test_a_licence_value_is_normalised_to_spdx_ids(value: str, ids: list[str]) -> None:
    """Each value of the table is stored as exactly its SPDX ids: MIT is never MIT-0, unversioned
    names and free text name nothing."""
    assert sorted(text_license_ids(value)) == ids


def test_python_classifiers_and_the_licence_field_together() -> None:
    """A License-Expression wins alone (PEP 639); otherwise the License field's ids and the versioned
    licence classifiers' are joined; an unversioned classifier (BSD License) is not guessed."""
    mit = "License :: OSI Approved :: MIT License"
    bsd = "License :: OSI Approved :: BSD License"
    apache = "License :: OSI Approved :: Apache Software License"
    assert python_license_ids("MIT OR Apache-2.0", "GPLv3", [bsd]) == ["Apache-2.0", "MIT"]
    assert python_license_ids(None, None, [mit]) == ["MIT"]
    assert python_license_ids(None, "Apache 2.0", [mit, apache]) == ["Apache-2.0", "MIT"]
    assert python_license_ids(None, None, [bsd, apache]) == []
    assert python_license_ids(None, "MIT", []) == ["MIT"]
    gpl = "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)"
    assert python_license_ids(None, None, [gpl, "Programming Language :: Python"]) == ["GPL-3.0-or-later"]


def test_python_metadata_is_read_by_its_own_version_rules() -> None:
    """From parsed core metadata: a 2.4 License-Expression; a 2.1 License field plus classifier."""
    modern = parse_metadata(b"Metadata-Version: 2.4\nName: a\nVersion: 1\nLicense-Expression: mit OR 0BSD\n")
    assert license_ids_of(modern) == ["0BSD", "MIT"]
    legacy = parse_metadata(
        b"Metadata-Version: 2.1\nName: a\nVersion: 1\nLicense: BSD\n"
        b"Classifier: License :: OSI Approved :: BSD License\n"
        b"Classifier: License :: OSI Approved :: ISC License (ISCL)\n"
    )
    assert license_ids_of(legacy) == ["ISC"]


def test_every_classifier_maps_to_an_id_of_the_spdx_list() -> None:
    """The classifier table names only ids license-expression knows, spelt as the SPDX list does."""
    known = {symbol.key for symbol in get_spdx_licensing().known_symbols.values()}
    assert set(CLASSIFIERS.values()) <= known
    assert all(c.startswith("License :: ") for c in CLASSIFIERS)


def test_npm_licence_forms() -> None:
    """`license` as an expression or the deprecated object, else the deprecated `licenses` list (a
    choice: shown joined by OR); `UNLICENSED` (npm's "not licensed") is not the Unlicense."""
    assert npm_license_ids("(MIT OR Apache-2.0)") == ["Apache-2.0", "MIT"]
    assert npm_license_ids({"type": "ISC", "url": "https://x"}) == ["ISC"]
    assert npm_license_ids(None, [{"type": "MIT"}, {"type": "Apache-2.0"}]) == ["Apache-2.0", "MIT"]
    assert npm_license_ids(None, ["BSD-2-Clause"]) == ["BSD-2-Clause"]
    assert npm_license_ids("UNLICENSED") == []
    assert npm_license_ids(42, "MIT") == []
    assert npm_license_text(None, [{"type": "MIT"}, {"type": "Apache-2.0"}]) == "(MIT OR Apache-2.0)"
    assert npm_license_text({"type": "ISC"}) == "ISC"
    assert npm_license_text(None, [{"type": "MIT"}]) == "MIT"
    assert npm_license_text(None, None) is None


def _matches(filter_text: str, ids: list[str]) -> bool:
    alternatives = license_filter(filter_text)
    assert alternatives is not None, filter_text
    return any(alternative <= set(ids) for alternative in alternatives)


def test_the_filter_matches_by_the_ids_a_licence_names() -> None:
    """`MIT` finds MIT, `mit`, `MIT OR Apache-2.0` and `(Apache-2.0 OR MIT)`, never MIT-0 nor
    LGPL-2.1-only; OR is either, AND and WITH are all; an exception alone finds its users."""
    for licence in ("MIT", "mit", "MIT OR Apache-2.0", "(Apache-2.0 OR MIT)", "MIT License"):
        assert _matches("MIT", sorted(text_license_ids(licence))), licence
        assert _matches("mit", sorted(text_license_ids(licence))), licence
    for licence in ("MIT-0", "LGPL-2.1-only", "Apache-2.0", "Proprietary"):
        assert not _matches("MIT", sorted(text_license_ids(licence))), licence
    dual = sorted(text_license_ids("MIT OR Apache-2.0"))
    assert _matches("Apache-2.0", dual)
    assert _matches("MIT AND Apache-2.0", dual)
    assert _matches("BSD-3-Clause OR Apache-2.0", dual)
    assert not _matches("MIT AND BSD-3-Clause", dual)
    classpath = sorted(text_license_ids("GPL-2.0-only WITH Classpath-exception-2.0"))
    assert _matches("GPL-2.0-only", classpath)
    assert _matches("Classpath-exception-2.0", classpath)
    assert _matches("GPL-2.0-only WITH Classpath-exception-2.0", classpath)
    assert not _matches("GPL-2.0-only WITH Classpath-exception-2.0", ["GPL-2.0-only"])
    assert not _matches("GPL-2.0-or-later", classpath)
    assert license_filter("GPL-2.0") == [frozenset({"GPL-2.0-only"})]
    assert license_filter("MIT OR (MIT AND ISC)") == [frozenset({"MIT"})]


def test_a_filter_that_names_no_spdx_licence_is_compared_as_text() -> None:
    """Words that are no SPDX id (or a broken expression) give no alternatives: the caller compares the
    licence as written."""
    assert license_filter("Proprietary") is None
    assert license_filter("MIT AND Proprietary") is None
    assert license_filter("MIT AND") is None
    # Input the parser itself trips over (an IndexError inside it) is text too, never an error.
    assert license_filter("()") is None
    assert license_filter("MIT OR ( )") is None
    assert text_license_ids("()") == set()
    assert license_filter("Apache License 2.0") == [frozenset({"Apache-2.0"})]


def test_a_filter_spreading_into_too_many_alternatives_is_refused() -> None:
    """(a OR b) AND (c OR d) AND ... multiplies; past the cap it is a 422-worthy refusal, not a slow query."""
    pairs = " AND ".join(f"({a} OR {b})" for a, b in [("MIT", "ISC"), ("0BSD", "Zlib"), ("X11", "NCSA")] * 2)
    with pytest.raises(LicenseFilterRefused) as caught:
        license_filter(pairs)
    assert caught.value.code == "invalid_license_filter"
    assert str(MAX_FILTER_ALTERNATIVES) in caught.value.message
