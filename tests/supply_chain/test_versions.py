"""Each ecosystem's own version ordering inside OSV ranges: PEP 440 for PyPI (pre, post, dev, local,
epochs), SemVer 2.0 for npm and crates.io, Go's `v`-prefixed SemVer, Maven's qualifiers; and package
names folded the way each registry folds them."""

from __future__ import annotations

import itertools
import random
import re
import shutil
import subprocess
from pathlib import Path

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


# What Maven's own ComparableVersion (maven-artifact 3.8.7, `java -jar maven-artifact.jar A B`) answers;
# univers' MavenVersion, which matching used before, answered otherwise on every one of these.
MAVEN_RELATIONS = [
    ("5.3.0.RELEASE", "==", "5.3.0"),  # `release` is an alias of the release, like ga and final
    ("2.0.0.Final", "==", "2.0.0.RELEASE"),
    ("1.0.RC1", "==", "1.0-rc1"),  # a qualifier after a dot orders as after a hyphen
    ("2.0.0.RC1", "==", "2.0.0-RC1"),
    ("1.0.M1", "==", "1.0-milestone-1"),
    ("1.0.SP1", "==", "1.0-sp-1"),
    ("1.foo", "==", "1-foo"),
    ("1.0.alpha1", "<", "1.0-beta"),
    ("1.0.M1", "<", "1.0-rc1"),
    ("1.0.RC1", "<", "1.0-SNAPSHOT"),
    ("1-SNAPSHOT", ">", "1.0.RC1"),
    ("1.0-release", "<", "1.0-sp"),
    ("1-0.alpha", "<", "1"),  # every item of a sub-list counts against the shorter version (MNG-6964)
    ("1-0.alpha", "<", "1.0.0-0"),
    ("1.foo", ">", "1.0-sp-1"),
]


@pytest.mark.parametrize(("left", "relation", "right"), MAVEN_RELATIONS)
def test_maven_orders_as_mavens_comparable_version(left: str, relation: str, right: str) -> None:
    """Dot qualifiers (`1.0.RC1` = `1.0-rc1`), the `release` alias and sub-list nulls order as Maven does."""
    compared = "<" if MAVEN.precedes(left, right) else ">" if MAVEN.precedes(right, left) else "=="
    assert compared == relation


def test_maven_release_qualifiers_hold_range_bounds_and_listed_versions() -> None:
    """A Spring-style `5.2.19.RELEASE` is the `5.2.19` an advisory names: in its versions list, at its
    last_affected bound and from its introduced bound; `5.0.0.RC1` stays below an introduced `5.0.0`."""
    last = record(
        "Maven",
        "org.springframework:spring-beans",
        [events("ECOSYSTEM", ("introduced", "5.0.0"), ("last_affected", "5.2.19"))],
        ["4.3.30"],
    )
    assert hits(
        last, ["5.0.0.RC1", "5.0.0.RELEASE", "5.2.19.RELEASE", "5.2.20.RELEASE", "4.3.30.RELEASE"]
    ) == [
        "5.0.0.RELEASE",
        "5.2.19.RELEASE",
        "4.3.30.RELEASE",
    ]


def _maven_artifact_jar() -> Path | None:
    mvn = shutil.which("mvn")
    if mvn is None or shutil.which("java") is None:
        return None
    return next(iter(sorted((Path(mvn).resolve().parent.parent / "lib").glob("maven-artifact-*.jar"))), None)


def _fuzzed_maven_versions(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    tokens = ["0", "1", "2", "10", "01", "alpha", "a", "b", "beta", "m", "milestone", "rc", "cr", "snapshot"]
    tokens += [
        "SNAPSHOT",
        "ga",
        "final",
        "Final",
        "release",
        "RELEASE",
        "sp",
        "foo",
        "jre",
        "v",
        "x",
        "M",
        "RC",
    ]

    def one() -> str:
        parts = [rng.choice(tokens) for _ in range(rng.randint(1, 6))]
        text = "".join(part + rng.choice([".", "-", ""]) for part in parts[:-1]) + parts[-1]
        return text + (rng.choice([".", "-"]) if rng.random() < 0.1 else "")

    return [one() for _ in range(count)]


@pytest.mark.skipif(_maven_artifact_jar() is None, reason="needs mvn's maven-artifact jar and java")
def test_maven_ordering_agrees_with_maven_itself_on_fuzzed_versions() -> None:
    """3,000 generated versions (numbers, every known qualifier and alias, unknown ones, `.`, `-` and
    transitions): each neighbour pair compares as the installed maven-artifact's ComparableVersion says."""
    jar = _maven_artifact_jar()
    versions = _fuzzed_maven_versions(seed=20261203, count=3000)
    out = subprocess.run(
        ["java", "-jar", str(jar), *versions], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    relations = re.findall(r"^   (\S*) (==|<|>) (\S*)$", out, re.M)
    assert len(relations) == len(versions) - 1
    wrong = []
    for (left, relation, right), (a, b) in zip(relations, itertools.pairwise(versions), strict=True):
        assert (left, right) == (a, b)
        ours = "<" if MAVEN.precedes(a, b) else ">" if MAVEN.precedes(b, a) else "=="
        if ours != relation:
            wrong.append(f"{a} {relation} {b} (ours: {ours})")
    assert wrong == []


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
