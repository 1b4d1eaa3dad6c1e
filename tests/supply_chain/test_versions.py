"""Each ecosystem's own version ordering inside OSV ranges: PEP 440 for PyPI (pre, post, dev, local,
epochs), SemVer 2.0 for npm and crates.io, Go's `v`-prefixed SemVer, Maven's qualifiers; and package
names folded the way each registry folds them."""

from __future__ import annotations

import itertools

import pytest

from services.supply_chain.ecosystems import normalise_ecosystem, normalise_name
from services.supply_chain.matching import is_vulnerable
from services.supply_chain.osv import Advisory
from services.supply_chain.versions import MAVEN, NUGET, PEP440, RUBYGEMS, SEMVER, InvalidVersion
from tests.supply_chain.records import events, record


def hits(advisory: Advisory, versions: list[str]) -> list[str]:
    package = advisory.affected[0].package
    return [v for v in versions if is_vulnerable(advisory, package.ecosystem, package.name, v) is not None]


def test_pypi_prereleases_sort_before_their_release() -> None:
    """PEP 440: 1.0a1 < 1.0b2 < 1.0rc1 < 1.0, so a fix in 1.0 leaves its prereleases affected."""
    advisory = record("PyPI", "example", [events("ECOSYSTEM", ("introduced", "0.9"), ("fixed", "1.0"))])
    assert hits(advisory, ["0.8", "0.9", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.1"]) == [
        "0.9",
        "1.0a1",
        "1.0b2",
        "1.0rc1",
    ]


def test_pypi_dev_releases_sort_before_prereleases_and_post_releases_after() -> None:
    """PEP 440: 1.0.dev0 < 1.0a1 < 1.0 < 1.0.post1; a range from 1.0a1 leaves 1.0.dev0 out and a
    `last_affected: 1.0` leaves 1.0.post1 out."""
    introduced_alpha = record(
        "PyPI", "example", [events("ECOSYSTEM", ("introduced", "1.0a1"), ("fixed", "2.0"))]
    )
    assert hits(introduced_alpha, ["1.0.dev0", "1.0a1", "1.0", "1.0.post1", "2.0.dev1", "2.0"]) == [
        "1.0a1",
        "1.0",
        "1.0.post1",
        "2.0.dev1",
    ]
    last = record("PyPI", "example", [events("ECOSYSTEM", ("introduced", "0"), ("last_affected", "1.0"))])
    assert hits(last, ["0.1", "1.0", "1.0.0", "1.0+local", "1.0.post1", "1.0.1"]) == ["0.1", "1.0", "1.0.0"]


def test_pypi_epochs_outrank_every_release_number() -> None:
    """PEP 440: 1!0.1 > 2.0 (a higher epoch sorts after every version of a lower one)."""
    fixed_in_two = record("PyPI", "example", [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "2.0"))])
    assert hits(fixed_in_two, ["1.9", "1!0.1", "1!2.0"]) == ["1.9"]
    new_epoch = record("PyPI", "example", [events("ECOSYSTEM", ("introduced", "1!0"), ("fixed", "1!1.0"))])
    assert hits(new_epoch, ["5.0", "2024.1", "1!0.5", "1!1.0"]) == ["1!0.5"]


def test_introduced_zero_is_below_even_pep440s_lowest_versions() -> None:
    """`"0"` is the spec's "before any other version": 0.dev0 and 0a1 (< the PEP 440 version 0) are in."""
    advisory = record("PyPI", "example", [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "0.1"))])
    assert hits(advisory, ["0.dev0", "0a1", "0", "0.0.1", "0.1"]) == ["0.dev0", "0a1", "0", "0.0.1"]


def test_npm_semver_prerelease_precedence() -> None:
    """SemVer 2.0 section 11: alpha < alpha.1 < alpha.beta < beta < beta.2 < beta.11 < rc.1 < release;
    the spec's npm example (elliptic, fixed 6.5.4) leaves 6.5.4's prereleases affected."""
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
    ]
    ordered += ["1.0.0-rc.1", "1.0.0"]
    assert all(SEMVER.precedes(a, b) for a, b in itertools.pairwise(ordered))
    elliptic = record("npm", "elliptic", [events("ECOSYSTEM", ("introduced", "0"), ("fixed", "6.5.4"))])
    assert hits(elliptic, ["6.5.3", "6.5.4-beta.1", "6.5.4", "6.10.0"]) == ["6.5.3", "6.5.4-beta.1"]


def test_semver_build_metadata_has_no_precedence() -> None:
    """SemVer 2.0 section 10: 1.0.2+build is 1.0.2 in precedence, so a fix in 1.0.2 covers it."""
    fixed = record("npm", "example", [events("SEMVER", ("introduced", "0"), ("fixed", "1.0.2"))])
    assert hits(fixed, ["1.0.1+build.5", "1.0.2+build.5", "1.0.2"]) == ["1.0.1+build.5"]
    assert SEMVER.same("1.0.2", "1.0.2+anything")


def test_crates_semver_compares_numerically() -> None:
    """The spec's Rust example (http, fixed 0.1.20): 0.1.3 is below 0.1.20 (numbers, not text)."""
    http = record("crates.io", "http", [events("SEMVER", ("introduced", "0"), ("fixed", "0.1.20"))])
    assert hits(http, ["0.1.3", "0.1.19", "0.1.20", "0.2.0"]) == ["0.1.3", "0.1.19"]


def test_go_versions_with_v_prefix_and_incompatible_suffix() -> None:
    """Go modules are written `v1.2.3` and `v2.0.0+incompatible`; OSV's Go ranges are SEMVER without `v`."""
    advisory = record(
        "Go", "github.com/example/mod", [events("SEMVER", ("introduced", "0"), ("fixed", "1.10.0"))]
    )
    assert hits(
        advisory, ["v1.9.0", "v1.10.0", "v0.0.0-20210101000000-abcdef123456", "v2.0.0+incompatible"]
    ) == [
        "v1.9.0",
        "v0.0.0-20210101000000-abcdef123456",
    ]


def test_maven_qualifiers_order() -> None:
    """Maven's ComparableVersion: alpha < beta < rc < SNAPSHOT < release < sp; 1.0 is 1.0.0."""
    ordered = ["1.0-alpha-1", "1.0-beta", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1"]
    assert all(MAVEN.precedes(a, b) for a, b in itertools.pairwise(ordered))
    assert MAVEN.same("1.0", "1.0.0")
    log4j = record(
        "Maven",
        "org.apache.logging.log4j:log4j-core",
        [events("ECOSYSTEM", ("introduced", "2.0-beta9"), ("fixed", "2.15.0"))],
    )
    assert hits(log4j, ["2.0-alpha1", "2.0-beta9", "2.0", "2.14.1", "2.15.0-rc1", "2.15.0"]) == [
        "2.0-beta9",
        "2.0",
        "2.14.1",
        "2.15.0-rc1",
    ]


def test_nuget_and_rubygems_prereleases() -> None:
    """NuGet's 1.0.0-beta < 1.0.0; RubyGems' 1.0.0.pre1 < 1.0.0 (their own orderings, from univers)."""
    assert NUGET.precedes("1.0.0-beta", "1.0.0")
    assert RUBYGEMS.precedes("1.0.0.pre1", "1.0.0")
    assert RUBYGEMS.precedes("1.9", "1.10")


def test_unreadable_versions_match_only_the_versions_list() -> None:
    """A version the ordering cannot read is in no range (no guessed order), but a listed one still
    matches by its exact text; an unreadable bound disables only its own range."""
    advisory = record(
        "PyPI",
        "example",
        [
            events("ECOSYSTEM", ("introduced", "0"), ("fixed", "2019-09-12")),
            events("ECOSYSTEM", ("introduced", "5")),
        ],
        ["not-a-version"],
    )
    assert hits(advisory, ["not-a-version", "other-garbage", "1.0", "5.1"]) == ["not-a-version", "5.1"]
    with pytest.raises(InvalidVersion):
        PEP440.key("2019-09-12")


def test_ecosystem_without_an_ordering_matches_only_listed_versions() -> None:
    """ECOSYSTEM ranges of an ecosystem we have no ordering for are not evaluated (no guessing)."""
    advisory = record("Hackage", "aeson", [events("ECOSYSTEM", ("introduced", "0"))], ["2.0.0.0"])
    assert hits(advisory, ["2.0.0.0", "2.1.0.0"]) == ["2.0.0.0"]


@pytest.mark.parametrize(
    ("ecosystem", "written", "normalised"),
    [
        ("PyPI", "Jinja2", "jinja2"),
        ("PyPI", "zope.interface", "zope-interface"),
        ("PyPI", "Foo__Bar-.baz", "foo-bar-baz"),
        ("crates.io", "Serde_JSON", "serde-json"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("npm", "JSONStream", "JSONStream"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"),
    ],
)
def test_package_names_fold_as_their_registry_folds_them(
    ecosystem: str, written: str, normalised: str
) -> None:
    """PEP 503 for PyPI, case and -/_ for crates.io, case for NuGet; npm, Go and Maven as written."""
    assert normalise_name(ecosystem, written) == normalised


def test_pypi_spellings_of_one_package_match_the_same_advisory() -> None:
    """A component named `Zope.Interface` or `zope_interface` matches an advisory for `zope-interface`."""
    advisory = record("PyPI", "zope-interface", [events("ECOSYSTEM", ("introduced", "0"))])
    assert all(
        is_vulnerable(advisory, "pypi", name, "5.0") is not None
        for name in ["zope-interface", "Zope.Interface", "zope_interface"]
    )
    assert normalise_ecosystem("pypi") == "PyPI"
    assert normalise_ecosystem("maven:https://maven.google.com") == "Maven:https://maven.google.com"
