"""Licences as SPDX ids, pure: what a version declares (an SPDX expression, a free-text licence field,
Python's licence classifiers, npm's legacy forms) normalised at publish time into the set of SPDX
ids it names, and a search's licence filter into the sets a package must hold.

Parsing is `license-expression`'s (nexB: the SPDX licence list with its deprecated ids and aliases),
so `mit` is `MIT`, `GPL-2.0` and `GPL-2.0+` are `GPL-2.0-only` and `GPL-2.0-or-later`, and
`(Apache-2.0 OR MIT)` names `Apache-2.0` and `MIT`. What a version holds is every id its licence
names, licences and exceptions alike, whatever the operators: `MIT OR Apache-2.0` holds both (a
filter on either finds it), `GPL-2.0-only WITH Classpath-exception-2.0` holds `GPL-2.0-only` and
`Classpath-exception-2.0`. `LicenseRef-*` ids are kept as written; other words that are no SPDX id
(`Proprietary`, npm's `UNLICENSED`, `SEE LICENSE IN ...`) name nothing.

Legacy values are read only where they are unambiguous: a one-line free-text field by a table of the
names packages use (`MIT License`, `Apache 2.0`, `GPLv3+`, `new BSD`...), and Python's classifiers
that name one licence and version (`License :: OSI Approved :: MIT License`). A classifier or name
without a version (`BSD License`, `Apache Software License`, `GNU General Public License (GPL)`) is
not guessed: for a licence filter a wrong match is worse than a missing one.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from license_expression import (  # type: ignore[import-untyped]
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    get_spdx_licensing,
)

from services.registry.errors import RegistryError

__all__ = [
    "CLASSIFIERS",
    "LicenseFilterRefused",
    "license_filter",
    "npm_license_ids",
    "python_license_ids",
    "text_license_ids",
]

# A filter is at most this many alternatives (sets of ids) once its ORs are spread out: each is one
# containment test in SQL, and a filter is a licence or a few, not a formula.
MAX_FILTER_ALTERNATIVES = 16
_USER_DEFINED = ("licenseref-", "documentref-")


class LicenseFilterRefused(RegistryError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_license_filter", message)


@functools.cache
def _licensing() -> Any:
    # Built once per process (the SPDX list as license-expression ships it); parsing is thread-safe.
    return get_spdx_licensing()


# Python's licence classifiers (trove-classifiers) that name one licence and version, as SPDX ids.
CLASSIFIERS: dict[str, str] = {
    f"License :: {name}": spdx
    for name, spdx in {
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
        "CeCILL-B Free Software License Agreement (CECILL-B)": "CECILL-B",
        "CeCILL-C Free Software License Agreement (CECILL-C)": "CECILL-C",
        "OSI Approved :: Attribution Assurance License": "AAL",
        "OSI Approved :: Blue Oak Model License (BlueOak-1.0.0)": "BlueOak-1.0.0",
        "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
        "OSI Approved :: CEA CNRS Inria Logiciel Libre License, version 2.1 (CeCILL-2.1)": "CECILL-2.1",
        "OSI Approved :: CMU License (MIT-CMU)": "MIT-CMU",
        "OSI Approved :: Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
        "OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
        "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
        "OSI Approved :: Educational Community License, Version 2.0 (ECL-2.0)": "ECL-2.0",
        "OSI Approved :: European Union Public Licence 1.0 (EUPL 1.0)": "EUPL-1.0",
        "OSI Approved :: European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
        "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
        "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
        "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
        "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
        "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
        "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
        "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
        "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
        "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
        "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
        "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
        "OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
        "OSI Approved :: IBM Public License": "IPL-1.0",
        "OSI Approved :: ISC License (ISCL)": "ISC",
        "OSI Approved :: MIT License": "MIT",
        "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
        "OSI Approved :: MirOS License (MirOS)": "MirOS",
        "OSI Approved :: Motosoto License": "Motosoto",
        "OSI Approved :: Mozilla Public License 1.0 (MPL)": "MPL-1.0",
        "OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
        "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
        "OSI Approved :: Mulan Permissive Software License v2 (MulanPSL-2.0)": "MulanPSL-2.0",
        "OSI Approved :: NASA Open Source Agreement v1.3 (NASA-1.3)": "NASA-1.3",
        "OSI Approved :: Nethack General Public License": "NGPL",
        "OSI Approved :: Nokia Open Source License": "Nokia",
        "OSI Approved :: Open Group Test Suite License": "OGTSL",
        "OSI Approved :: Open Software License 3.0 (OSL-3.0)": "OSL-3.0",
        "OSI Approved :: PostgreSQL License": "PostgreSQL",
        "OSI Approved :: Python License (CNRI Python License)": "CNRI-Python",
        "OSI Approved :: Python Software Foundation License": "PSF-2.0",
        "OSI Approved :: Ricoh Source Code Public License": "RSCPL",
        "OSI Approved :: SIL Open Font License 1.1 (OFL-1.1)": "OFL-1.1",
        "OSI Approved :: Sleepycat License": "Sleepycat",
        "OSI Approved :: Sun Public License": "SPL-1.0",
        "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
        "OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
        "OSI Approved :: University of Illinois/NCSA Open Source License": "NCSA",
        "OSI Approved :: Vovida Software License 1.0": "VSL-1.0",
        "OSI Approved :: W3C License": "W3C",
        "OSI Approved :: Zero-Clause BSD (0BSD)": "0BSD",
        "OSI Approved :: zlib/libpng License": "Zlib",
    }.items()
}

# Free-text licence names as packages write them, by their key (`_name_key`: lower case, filler
# words dropped, `v2.0` read as `2`), as SPDX ids. Only names that say which licence and version.
_NAMES: dict[str, str] = {
    **dict.fromkeys(("mit", "expat", "mit expat"), "MIT"),
    **dict.fromkeys(("mit 0", "mit no attribution"), "MIT-0"),
    **dict.fromkeys(("apache 2", "apache2", "asl 2", "apache 2 apache 2"), "Apache-2.0"),
    **dict.fromkeys(
        ("bsd 3 clause", "3 clause bsd", "new bsd", "modified bsd", "revised bsd", "bsd 3", "bsd new"),
        "BSD-3-Clause",
    ),
    **dict.fromkeys(
        ("bsd 2 clause", "2 clause bsd", "simplified bsd", "freebsd", "bsd 2", "bsd simplified"),
        "BSD-2-Clause",
    ),
    **dict.fromkeys(("isc", "iscl"), "ISC"),
    **dict.fromkeys(("mpl 2", "mozilla public 2"), "MPL-2.0"),
    **dict.fromkeys(("mpl 1.1", "mozilla public 1.1"), "MPL-1.1"),
    **dict.fromkeys(("gplv2", "gpl 2", "gnu gpl 2", "gnu gplv2", "gnu general public 2"), "GPL-2.0-only"),
    **dict.fromkeys(
        ("gplv2+", "gpl 2+", "gpl 2 or later", "gnu gplv2+", "gnu general public 2 or later"),
        "GPL-2.0-or-later",
    ),
    **dict.fromkeys(("gplv3", "gpl 3", "gnu gpl 3", "gnu gplv3", "gnu general public 3"), "GPL-3.0-only"),
    **dict.fromkeys(
        ("gplv3+", "gpl 3+", "gpl 3 or later", "gnu gplv3+", "gnu general public 3 or later"),
        "GPL-3.0-or-later",
    ),
    **dict.fromkeys(
        ("lgplv2.1", "lgpl 2.1", "gnu lgpl 2.1", "gnu lesser general public 2.1"), "LGPL-2.1-only"
    ),
    **dict.fromkeys(
        ("lgplv2.1+", "lgpl 2.1+", "lgpl 2.1 or later", "gnu lesser general public 2.1 or later"),
        "LGPL-2.1-or-later",
    ),
    **dict.fromkeys(("lgplv3", "lgpl 3", "gnu lgpl 3", "gnu lesser general public 3"), "LGPL-3.0-only"),
    **dict.fromkeys(
        ("lgplv3+", "lgpl 3+", "lgpl 3 or later", "gnu lesser general public 3 or later"), "LGPL-3.0-or-later"
    ),
    **dict.fromkeys(("agplv3", "agpl 3", "gnu agpl 3", "gnu affero general public 3"), "AGPL-3.0-only"),
    **dict.fromkeys(("agplv3+", "agpl 3+", "agpl 3 or later"), "AGPL-3.0-or-later"),
    **dict.fromkeys(("unlicense",), "Unlicense"),
    **dict.fromkeys(("psf", "psfl", "psf 2", "python foundation"), "PSF-2.0"),
    **dict.fromkeys(("cc0", "cc0 1", "cc0 1 universal"), "CC0-1.0"),
    **dict.fromkeys(("epl 2", "eclipse public 2"), "EPL-2.0"),
    **dict.fromkeys(("epl 1", "eclipse public 1"), "EPL-1.0"),
    **dict.fromkeys(("boost 1", "bsl 1", "boost"), "BSL-1.0"),
    **dict.fromkeys(("zlib", "zlib libpng"), "Zlib"),
    **dict.fromkeys(("0bsd", "zero clause bsd"), "0BSD"),
}
_FILLER = frozenset({"the", "license", "licence", "licensed", "version", "ver", "software", "under"})
_WORD = re.compile(r"[a-z0-9.+]+")


def _name_key(text: str) -> str:
    words = []
    for word in _WORD.findall(text.lower()):
        word = word.strip(".")
        if not word or word in _FILLER:
            continue
        numeric = re.fullmatch(r"v?(\d+(?:\.\d+)*)(\+?)", word)
        if numeric is not None:
            # `v2.0`, `2.0` and `2` are one version; a `+` stays (or later).
            word = re.sub(r"(\.0)+$", "", numeric.group(1)) + numeric.group(2)
        words.append(word)
    return " ".join(words)


def _key(symbol: Any) -> str | None:
    """A symbol's SPDX id in its canonical spelling; a `LicenseRef-` as written; a free-text name of
    the table (`Apache 2.0 OR MIT`) as its id; None for a word that names no SPDX licence."""
    key = str(symbol.key)
    if key.lower().startswith(_USER_DEFINED):
        return key
    known = _licensing().known_symbols.get(key)
    if known is None:
        known = _licensing().known_symbols_lowercase.get(key.lower())
    return str(known.key) if known is not None else _named(key)


def _parse(text: str) -> Any:
    try:
        return _licensing().parse(text, validate=False, simple=False)
    except (ExpressionError, IndexError, KeyError, TypeError, ValueError, AttributeError):
        # Beyond its own errors the parser lets some malformed input fail inside it (`()` is an
        # IndexError): all of it is text that is no expression.
        return None


def _named(text: str) -> str | None:
    """The id a free-text name stands for; a name followed by its short form in parentheses (`The MIT
    License (MIT)`, `BSD License (BSD-3-Clause)`) by either part, unless they disagree."""
    key = _name_key(text)
    if key in _NAMES:
        return _NAMES[key]
    parts = re.fullmatch(r"(.*?)\s*\(([^()]*)\)\s*", text)
    if parts is None:
        return None
    outer, inner = _named(parts.group(1)), _named(parts.group(2)) or _spdx_id(parts.group(2))
    if outer is not None and inner is not None and outer != inner:
        return None
    return outer or inner


def _spdx_id(text: str) -> str | None:
    known = _licensing().known_symbols_lowercase.get(text.strip().lower())
    return str(known.key) if known is not None else None


def text_license_ids(text: str | None) -> set[str]:
    """The SPDX ids a licence value names: an SPDX expression's (every id it holds), else a free-text
    name of the table, else for `A/B` or `A, B` lists the ids of each part that is one of those.
    Nothing for what names no SPDX licence."""
    if text is None or not text.strip() or "\n" in text.strip() or len(text) > 500:
        return set()
    text = text.strip()
    named = _named(text)
    if named is not None:
        return {named}
    expression = _parse(text)
    if expression is not None:
        # The words that name no licence (`MIT AND Proprietary`) are left out, the others kept.
        return {k for k in map(_key, _licensing().license_symbols(expression, decompose=True)) if k}
    parts = [p for p in re.split(r"\s*[/,;]\s*", text) if p]
    if len(parts) > 1:
        found: set[str] = set()
        for part in parts:
            found |= text_license_ids(part) if "/" not in part else set()
        return found
    return set()


def python_license_ids(
    expression: str | None, license_text: str | None, classifiers: Iterable[str] = ()
) -> list[str]:
    """A Python version's ids: its `License-Expression` (metadata 2.4) alone when it has one (PEP 639:
    it supersedes the rest); else its `License` field's and its classifiers' together (a project
    listing two licence classifiers is offered under both)."""
    if expression:
        return sorted(text_license_ids(expression))
    found = text_license_ids(license_text)
    found |= {CLASSIFIERS[c] for c in classifiers if c in CLASSIFIERS}
    return sorted(found)


def npm_license_ids(license_value: Any, licenses_value: Any = None) -> list[str]:
    """An npm version's ids: `license` (an SPDX expression, or the deprecated `{"type": ...}`), else
    the deprecated `licenses` list (each entry's `type`)."""
    if isinstance(license_value, Mapping):
        license_value = license_value.get("type")
    if isinstance(license_value, str) and license_value.strip():
        return sorted(text_license_ids(license_value))
    found: set[str] = set()
    if isinstance(licenses_value, Sequence) and not isinstance(licenses_value, str):
        for entry in licenses_value:
            kind = entry.get("type") if isinstance(entry, Mapping) else entry
            if isinstance(kind, str):
                found |= text_license_ids(kind)
    return sorted(found)


def npm_license_text(license_value: Any, licenses_value: Any = None) -> str | None:
    """The licence an npm version shows: `license` (or its deprecated `{"type": ...}`), else the
    deprecated `licenses` list's types as the choice they offered (`(MIT OR Apache-2.0)`)."""
    if isinstance(license_value, Mapping):
        license_value = license_value.get("type")
    if isinstance(license_value, str) and license_value.strip():
        return str(license_value)
    if isinstance(licenses_value, Sequence) and not isinstance(licenses_value, str):
        types = (e.get("type") if isinstance(e, Mapping) else e for e in licenses_value)
        kinds = [str(k) for k in types if isinstance(k, str) and k.strip()]
        if len(kinds) == 1:
            return kinds[0]
        if kinds:
            return "(" + " OR ".join(kinds) + ")"
    return None


def _alternatives(node: Any) -> list[frozenset[str]] | None:
    """The expression as alternatives of ids that must all be held (OR of ANDs); None when it names a
    word that is no SPDX id."""
    licensing = _licensing()
    if isinstance(node, LicenseWithExceptionSymbol):
        held = (_key(node.license_symbol), _key(node.exception_symbol))
        return None if None in held else [frozenset(k for k in held if k is not None)]
    if isinstance(node, LicenseSymbol):
        key = _key(node)
        return None if key is None else [frozenset({key})]
    parts = [_alternatives(arg) for arg in node.args]
    if any(p is None for p in parts):
        return None
    if isinstance(node, licensing.OR):
        return [a for p in parts if p is not None for a in p]
    if isinstance(node, licensing.AND):
        combined: list[frozenset[str]] = []
        for choice in itertools.product(*(p for p in parts if p is not None)):
            combined.append(frozenset().union(*choice))
            if len(combined) > MAX_FILTER_ALTERNATIVES:
                break
        return combined
    return None


def license_filter(text: str) -> list[frozenset[str]] | None:
    """A search's `license` filter as alternatives: a package matches when its ids hold every id of
    one of them. `MIT` is [{MIT}]; `MIT OR Apache-2.0` either; `MIT AND BSD-3-Clause` both;
    `GPL-2.0-only WITH Classpath-exception-2.0` the licence and the exception. A free-text name of the
    table is its id. None when the text names something that is no SPDX id (the caller then
    compares it with the licence as written). Refused when it spreads into too many alternatives."""
    named = _named(text)
    if named is not None:
        return [frozenset({named})]
    expression = _parse(text.strip())
    if expression is None:
        return None
    alternatives = _alternatives(expression)
    if alternatives is None:
        return None
    if len(alternatives) > MAX_FILTER_ALTERNATIVES:
        raise LicenseFilterRefused(
            f"the licence filter spreads into more than {MAX_FILTER_ALTERNATIVES} alternatives: "
            "give fewer licences (an id, or a few joined by OR)"
        )
    # An alternative holding another is implied by it: `MIT OR (MIT AND ISC)` is `MIT`.
    unique = sorted(set(alternatives), key=lambda a: (len(a), sorted(a)))
    return [a for a in unique if not any(b < a for b in unique)]
