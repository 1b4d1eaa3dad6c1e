"""dist-tags (services/registry/npm/dist_tags.py): add/rm/ls rules, and semver-range tags refused
exactly where node-semver's validRange (npm's own check) says the tag is a range."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from services.registry.ecosystems.interface import NotFound
from services.registry.npm.dist_tags import (
    InvalidTag,
    ProtectedTag,
    add_tag,
    is_semver_range,
    list_tags,
    remove_tag,
    retarget_after_unpublish,
)
from tests.registry.test_npm_capture import load

SEMVER = Path("/usr/lib/node_modules/npm/node_modules/semver")
TAGS = [
    "",
    "*",
    "x",
    "X",
    "latest",
    "beta",
    "next",
    "canary",
    "rc",
    "1",
    "1.x",
    "v1",
    "^1.2",
    "~1",
    "~>1.2",
    ">=1 <2",
    "1 - 2",
    "1.2.3-beta.1",
    "==1",
    "1.2.3.4",
    "x-beta",
    "v1-lts",
    "1 ||",
    "a - b",
    ">= 1",
    "~ 1",
    "01",
    "1.02",
    "1.2.3+b",
    "<1.0.0-0",
    "x.1",
    "1.x.3",
    "*.*",
    "legacy-2",
    "next-11",
    "2024.1",
]


def random_tags(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = [*"0123456789xX*v.-+^~<>= |ab", "||", "beta", "1.2.3", " - "]
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 9))) for _ in range(count)]


@pytest.mark.skipif(shutil.which("node") is None or not SEMVER.is_dir(), reason="node-semver not installed")
def test_range_detection_matches_node_semver() -> None:
    """is_semver_range agrees with node-semver's validRange on real tags and on 20 000 random strings
    of range syntax (at most 1 in 10 000 odd operator soups may differ; none of the listed tags)."""
    random_part = random_tags(20_000, seed=11)
    inputs = TAGS + random_part
    script = (
        f"const s = require('{SEMVER}');"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(input.map(t => s.validRange(t) !== null)))"
    )
    out = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    expected = json.loads(out.stdout)
    listed = [(t, e) for t, e in zip(TAGS, expected, strict=False) if is_semver_range(t) != e]
    assert listed == []
    odd = [t for t, e in zip(random_part, expected[len(TAGS) :], strict=True) if is_semver_range(t) != e]
    assert len(odd) <= 2, odd


def test_add_tag_points_a_tag_at_a_published_version() -> None:
    """dist-tag add sets the tag; a range-like tag or an unpublished version is refused."""
    tags = add_tag({"latest": "1.0.0"}, "beta", "1.1.0-rc.1", {"1.0.0", "1.1.0-rc.1"})
    assert tags == {"latest": "1.0.0", "beta": "1.1.0-rc.1"}
    with pytest.raises(InvalidTag) as caught:
        add_tag(tags, "1.x", "1.0.0", {"1.0.0"})
    assert caught.value.code == "invalid_tag"
    with pytest.raises(NotFound):
        add_tag(tags, "beta", "9.9.9", {"1.0.0"})


def test_the_recorded_dist_tag_add_body_is_a_version() -> None:
    """npm dist-tag add PUTs the bare version as a JSON string to /-/package/<name>/dist-tags/<tag>."""
    recorded = load("dist_tag_add")
    assert recorded["path"].endswith("/dist-tags/beta")
    assert add_tag({"latest": "1.0.0"}, "beta", recorded["body"], {"1.0.0"})["beta"] == "1.0.0"


def test_latest_cannot_be_removed() -> None:
    """dist-tag rm of `latest` is refused; other tags go; an unknown tag is not_found."""
    with pytest.raises(ProtectedTag):
        remove_tag({"latest": "1.0.0"}, "latest")
    assert remove_tag({"latest": "1.0.0", "beta": "2.0.0-b"}, "beta") == {"latest": "1.0.0"}
    with pytest.raises(NotFound):
        remove_tag({"latest": "1.0.0"}, "nope")


def test_list_puts_latest_first() -> None:
    """dist-tag ls lists latest first, then by name."""
    assert list(list_tags({"next": "2", "beta": "1", "latest": "0"})) == ["latest", "beta", "next"]


def test_unpublishing_latest_moves_it_to_the_highest_remaining_version() -> None:
    """As libnpmpublish: tags at the removed version go; latest moves to the highest remaining."""
    tags = {"latest": "2.0.0", "stable": "2.0.0", "old": "1.0.0"}
    assert retarget_after_unpublish(tags, "2.0.0", ["1.0.0", "1.10.0", "1.9.0"]) == {
        "latest": "1.10.0",
        "old": "1.0.0",
    }
    assert retarget_after_unpublish({"latest": "1.0.0"}, "1.0.0", []) == {}
