"""Experiment assignment (GrowthBook's hash version 2): the server's name for `mno_wire.assignment`,
the one implementation the SDK runs too, so the variant the SDK assigns locally is the one the
LearningAgent checks every posted exposure against (`services.prompts.experiments`)."""

from __future__ import annotations

from mno_wire.assignment import (
    MAX_VARIANTS,
    Assignment,
    Experiment,
    Variant,
    assign,
    bucket_ranges,
    choose_variation,
    equal_weights,
    fnv1a32,
    gb_hash,
)

__all__ = [
    "MAX_VARIANTS",
    "Assignment",
    "Experiment",
    "Variant",
    "assign",
    "bucket_ranges",
    "choose_variation",
    "equal_weights",
    "fnv1a32",
    "gb_hash",
]
