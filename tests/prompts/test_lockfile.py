"""prompts.lock: built from the server's labels, read back strictly, stale when the files' includes
change, pinning label includes to the locked versions, and drift when a locked label moves."""

from __future__ import annotations

import pytest

from services.prompts import lockfile
from services.prompts.documents import content_hash, parse_file
from services.prompts.model import PromptDocument
from services.prompts.problems import ProblemCode, PromptError

H1, H2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64

SUPPORT = """\
name: support
type: text
template: "{{ include.policy }} {{ include.tone }} {{ include.old }}"
includes:
  policy: {name: refund-policy, label: production}
  tone: {name: tone, label: latest}
  old: {name: refund-policy, version: 1}
"""
POLICY = "name: refund-policy\ntype: text\ntemplate: Refunds.\n"
TONE = "name: tone\ntype: text\ntemplate: Be kind.\n"


def documents(support: str = SUPPORT) -> dict[str, PromptDocument]:
    return {
        "support": parse_file("support.yaml", support),
        "refund-policy": parse_file("refund-policy.yaml", POLICY),
        "tone": parse_file("tone.yaml", TONE),
    }


SERVER = {
    "refund-policy": lockfile.ServerPrompt(labels={"latest": 2, "production": 1}, hashes={1: H1, 2: H2}),
    "tone": lockfile.ServerPrompt(labels={"latest": 1}, hashes={1: H1}),
}


def test_build_locks_every_file_and_each_label_include_with_its_version_and_hash() -> None:
    """Every prompt file has an entry; label includes carry the version the label resolves to and
    its hash; includes by version are not locked."""
    lock = lockfile.build(documents(), SERVER)
    assert sorted(lock.prompts) == ["refund-policy", "support", "tone"]
    assert lock.prompts["refund-policy"].includes == {}
    support = lock.prompts["support"].includes
    assert sorted(support) == ["policy", "tone"]
    assert (support["policy"].name, support["policy"].label, support["policy"].version) == (
        "refund-policy",
        "production",
        1,
    )
    assert support["policy"].content_hash == H1
    assert support["tone"].version == 1


def test_a_label_that_does_not_resolve_is_a_problem_naming_the_include() -> None:
    """A label unknown on the server, or a prompt not pushed yet, cannot be locked."""
    server = {"refund-policy": lockfile.ServerPrompt(labels={"latest": 2}, hashes={2: H2})}
    with pytest.raises(PromptError) as raised:
        lockfile.build(documents(), server)
    assert [(p.code, p.path) for p in raised.value.problems] == [
        (ProblemCode.INCLUDE_NOT_FOUND, "support.includes.policy"),
        (ProblemCode.INCLUDE_NOT_FOUND, "support.includes.tone"),
    ]


def test_dump_then_read_gives_the_same_lock() -> None:
    """The written YAML reads back to an equal lock."""
    lock = lockfile.build(documents(), SERVER)
    assert lockfile.read(lockfile.dump(lock)) == lock


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("lock_version: 2\nprompts: {}\n", "lock_version"),
        ("- a list\n", "prompts.lock"),
        (
            "lock_version: 1\nprompts:\n  s:\n    includes:\n"
            "      p: {name: p, label: production, version: 0, content_hash: 'sha256:" + "1" * 64 + "'}\n",
            "prompts.s.includes.p.version",
        ),
        ("lock_version: 1\nprompts: {}\nextra: 1\n", "extra"),
    ],
)
def test_read_refuses_a_bad_lock_naming_where(text: str, path: str) -> None:
    """Another lock version, a non-mapping, a bad version number or an unknown key is refused at its path."""
    with pytest.raises(PromptError) as raised:
        lockfile.read(text)
    assert raised.value.problems[0].path == path


def test_stale_names_an_include_added_or_repointed_since_the_lock() -> None:
    """A lock matching the files is not stale; repointing one include's label makes it stale, naming it."""
    lock = lockfile.build(documents(), SERVER)
    assert lockfile.stale(lock, documents()) == []
    changed = documents(SUPPORT.replace("label: production", "label: staging"))
    assert lockfile.stale(lock, changed) == ["support include policy is not as locked"]


def test_pinned_replaces_label_includes_by_the_locked_versions() -> None:
    """The pinned document includes by version what the lock says, keeps version includes, and so
    has another content hash than the file."""
    lock = lockfile.build(documents(), SERVER)
    support = parse_file("support.yaml", SUPPORT)
    pinned = lockfile.pinned(support, lock)
    assert {a: (i.name, i.label, i.version) for a, i in pinned.includes.items()} == {
        "policy": ("refund-policy", None, 1),
        "tone": ("tone", None, 1),
        "old": ("refund-policy", None, 1),
    }
    assert content_hash(pinned) != content_hash(support)


def test_drift_names_prompt_include_locked_and_current_version() -> None:
    """No drift while labels stay; a moved label and a removed one are each reported."""
    lock = lockfile.build(documents(), SERVER)
    assert lockfile.drift(lock, {"refund-policy": {"production": 1}, "tone": {"latest": 1}}) == []
    found = lockfile.drift(lock, {"refund-policy": {"production": 2}, "tone": {}})
    assert [d.describe() for d in found] == [
        "lock drift: support include policy (refund-policy@production): locked v1, now v2",
        "lock drift: support include tone (tone@latest): locked v1, now nothing",
    ]
