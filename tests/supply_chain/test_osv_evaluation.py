"""OSV's evaluation of ranges, case by case from the specification's own examples
(https://ossf.github.io/osv-schema/, "Evaluation" and "Examples"), for every event type."""

from __future__ import annotations

import json

import pytest

from services.supply_chain.matching import is_vulnerable
from services.supply_chain.osv import Advisory, InvalidAdvisory, parse
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
