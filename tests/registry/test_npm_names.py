"""npm names and versions (services/registry/ecosystems/npm.py) judged against npm's own code: the
installed validate-npm-package-name and node-semver are run as oracles over the same inputs."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from services.registry.ecosystems.interface import InvalidName, InvalidVersion
from services.registry.ecosystems.npm import NPM, check_name, similarity_key, split_scope

NODE = shutil.which("node")
NPM_MODULES = Path("/usr/lib/node_modules/npm/node_modules")
needs_node = pytest.mark.skipif(
    NODE is None or not (NPM_MODULES / "semver").is_dir(), reason="node and npm's modules are not installed"
)


def oracle(script: str, inputs: list[str]) -> list[object]:
    assert NODE is not None
    out = subprocess.run(
        [NODE, "-e", script], input=json.dumps(inputs), capture_output=True, text=True, check=True, timeout=60
    )
    result: list[object] = json.loads(out.stdout)
    return result


NAMES = [
    "some-package",
    "example.com",
    "under_score",
    "123numeric",
    "crazy!",
    "@npm/thingy",
    "@jane/foo.js",
    "",
    ".start",
    "_start",
    "-start",
    " space",
    "space ",
    "node_modules",
    "favicon.ico",
    "Favicon.ico",
    "http",
    "fs/promises",
    "HTTP",
    "CamelCase",
    "a" * 214,
    "a" * 215,
    "ümlaut",
    "a b",
    "a:b",
    "a/b",
    "@scope/.dot",
    "@scope/_under",
    "@/x",
    "@scope/",
    "@sc ope/x",
    "@scope/x/y",
    "@scope/Cap",
    "@Scope/x",
    "tilde~",
    "paren(",
    "@s/star*",
    "percent%20",
    "plus+",
    "~",
    "@npm/thingy!",
    "a.b-c_d",
    "node:test",
]


def random_names(count: int) -> list[str]:
    rnd = random.Random(7)
    alphabet = "abcXYZ019-._~!*'()@/ %:é"
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 10))) for _ in range(count)]


@needs_node
def test_name_checks_match_validate_npm_package_name() -> None:
    """Errors and warnings equal validate-npm-package-name's, message for message, on listed and
    random names."""
    names = NAMES + random_names(3000)
    script = (
        f"const v = require('{NPM_MODULES}/validate-npm-package-name');"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(input.map(n => { const r = v(n);"
        " return [r.errors || [], r.warnings || []] })))"
    )
    expected = oracle(script, names)
    ours = [[list(check_name(n).errors), list(check_name(n).warnings)] for n in names]
    mismatches = [(n, o, e) for n, o, e in zip(names, ours, expected, strict=True) if o != e]
    assert mismatches == []


def test_new_names_must_be_valid_for_new_packages() -> None:
    """validate_name refuses legacy names (capitals, core modules, too long) and invalid ones."""
    NPM.validate_name("@mno/demo")
    NPM.validate_name("left-pad")
    for bad in ("JSONStream", "http", "a" * 215, ".hidden", "a b", "@scope/"):
        with pytest.raises(InvalidName) as caught:
            NPM.validate_name(bad)
        assert caught.value.code == "invalid_name"


def test_existing_legacy_names_are_readable() -> None:
    """validate_existing_name takes what npmjs still serves (JSONStream) but not invalid names."""
    NPM.validate_existing_name("JSONStream")
    with pytest.raises(InvalidName):
        NPM.validate_existing_name("_private")


def test_scopes_split_and_become_purl_namespaces() -> None:
    """A scoped name's scope is the purl namespace, percent-encoded like the purl spec's npm examples."""
    assert split_scope("@angular/core") == ("@angular", "core")
    assert split_scope("lodash") == (None, "lodash")
    assert NPM.purl("@angular/core", "17.0.0") == "pkg:npm/%40angular/core@17.0.0"
    assert NPM.purl("lodash", "4.17.21") == "pkg:npm/lodash@4.17.21"


def test_similar_names_share_a_key() -> None:
    """Names differing only in case or `.`/`_`/`-` collide (npmjs's too-similar rule)."""
    assert similarity_key("left-pad") == similarity_key("Left_Pad") == similarity_key("leftpad")
    assert similarity_key("@a/left-pad") != similarity_key("left-pad")


VERSIONS = [
    "1.0.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "0.0.1",
    "0.1.0",
    "2.0.0",
    "10.0.0",
    "1.10.0",
    "1.2.0",
    "1.0.1",
    "1.0.0-0",
    "1.0.0-x-y",
    "1.0.0-1",
    "1.0.0-10",
    "1.0.0-2",
    "3.0.0-alpha.10",
    "3.0.0-alpha.9",
]


@needs_node
def test_version_order_matches_node_semver() -> None:
    """Sorting by parse_version gives node-semver's `sort` order (SemVer 2.0.0 precedence)."""
    script = (
        f"const s = require('{NPM_MODULES}/semver');"
        "console.log(JSON.stringify(s.sort(JSON.parse(require('fs').readFileSync(0, 'utf8')))))"
    )
    assert sorted(VERSIONS, key=NPM.parse_version) == oracle(script, VERSIONS)


@needs_node
def test_version_validity_matches_node_semver() -> None:
    """What node-semver's `valid` accepts we parse, what it refuses we refuse, and the canonical form
    is its `valid` output (no `v`, no build metadata)."""
    candidates = [
        *VERSIONS,
        "v1.2.3",
        "1.2.3+build.5",
        "1.2",
        "01.2.3",
        "1.2.3-01",
        "1.2.3-",
        "1.2.3.4",
        "=1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "x.1.2",
        "9007199254740991.0.0",
        "9007199254740992.0.0",
        "1.2.3-a..b",
        "",
        "1.2.3-\u03b1",
        "1.2.3+",
        "^1.2.3",
    ]
    script = (
        f"const s = require('{NPM_MODULES}/semver');"
        "console.log(JSON.stringify(JSON.parse(require('fs').readFileSync(0, 'utf8')).map(v => s.valid(v))))"
    )
    for text, expected in zip(candidates, oracle(script, candidates), strict=True):
        if expected is None:
            with pytest.raises(InvalidVersion):
                NPM.normalize_version(text)
        else:
            assert NPM.normalize_version(text) == expected, text


def test_prereleases_are_prereleases() -> None:
    """A version with a pre-release part is a pre-release; build metadata alone is not."""
    assert NPM.is_prerelease("1.0.0-rc.1")
    assert not NPM.is_prerelease("1.0.0+build")
    assert NPM.latest(["1.0.0", "2.0.0-beta.1", "1.5.0"], stable_only=True) == "1.5.0"
