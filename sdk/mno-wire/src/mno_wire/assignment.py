"""Experiment assignment exactly as GrowthBook's SDKs do it with hash version 2, so a unit gets the
same variant from our SDK, our server and GrowthBook's own SDKs:

    n = fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000

FNV-1a over UTF-16 code units, as the JavaScript SDK (the reference) reads a string; for text
within the Basic Multilingual Plane that is the same as GrowthBook's Python SDK, which hashes code
points. Variants take consecutive ranges of [0, 1) by weight, each shrunk to `coverage` of its
width (GrowthBook's getBucketRanges), so raising coverage never moves an assigned unit to another
variant. Deterministic from (seed, unit id) alone: sticky without storage while the experiment's
weights stay the same, independent across experiments through their seeds; a recorded earlier
assignment (`previous`) wins while its variant still exists, so changing weights mid-experiment
does not move units already exposed.

The one implementation: the server (`services.prompts.assignment`, which checks every exposure the
SDK posts) and the SDK (`MnoClient.assign`, which assigns locally) both run this module. Pure
standard library, Python 3.9 and later (see tests/prompts for GrowthBook's published cases).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

MAX_VARIANTS = 10
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF
_VARIANT_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def fnv1a32(text: str) -> int:
    value, prime, mask = _FNV_OFFSET, _FNV_PRIME, _MASK
    units: Iterable[int]
    if text.isascii():
        units = text.encode("ascii")
    elif max(text) > "\uffff":
        # Outside the BMP a character is two UTF-16 code units (a surrogate pair), as JavaScript sees it.
        data = text.encode("utf-16-le")
        units = [data[i] | data[i + 1] << 8 for i in range(0, len(data), 2)]
    else:
        units = map(ord, text)
    for unit in units:
        value = ((value ^ unit) * prime) & mask
    return value


def gb_hash(seed: str, value: str, version: int = 2) -> float | None:
    """GrowthBook's `hash(seed, value, version)`: version 2 (ours), version 1 (legacy), else None."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def equal_weights(count: int) -> list[float]:
    return [1 / count] * count if count > 0 else []


def bucket_ranges(
    count: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """GrowthBook's getBucketRanges, including its leniency (coverage clamped to [0, 1], weights of
    the wrong length or not summing to 1 within 0.01 replaced by equal ones); `Experiment` refuses
    such input before it gets here."""
    coverage = min(max(coverage, 0.0), 1.0)
    chosen = list(weights) if weights is not None else equal_weights(count)
    if len(chosen) != count or not 0.99 <= sum(chosen) <= 1.01:
        chosen = equal_weights(count)
    ranges = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """GrowthBook's chooseVariation: the index of the range holding n, or -1 (not in the experiment)."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1


@dataclass(frozen=True)
class Variant:
    key: str
    weight: float


@dataclass(frozen=True)
class Experiment:
    """Checked on construction: 2 to 10 variants with distinct keys, weights > 0 summing to 1."""

    seed: str
    variants: tuple[Variant, ...]
    coverage: float = 1.0

    def __post_init__(self) -> None:
        if not self.seed:
            raise ValueError("an experiment has a seed")
        if not 2 <= len(self.variants) <= MAX_VARIANTS:
            raise ValueError(f"an experiment has 2 to {MAX_VARIANTS} variants")
        keys = [v.key for v in self.variants]
        if len(set(keys)) != len(keys) or not all(_VARIANT_KEY.match(k) for k in keys):
            raise ValueError("variant keys are distinct names")
        if not all(math.isfinite(v.weight) and v.weight > 0 for v in self.variants):
            raise ValueError("each weight is above 0")
        if not math.isclose(sum(v.weight for v in self.variants), 1.0, abs_tol=1e-9):
            raise ValueError("the weights sum to 1")
        if not (math.isfinite(self.coverage) and 0 < self.coverage <= 1):
            raise ValueError("coverage is in (0, 1]")

    @cached_property
    def ranges(self) -> list[tuple[float, float]]:
        return bucket_ranges(len(self.variants), self.coverage, [v.weight for v in self.variants])

    @cached_property
    def keys(self) -> list[str]:
        return [v.key for v in self.variants]


@dataclass(frozen=True)
class Assignment:
    # None: the unit is outside the experiment's coverage (serve the default, log no exposure).
    variant: str | None
    bucket: float
    sticky: bool = False


def assign(experiment: Experiment, unit_id: str, previous: str | None = None) -> Assignment:
    if not unit_id:
        raise ValueError("a unit id (user or session) is required")
    bucket = gb_hash(experiment.seed, unit_id, 2)
    assert bucket is not None
    keys = experiment.keys
    if previous is not None and previous in keys:
        return Assignment(previous, bucket, sticky=True)
    index = choose_variation(bucket, experiment.ranges)
    return Assignment(keys[index] if index >= 0 else None, bucket)
