"""Diffs between versions (text, per message, per config key) and the prompts a label move reaches
through includes."""

from __future__ import annotations

from services.prompts.diff import Change, diff_versions
from services.prompts.impact import IncludeEdge, affected_by_label_move
from services.prompts.model import Include, Message, PromptDocument, PromptType


def chat(*contents: tuple[str, str], config: dict[str, object] | None = None) -> PromptDocument:
    return PromptDocument(
        name="p",
        type=PromptType.CHAT,
        messages=tuple(Message(role=r, content=c) for r, c in contents),  # type: ignore[arg-type]
        config=config or {},
    )


def test_text_diff_is_unified() -> None:
    """Two text versions differ as a unified diff naming both versions."""
    old = PromptDocument(name="p", type=PromptType.TEXT, template="Hello\nworld\n")
    new = PromptDocument(name="p", type=PromptType.TEXT, template="Hello\nthere\n")
    diff = diff_versions(old, new, 1, 2)
    assert diff.text.startswith("--- v1\n+++ v2\n")
    assert "-world\n+there\n" in diff.text


def test_an_inserted_message_is_one_addition_not_every_later_message_changed() -> None:
    """Inserting a message between two equal ones reports one added message; an edited one is 'changed'."""
    old = chat(("system", "Be brief."), ("user", "{{ q }}"))
    new = chat(("system", "Be brief."), ("assistant", "Example."), ("user", "{{ q }}"))
    assert [(c.change, c.new_index) for c in diff_versions(old, new, 1, 2).messages] == [(Change.ADDED, 1)]
    edited = chat(("system", "Be very brief."), ("user", "{{ q }}"))
    changes = diff_versions(old, edited, 1, 2).messages
    assert [(c.change, c.old_index, c.new_index) for c in changes] == [(Change.CHANGED, 0, 0)]
    lines = changes[0].unified.splitlines()
    assert "-Be brief." in lines
    assert "+Be very brief." in lines


def test_config_diff_is_per_key_and_unchanged_versions_diff_empty() -> None:
    """Config keys added, removed and changed are listed by dotted path; 1 vs 1.0 is no change."""
    old = chat(("user", "x"), config={"model": "a", "temperature": 1, "extra": {"seed": 1}})
    new = chat(("user", "x"), config={"model": "b", "temperature": 1.0, "top_p": 0.9})
    changes = {(c.key, c.change) for c in diff_versions(old, new, 1, 2).config}
    assert changes == {("model", Change.CHANGED), ("top_p", Change.ADDED), ("extra.seed", Change.REMOVED)}
    assert diff_versions(old, old, 1, 1).empty


def test_a_label_move_reaches_includers_by_label_transitively_but_not_pinned_ones() -> None:
    """Moving policy@production reaches what includes it by that label and, through that, what includes those
    versions; an include pinned to a version is not reached."""
    edges = [
        IncludeEdge("faq", 4, Include(name="policy", label="production")),
        IncludeEdge("support", 7, Include(name="faq", label="production")),
        IncludeEdge("support", 6, Include(name="faq", version=3)),
        IncludeEdge("legal", 2, Include(name="policy", version=5)),
        IncludeEdge("draft", 1, Include(name="policy", label="staging")),
    ]
    labels = {"faq": {"production": 4, "latest": 4}, "support": {"production": 7, "staging": 7, "latest": 7}}
    affected = affected_by_label_move("policy", "production", edges, labels)
    assert [(a.name, a.version, a.labels) for a in affected] == [
        ("faq", 4, ("latest", "production")),
        ("support", 7, ("latest", "production", "staging")),
    ]
    assert affected[1].chain == ("support@v7", "faq@v4", "policy@production")
