"""Experiment assignment agrees with GrowthBook's SDK (its published cases.json, hash version 2),
splits traffic by weight, and stays sticky per unit."""

from __future__ import annotations

import pytest

from services.prompts.assignment import (
    Experiment,
    Variant,
    assign,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    gb_hash,
)

# growthbook/growthbook packages/sdk-js/test/cases.json ("hash": seed, value, version, expected).
GROWTHBOOK_HASH = [
    ("", "a", 1, 0.22),
    ("", "b", 1, 0.077),
    ("b", "a", 1, 0.946),
    ("ef", "d", 1, 0.652),
    ("asdf", "8952klfjas09ujk", 1, 0.549),
    ("", "123", 1, 0.011),
    ("", '___)((*":&', 1, 0.563),
    ("seed", "a", 2, 0.0505),
    ("seed", "b", 2, 0.2696),
    ("foo", "ab", 2, 0.2575),
    ("foo", "def", 2, 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 2, 0.124),
    ("90850943850283058242805", "123", 2, 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 2, 0.0128),
    ("abc", "def", 99, None),
]
# "getBucketRange": (numVariations, coverage, weights) -> ranges.
GROWTHBOOK_RANGES = [
    ((2, 1, None), [(0, 0.5), (0.5, 1)]),
    ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
    ((2, 0, None), [(0, 0), (0.5, 0.5)]),
    ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
    ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
    ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
    ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
    ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
    ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
    ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
    ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
]
# "chooseVariation": n, ranges, expected index.
EVEN, REDUCED = [(0, 0.5), (0.5, 1)], [(0, 0.25), (0.5, 0.75)]
GROWTHBOOK_CHOOSE = [
    (0.2, EVEN, 0),
    (0.4, EVEN, 0),
    (0.6, EVEN, 1),
    (0.8, EVEN, 1),
    (0, EVEN, 0),
    (0.5, EVEN, 1),
    (0.2, REDUCED, 0),
    (0.4, REDUCED, -1),
    (0.6, REDUCED, 1),
    (0.8, REDUCED, -1),
    (0.25, REDUCED, -1),
    (0.5, REDUCED, 1),
    (0.5, [(0, 0.5), (0.5, 0.5), (0.5, 1)], 2),
]


@pytest.mark.parametrize(("seed", "value", "version", "expected"), GROWTHBOOK_HASH)
def test_hash_matches_growthbook_cases(seed: str, value: str, version: int, expected: float | None) -> None:
    """gb_hash gives GrowthBook's published value for every case of its hash table (v1, v2, unknown)."""
    assert gb_hash(seed, value, version) == expected


@pytest.mark.parametrize(("args", "expected"), GROWTHBOOK_RANGES)
def test_bucket_ranges_match_growthbook_cases(
    args: tuple[int, float, list[float] | None], expected: list[tuple[float, float]]
) -> None:
    """bucket_ranges reproduces getBucketRange, including its clamping and equal-weight fallbacks."""
    ranges = bucket_ranges(*args)
    assert len(ranges) == len(expected)
    for (low, high), (want_low, want_high) in zip(ranges, expected, strict=True):
        assert low == pytest.approx(want_low, abs=1e-9)
        assert high == pytest.approx(want_high, abs=1e-9)


@pytest.mark.parametrize(("n", "ranges", "expected"), GROWTHBOOK_CHOOSE)
def test_choose_variation_matches_growthbook_cases(
    n: float, ranges: list[tuple[float, float]], expected: int
) -> None:
    """choose_variation returns GrowthBook's index (or -1 outside every range) for its cases."""
    assert choose_variation(n, ranges) == expected


def test_end_to_end_assignments_match_growthbook_runs() -> None:
    """Full assignments equal GrowthBook's hash-v2 'run' and 'stickyBucket' cases (seed + id -> variant)."""
    halves = Experiment("foo", (Variant("0", 0.5), Variant("1", 0.5)))
    assert assign(halves, "1").variant == "1"  # "Uses seed with default weights/coverage"
    covered = Experiment("foo", (Variant("0", 0.5), Variant("1", 0.5)), coverage=0.99)
    assert assign(covered, "1").variant == "1"  # "Uses seed with weights/coverage"
    thirds = Experiment(
        "feature-exp", (Variant("control", 0.3334), Variant("red", 0.3333), Variant("blue", 0.3333))
    )
    assert (assign(thirds, "d123").variant, assign(thirds, "d123").bucket) == ("red", 0.6468)
    assert (assign(thirds, "i123").variant, assign(thirds, "i123").bucket) == ("blue", 0.9943)


def test_non_bmp_text_hashes_as_javascript_does() -> None:
    """Outside the BMP the hash runs over UTF-16 code units, as GrowthBook's JavaScript SDK reads strings
    (reference values from its fnv32a algorithm run under node)."""
    assert fnv1a32("a\U0001f600b") == 2412414209
    assert gb_hash("s", "\U0001f600") == 0.2801


def test_one_million_units_split_within_half_a_percent_of_the_weights() -> None:
    """1,000,000 simulated user ids land in each of three variants within ±0.5 % of its weight."""
    experiment = Experiment("prompt-exp-7", (Variant("a", 0.5), Variant("b", 0.3), Variant("c", 0.2)))
    counts = dict.fromkeys(("a", "b", "c"), 0)
    ranges = experiment.ranges
    units = 1_000_000
    for i in range(units):
        bucket = gb_hash(experiment.seed, f"user-{i}")
        assert bucket is not None
        counts[experiment.keys[choose_variation(bucket, ranges)]] += 1
    for variant in experiment.variants:
        assert abs(counts[variant.key] / units - variant.weight) < 0.005


def test_assignment_is_sticky_and_independent_across_experiments() -> None:
    """The same unit always gets the same variant; a recorded earlier variant wins after weights change;
    two experiments' assignments are not correlated."""
    first = Experiment("seed-1", (Variant("a", 0.5), Variant("b", 0.5)))
    assert {assign(first, "user-42").variant for _ in range(5)} == {assign(first, "user-42").variant}
    reweighted = Experiment("seed-1", (Variant("a", 0.9), Variant("b", 0.1)))
    moved = next(
        f"u{i}" for i in range(1000) if assign(first, f"u{i}").variant != assign(reweighted, f"u{i}").variant
    )
    kept = assign(reweighted, moved, previous=assign(first, moved).variant)
    assert kept.sticky
    assert kept.variant == assign(first, moved).variant
    second = Experiment("seed-2", (Variant("a", 0.5), Variant("b", 0.5)))
    same = sum(assign(first, f"u{i}").variant == assign(second, f"u{i}").variant for i in range(20_000))
    assert abs(same / 20_000 - 0.5) < 0.02


def test_raising_coverage_never_moves_an_assigned_unit() -> None:
    """A unit inside coverage 0.3 keeps its variant at coverage 0.8 (ranges shrink within each slot)."""
    low = Experiment("cov", (Variant("a", 0.5), Variant("b", 0.5)), coverage=0.3)
    high = Experiment("cov", (Variant("a", 0.5), Variant("b", 0.5)), coverage=0.8)
    inside = [f"u{i}" for i in range(5000) if assign(low, f"u{i}").variant is not None]
    assert inside
    assert all(assign(low, u).variant == assign(high, u).variant for u in inside)
    assert 0.25 < len(inside) / 5000 < 0.35


@pytest.mark.parametrize(
    "variants",
    [
        (Variant("a", 1.0),),
        tuple(Variant(f"v{i}", 1 / 11) for i in range(11)),
        (Variant("a", 0.5), Variant("a", 0.5)),
        (Variant("a", 0.6), Variant("b", 0.6)),
        (Variant("a", 0.0), Variant("b", 1.0)),
    ],
)
def test_invalid_experiments_are_refused(variants: tuple[Variant, ...]) -> None:
    """One variant, more than 10, repeated keys, weights not summing to 1 or a zero weight are refused."""
    with pytest.raises(ValueError, match=r"variant|weight"):
        Experiment("s", variants)
