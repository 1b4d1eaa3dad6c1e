"""OSV's evaluation of ranges, case by case from the specification's own examples
(https://ossf.github.io/osv-schema/, "Evaluation" and "Examples"), for every event type."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from services.supply_chain.matching import is_vulnerable
from services.supply_chain.osv import Advisory, InvalidAdvisory, parse
from services.supply_chain.versions import ordering_for
from tests.supply_chain.records import events, record


def affected(advisory: Advisory, version: str) -> bool:
    package = advisory.affected[0].package
    return is_vulnerable(advisory, package.ecosystem, package.name, version) is not None


def versions_affected(advisory: Advisory, versions: list[str]) -> dict[str, bool]:
    return {v: affected(advisory, v) for v in versions}


UNFIXED = record("crates.io", "http", [events("SEMVER", ("introduced", "0"))])
FIXED = record("crates.io", "http", [events("SEMVER", ("introduced", "0"), ("fixed", "1.0.2"))])
MULTIPLE = record(
    "npm",
    "example",
    [
        events(
            "SEMVER", ("introduced", "1.0.0"), ("fixed", "1.0.2"), ("introduced", "3.0.0"), ("fixed", "3.2.5")
        )
    ],
)


def test_unfixed_introduced_zero_affects_every_version() -> None:
    """`introduced: "0"` alone: "every possible version is affected", the lowest and prereleases too."""
    assert versions_affected(UNFIXED, ["0.0.0", "0.0.1-alpha", "1.0.0", "99.9.9"]) == dict.fromkeys(
        ["0.0.0", "0.0.1-alpha", "1.0.0", "99.9.9"], True
    )


def test_fixed_affects_everything_before_the_fix_and_nothing_from_it() -> None:
    """introduced 0 / fixed 1.0.2: "everything before 1.0.2" (its prerelease included) is affected."""
    assert versions_affected(FIXED, ["0.1.0", "1.0.1", "1.0.2-rc.1", "1.0.2", "1.0.3", "2.0.0"]) == {
        "0.1.0": True,
        "1.0.1": True,
        "1.0.2-rc.1": True,
        "1.0.2": False,
        "1.0.3": False,
        "2.0.0": False,
    }


def test_multiple_introduced_fixed_pairs_in_one_range() -> None:
    """The spec's multiple-range example: [1.0.0, 1.0.2) or [3.0.0, 3.2.5); everything else unaffected."""
    cases = ["0.9.0", "1.0.0", "1.0.1", "1.0.2", "2.5.0", "3.0.0", "3.2.4", "3.2.5", "4.0.0"]
    assert [v for v in cases if affected(MULTIPLE, v)] == ["1.0.0", "1.0.1", "3.0.0", "3.2.4"]


def test_events_are_evaluated_in_version_order_not_record_order() -> None:
    """The pseudocode walks `sorted(range.events)`: a record listing them shuffled means the same."""
    shuffled = record(
        "npm",
        "example",
        [
            events(
                "SEMVER",
                ("fixed", "3.2.5"),
                ("introduced", "1.0.0"),
                ("introduced", "3.0.0"),
                ("fixed", "1.0.2"),
            )
        ],
    )
    cases = ["0.9.0", "1.0.0", "1.0.1", "1.0.2", "2.5.0", "3.0.0", "3.2.4", "3.2.5", "4.0.0"]
    assert versions_affected(shuffled, cases) == versions_affected(MULTIPLE, cases)


def test_several_range_objects_any_of_them_matches() -> None:
    """`IncludedInRanges` is true if any range holds the version."""
    two = record(
        "npm",
        "example",
        [
            events("SEMVER", ("introduced", "1.0.0"), ("fixed", "1.0.2")),
            events("SEMVER", ("introduced", "3.0.0"), ("fixed", "3.2.5")),
        ],
    )
    assert [v for v in ["0.9.0", "1.0.1", "2.0.0", "3.1.0", "3.2.5"] if affected(two, v)] == [
        "1.0.1",
        "3.1.0",
    ]


def test_last_affected_includes_that_version_and_fixed_excludes_it() -> None:
    """The spec's `last_affected` vs `fixed` example (H2 2.1.214): last_affected 2.1.214 is affected,
    fixed 2.1.214 is not; versions above either are unaffected."""
    last = record(
        "Maven", "com.h2database:h2", [events("ECOSYSTEM", ("introduced", "0"), ("last_affected", "2.1.214"))]
    )
    fixed = record(
        "Maven", "com.h2database:h2", [events("SEMVER", ("introduced", "0"), ("fixed", "2.1.214"))]
    )
    cases = ["1.4.200", "2.1.210", "2.1.214", "2.2.220"]
    assert versions_affected(last, cases) == {
        "1.4.200": True,
        "2.1.210": True,
        "2.1.214": True,
        "2.2.220": False,
    }
    assert versions_affected(fixed, cases) == {
        "1.4.200": True,
        "2.1.210": True,
        "2.1.214": False,
        "2.2.220": False,
    }


def test_limit_bounds_the_range_from_above() -> None:
    """`BeforeLimits`: with limit events a version must lie below one of them; `*` is infinity."""
    limited = record("npm", "example", [events("SEMVER", ("introduced", "1.0.0"), ("limit", "2.0.0"))])
    assert [v for v in ["0.9.0", "1.0.0", "1.9.9", "2.0.0", "2.0.1"] if affected(limited, v)] == [
        "1.0.0",
        "1.9.9",
    ]
    infinite = record("npm", "example", [events("SEMVER", ("introduced", "1.0.0"), ("limit", "*"))])
    assert [v for v in ["0.9.0", "1.0.0", "99.0.0"] if affected(infinite, v)] == ["1.0.0", "99.0.0"]


def test_multiple_limits_each_widen_the_scope() -> None:
    """ "Multiple `limit` events are allowed": below any one of them is enough; fixed still applies."""
    ranged = record(
        "npm",
        "example",
        [
            events(
                "SEMVER",
                ("introduced", "1.0.0"),
                ("fixed", "1.5.0"),
                ("introduced", "3.0.0"),
                ("limit", "2.0.0"),
                ("limit", "3.5.0"),
            )
        ],
    )
    cases = ["1.2.0", "1.5.0", "2.5.0", "3.1.0", "3.5.0", "4.0.0"]
    assert [v for v in cases if affected(ranged, v)] == ["1.2.0", "3.1.0"]


def test_a_semver_range_of_a_pypi_package_uses_semver_precedence() -> None:
    """The spec: SEMVER ranges follow SemVer 2.0 whatever the ecosystem. A PyPI version SemVer reads
    (after osv.dev's coercion: `1.0` is 1.0.0) is placed by SemVer, so `1.0.0-1` is a prerelease of 1.0.0
    (below `introduced: 1.0.0`), not PEP 440's post-release; one SemVer cannot read (`1.0.dev1`, `2.0rc1`,
    `2.0.post1`, an epoch) is placed by PEP 440 instead, as osv-scanner places it."""
    ranged = record("PyPI", "acme-widgets", [events("SEMVER", ("introduced", "1.0.0"), ("fixed", "2.0.0"))])
    assert versions_affected(
        ranged,
        [
            "0.9",
            "1.0.dev1",
            "1.0.0-1",
            "1.0",
            "v1.5.2",
            "1.9.dev1",
            "2.0.0-rc.1",
            "2.0rc1",
            "2.0",
            "2.0.post1",
            "1!1.5",
        ],
    ) == {
        "0.9": False,
        "1.0.dev1": False,  # not SemVer: PEP 440, a development release before 1.0
        "1.0.0-1": False,  # SemVer: 1.0.0-1 < 1.0.0 (PEP 440 would say 1.0.0.post1, affected)
        "1.0": True,
        "v1.5.2": True,
        "1.9.dev1": True,  # not SemVer: PEP 440
        "2.0.0-rc.1": True,
        "2.0rc1": True,  # not SemVer: PEP 440, a prerelease of 2.0
        "2.0": False,
        "2.0.post1": False,  # not SemVer: PEP 440, after 2.0
        "1!1.5": False,  # not SemVer: PEP 440, epoch 1 is after every epoch-0 version
    }


def test_a_semver_range_with_a_bound_semver_cannot_read_falls_back_to_the_ecosystem() -> None:
    """A SEMVER range whose bound is no SemVer (PyPI's `1.0.post1`, Maven's `1.2.3.5`) is evaluated in the
    ecosystem's ordering: 1.0 is below 1.0.post1 and 1.2.3.4 below 1.2.3.5, where a lenient SemVer read
    (univers: `1.0.post1` as 1.0.0+post1, `1.2.3.4` as 1.2.3+4, build metadata without precedence)
    would call them fixed."""
    pypi = record("PyPI", "acme-widgets", [events("SEMVER", ("introduced", "0"), ("fixed", "1.0.post1"))])
    assert versions_affected(pypi, ["0.9", "1.0", "1.0.post1", "1.0.post2", "1.1"]) == {
        "0.9": True,
        "1.0": True,
        "1.0.post1": False,
        "1.0.post2": False,
        "1.1": False,
    }
    maven = record("Maven", "org.acme:widgets", [events("SEMVER", ("introduced", "0"), ("fixed", "1.2.3.5"))])
    assert versions_affected(maven, ["1.2.3", "1.2.3.4", "1.2.3.5", "1.2.4"]) == {
        "1.2.3": True,
        "1.2.3.4": True,
        "1.2.3.5": False,
        "1.2.4": False,
    }


def test_a_semver_range_of_a_maven_package_reads_qualifiers_as_maven_does() -> None:
    """Maven's `5.3.0.RELEASE` is no SemVer: under SEMVER `fixed: 5.3.1` it is placed by Maven's ordering
    (5.3.0.RELEASE is 5.3.0 and 5.3.1.M1 a milestone before 5.3.1, both affected; 5.3.1.RELEASE is
    5.3.1, fixed); `5.3.1-SNAPSHOT` is SemVer, a prerelease of 5.3.1 (affected, as in Maven)."""
    spring = record(
        "Maven", "org.springframework:spring-web", [events("SEMVER", ("introduced", "0"), ("fixed", "5.3.1"))]
    )
    assert versions_affected(
        spring, ["5.2.9.RELEASE", "5.3.0.RELEASE", "5.3.1.M1", "5.3.1-SNAPSHOT", "5.3.1.RELEASE", "5.3.1"]
    ) == {
        "5.2.9.RELEASE": True,
        "5.3.0.RELEASE": True,
        "5.3.1.M1": True,  # Maven: a milestone of 5.3.1 (a lenient SemVer read says 5.3.1+M1, fixed)
        "5.3.1-SNAPSHOT": True,
        "5.3.1.RELEASE": False,
        "5.3.1": False,
    }


def test_git_ranges_are_not_evaluated_but_the_versions_list_is() -> None:
    """The spec's pikepdf example: GIT commits are not versions; ECOSYSTEM range and `versions` answer."""
    pikepdf = record(
        "PyPI",
        "pikepdf",
        [
            {
                "type": "GIT",
                "repo": "https://github.com/pikepdf/pikepdf",
                "events": [
                    {"introduced": "0"},
                    {"fixed": "3f38f73218e5e782fe411ccbb3b44a793c0b343a"},
                ],
            },
            events("ECOSYSTEM", ("introduced", "2.8.0"), ("fixed", "2.10.0")),
        ],
        ["2.8.0", "2.8.0.post1", "2.8.0.post2", "2.9.0", "2.9.1", "2.9.2"],
    )
    cases = [
        "2.7.0",
        "2.8.0",
        "2.8.0.post1",
        "2.9.2",
        "2.9.3",
        "2.10.0",
        "3f38f73218e5e782fe411ccbb3b44a793c0b343a",
    ]
    assert [v for v in cases if affected(pikepdf, v)] == ["2.8.0", "2.8.0.post1", "2.9.2", "2.9.3"]

    git_only = record(
        "PyPI",
        "pikepdf",
        [{"type": "GIT", "repo": "https://github.com/pikepdf/pikepdf", "events": [{"introduced": "0"}]}],
        ["2.9.2"],
    )
    assert versions_affected(git_only, ["2.9.1", "2.9.2", "9.0.0"]) == {
        "2.9.1": False,
        "2.9.2": True,
        "9.0.0": False,
    }


def test_versions_list_alone_matches_the_listed_versions_by_precedence() -> None:
    """`IncludedInVersions`: listed versions only; `2.9` is the listed PEP 440 `2.9.0`."""
    listed = record("PyPI", "pikepdf", versions=["2.8.0.post1", "2.9.0"])
    assert versions_affected(listed, ["2.8.0", "2.8.0.post1", "2.9", "2.9.0", "2.9.1"]) == {
        "2.8.0": False,
        "2.8.0.post1": True,
        "2.9": True,
        "2.9.0": True,
        "2.9.1": False,
    }


def test_withdrawn_advisory_affects_nothing() -> None:
    """A record with `withdrawn` set matches no version, even one its ranges and versions hold."""
    withdrawn = record(
        "PyPI",
        "redis",
        [events("ECOSYSTEM", ("introduced", "0"))],
        ["4.5.0"],
        withdrawn="2023-06-06T10:37:00Z",
    )
    assert versions_affected(withdrawn, ["4.5.0", "5.0.0"]) == {"4.5.0": False, "5.0.0": False}


def test_other_package_or_ecosystem_is_not_affected() -> None:
    """Matching is per package: another name, or the same name in another ecosystem, never matches."""
    advisory = record("PyPI", "requests", [events("ECOSYSTEM", ("introduced", "0"))])
    assert is_vulnerable(advisory, "PyPI", "requests", "1.0") is not None
    assert is_vulnerable(advisory, "PyPI", "requests-toolbelt", "1.0") is None
    assert is_vulnerable(advisory, "npm", "requests", "1.0.0") is None


def test_match_carries_the_fixed_versions_in_version_order() -> None:
    """The match names every fix of the package's ranges, lowest first (3.9 before 3.10, numerically)."""
    advisory = record(
        "PyPI",
        "example",
        [
            events(
                "ECOSYSTEM",
                ("introduced", "3.10.0"),
                ("fixed", "3.10.2"),
                ("introduced", "0"),
                ("fixed", "3.9.4"),
            )
        ],
    )
    match = is_vulnerable(advisory, "PyPI", "example", "3.10.1")
    assert match is not None
    assert match.fixed_versions == ("3.9.4", "3.10.2")


@pytest.mark.parametrize(
    "bad_range",
    [
        {"type": "SEMVER", "events": [{"introduced": "1.0.0", "fixed": "1.0.2"}]},
        {"type": "SEMVER", "events": [{"fixed": "1.0.2"}]},
        {"type": "SEMVER", "events": [{}]},
        {"type": "DATE", "events": [{"introduced": "0"}]},
    ],
    ids=["two-kinds-in-one-event", "no-introduced", "empty-event", "unknown-range-type"],
)
def test_records_the_schema_calls_invalid_are_rejected(bad_range: dict[str, object]) -> None:
    """What the spec declares invalid fails to parse (with the file name), instead of matching wrongly."""
    text = json.dumps(
        {
            "id": "OSV-BAD-1",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "npm", "name": "x"}, "ranges": [bad_range]}],
        }
    )
    with pytest.raises(InvalidAdvisory, match=r"^bad\.json: "):
        parse(text, "bad.json")


# --- every event type in every ecosystem, by that ecosystem's own ordering ---------------------------
#
# Each ladder lists versions in strictly increasing order for its ecosystem, with the spellings that
# trip orderings up (PEP 440 dev/pre/post releases and epochs; SemVer prereleases, numeric and dotted
# identifiers; Go's `v`, pseudo-versions and +incompatible; Maven's qualifiers, dot qualifiers and
# `.RELEASE`). A scenario writes a range from ladder positions; what it affects is computed from the
# positions alone by the specification's rules (introduced turns on at its version, fixed turns off at
# its version, last_affected after its version, limit bounds from above, versions lists name exact
# versions), and every version of the ladder, and each alias of one, is asked.

LADDERS: dict[str, list[str]] = {
    "PyPI": [
        "0.9",
        "1.0.dev1",
        "1.0a1",
        "1.0b2",
        "1.0rc1",
        "1.0",
        "1.0.post1",
        "1.0.1",
        "1.1.dev0",
        "1.1",
        "2.0",
        "1!0.1",
    ],
    "npm": [
        "0.9.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0-0",
        "1.1.0",
        "2.0.0",
    ],
    "Maven": [
        "0.9",
        "1.0-alpha-1",
        "1.0.beta2",
        "1.0-M1",
        "1.0.RC1",
        "1.0-SNAPSHOT",
        "1.0",
        "1.0-sp1",
        "1.0.1",
        "1.1.RELEASE",
        "1.1-jre",
        "2.0",
    ],
    "Go": [
        "v0.0.0-20190101000000-abcdefabcdef",
        "v0.9.0",
        "v1.0.0-rc.1",
        "v1.0.0",
        "v1.0.1-0.20200101000000-abcdefabcdef",
        "v1.0.1",
        "v1.1.0",
        "v2.0.0+incompatible",
        "v2.1.0+incompatible",
    ],
    "crates.io": [
        "0.1.0",
        "0.9.0",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0",
        "1.0.1",
        "1.1.0-rc.1",
        "1.1.0",
        "2.0.0",
    ],
}
# Other spellings of a ladder version, of the same precedence in that ecosystem.
ALIASES: dict[str, dict[str, str]] = {
    "PyPI": {"1.0.0": "1.0", "1.0-rc1": "1.0rc1", "1.0.0a1": "1.0a1", "1.1.0": "1.1"},
    "npm": {"1.0.0+build.7": "1.0.0", "1.0.0-rc.1+sha.abc": "1.0.0-rc.1"},
    "Maven": {
        "1.0.0": "1.0",
        "1.0.Final": "1.0",
        "1.0-ga": "1.0",
        "1.0-rc-1": "1.0.RC1",
        "1.0-cr1": "1.0.RC1",
        "1.1": "1.1.RELEASE",
    },
    "Go": {"v1.0.0+meta": "v1.0.0"},
    "crates.io": {"1.0.0+build.1": "1.0.0"},
}
# Range types an ecosystem's advisories use: SEMVER only where versions are SemVer.
RANGE_TYPES = {
    "PyPI": ["ECOSYSTEM"],
    "npm": ["ECOSYSTEM", "SEMVER"],
    "Maven": ["ECOSYSTEM"],
    "Go": ["ECOSYSTEM", "SEMVER"],
    "crates.io": ["ECOSYSTEM", "SEMVER"],
}


def _written(ecosystem: str, version: str) -> str:
    # The Go vulnerability database writes versions without the `v` that go.mod and go.sum carry.
    return version.removeprefix("v") if ecosystem == "Go" else version


# (name, events as (kind, position or "0"), the affected positions given the ladder's length n)
SCENARIOS: list[tuple[str, list[tuple[str, int | str]], Any]] = [
    ("introduced-0", [("introduced", "0")], lambda k, a, b, c, n: True),
    ("introduced", [("introduced", "a")], lambda k, a, b, c, n: k >= a),
    ("introduced-0-fixed", [("introduced", "0"), ("fixed", "b")], lambda k, a, b, c, n: k < b),
    ("introduced-fixed", [("introduced", "a"), ("fixed", "b")], lambda k, a, b, c, n: a <= k < b),
    (
        "introduced-last_affected",
        [("introduced", "a"), ("last_affected", "b")],
        lambda k, a, b, c, n: a <= k <= b,
    ),
    (
        "introduced-0-last_affected",
        [("introduced", "0"), ("last_affected", "b")],
        lambda k, a, b, c, n: k <= b,
    ),
    (
        "one-version-last_affected",
        [("introduced", "b"), ("last_affected", "b")],
        lambda k, a, b, c, n: k == b,
    ),
    ("introduced-limit", [("introduced", "a"), ("limit", "c")], lambda k, a, b, c, n: a <= k < c),
    (
        "fixed-then-reintroduced",
        [("introduced", "a"), ("fixed", "b"), ("introduced", "c")],
        lambda k, a, b, c, n: a <= k < b or k >= c,
    ),
    (
        "fixed-reintroduced-limited",
        [("introduced", "a"), ("fixed", "b"), ("introduced", "c"), ("limit", "last")],
        lambda k, a, b, c, n: a <= k < b or c <= k < n - 1,
    ),
    (
        "shuffled-last_affected-and-fixed",
        [("last_affected", "c"), ("introduced", "b"), ("fixed", "a+1"), ("introduced", "0")],
        lambda k, a, b, c, n: k < a + 1 or b <= k <= c,
    ),
]


def _positions(n: int) -> dict[str, int]:
    return {"a": n // 4, "a+1": n // 4 + 1, "b": n // 2, "c": (3 * n) // 4, "last": n - 1}


def _matrix() -> list[Any]:
    return [
        pytest.param(ecosystem, range_type, name, id=f"{ecosystem}-{range_type}-{name}")
        for ecosystem in LADDERS
        for range_type in RANGE_TYPES[ecosystem]
        for name, _, _ in SCENARIOS
    ]


@pytest.mark.parametrize(("ecosystem", "range_type", "scenario"), _matrix())
def test_every_event_type_in_every_ecosystem(ecosystem: str, range_type: str, scenario: str) -> None:
    """introduced (0 or a version), fixed, last_affected and limit, alone and together, in record order
    or shuffled, affect exactly the versions the specification says, in the ecosystem's own ordering."""
    ladder = LADDERS[ecosystem]
    n = len(ladder)
    at = _positions(n)
    _, spec, expected = next(s for s in SCENARIOS if s[0] == scenario)
    written = [
        (kind, "0" if where == "0" else _written(ecosystem, ladder[at[str(where)]])) for kind, where in spec
    ]
    advisory = record(ecosystem, "example", [events(range_type, *written)])
    asked = {v: k for k, v in enumerate(ladder)} | {
        alias: ladder.index(v) for alias, v in ALIASES[ecosystem].items()
    }
    got = {v: affected(advisory, v) for v in asked}
    want = {v: bool(expected(k, at["a"], at["b"], at["c"], n)) for v, k in asked.items()}
    assert got == want, {v: (got[v], want[v]) for v in asked if got[v] != want[v]}


@pytest.mark.parametrize("ecosystem", sorted(LADDERS))
def test_versions_lists_in_every_ecosystem(ecosystem: str) -> None:
    """A `versions` list names exact versions: listed ones (and their other spellings) are affected,
    their neighbours are not, whatever the ecosystem's prereleases and qualifiers."""
    ladder = LADDERS[ecosystem]
    at = _positions(len(ladder))
    listed = [_written(ecosystem, ladder[at["a"]]), _written(ecosystem, ladder[at["c"]])]
    advisory = record(ecosystem, "example", versions=listed)
    asked = {v: k for k, v in enumerate(ladder)} | {
        alias: ladder.index(v) for alias, v in ALIASES[ecosystem].items()
    }
    assert {v: affected(advisory, v) for v in asked} == {v: k in (at["a"], at["c"]) for v, k in asked.items()}


@pytest.mark.parametrize("ecosystem", sorted(LADDERS))
def test_each_ladder_is_in_its_ecosystems_order(ecosystem: str) -> None:
    """The matrix's premise: each ladder strictly increases, each alias has its version's precedence."""
    ordering = ordering_for(ecosystem)
    assert ordering is not None
    ladder = LADDERS[ecosystem]
    assert [ordering.precedes(a, b) for a, b in itertools.pairwise(ladder)] == [True] * (len(ladder) - 1)
    assert all(ordering.same(alias, version) for alias, version in ALIASES[ecosystem].items())
