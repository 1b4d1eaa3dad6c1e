"""The GitHub sync's pure decisions: which refs are branches, which tree entries are the folder's
prompt files, which changed since the last sync, and the commit message a synced version records."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.prompt_sync.plan import (
    MAX_COMMIT_MESSAGE,
    PushCommit,
    TreeFile,
    branch_of,
    changed_files,
    commit_message,
    folder_files,
    git_blob_sha,
    next_synced_blobs,
    prompt_file,
    prompt_path,
)
from shared.messages.prompt_repository import ConnectRepository


def test_only_branch_refs_name_a_branch() -> None:
    """refs/heads/<branch> (slashes included) is a branch; tags and bare heads are not."""
    assert branch_of("refs/heads/main") == "main"
    assert branch_of("refs/heads/release/2026") == "release/2026"
    assert branch_of("refs/tags/v1") is None
    assert branch_of("refs/heads/") is None


def test_folder_files_are_its_direct_yaml_children() -> None:
    """Only *.yaml / *.yml blobs directly in the folder count: not deeper, not beside, not other types."""
    entries = [
        TreeFile("prompts/a.yaml", "1", 10),
        TreeFile("prompts/b.yml", "2", 10),
        TreeFile("prompts/c.json", "3", 10),
        TreeFile("prompts/deep/d.yaml", "4", 10),
        TreeFile("other/prompts/e.yaml", "5", 10),
        TreeFile("prompts.yaml", "6", 10),
    ]
    assert list(folder_files(entries, "prompts")) == ["prompts/a.yaml", "prompts/b.yml"]
    assert list(folder_files(entries, "other/prompts")) == ["other/prompts/e.yaml"]


def test_only_changed_or_failed_files_are_sent_and_remembered() -> None:
    """A file is sent when its blob differs from the one last synced (a failed one has none); what is
    remembered next is the synced and the unchanged ones, not failures or deleted files."""
    files = {p: TreeFile(p, sha, 1) for p, sha in {"a.yaml": "a2", "b.yaml": "b1", "c.yaml": "c1"}.items()}
    previous = {"a.yaml": "a1", "b.yaml": "b1", "gone.yaml": "g1"}
    assert [f.path for f in changed_files(files, previous)] == ["a.yaml", "c.yaml"]
    assert next_synced_blobs(files, previous, synced={"a.yaml"}) == {"a.yaml": "a2", "b.yaml": "b1"}


def test_commit_message_is_the_head_commits_with_where_it_comes_from() -> None:
    """The head commit's message then `owner/name@sha`; a long message is cut to fit 2000 characters."""
    sha = "f" * 40
    assert commit_message("o/r", PushCommit(id=sha, message="Fix tone\n"), sha) == f"Fix tone\n\no/r@{sha}"
    assert commit_message("o/r", None, sha) == f"o/r@{sha}"
    long = commit_message("o/r", PushCommit(id=sha, message="x" * 5000), sha)
    assert len(long) <= MAX_COMMIT_MESSAGE
    assert long.endswith(f"…\n\no/r@{sha}")


def test_prompt_file_is_the_document_without_defaults_or_commit_message() -> None:
    """The file a pull request writes: no commit message (git has it), no empty defaults, the rest
    in the document's order; git's blob name is that of `git hash-object`."""
    document = {
        "name": "greet",
        "type": "text",
        "template": "Hi {{ who }}",
        "messages": None,
        "variables": {
            "who": {"type": "string", "description": ""},
            "n": {"type": "integer", "description": "N"},
        },
        "includes": {},
        "config": {},
        "tags": [],
        "commit_message": "Warmer",
    }
    text = prompt_file(document)
    assert text.splitlines()[:3] == ["name: greet", "type: text", "template: Hi {{ who }}"]
    assert "commit_message" not in text
    assert "description: ''" not in text
    assert "description: N" in text
    assert "tags" not in text
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_prompt_path_keeps_the_files_own_suffix() -> None:
    """A prompt already stored as `.yml` is replaced there; a new one is `<name>.yaml`."""
    files = {"p/a.yml": TreeFile("p/a.yml", "1", 1)}
    assert prompt_path(files, "p", "a") == "p/a.yml"
    assert prompt_path(files, "p", "b") == "p/b.yaml"


@pytest.mark.parametrize(
    "body",
    [
        {"repository": "no-slash"},
        {"repository": "o/r", "folder": "../etc"},
        {"repository": "o/r", "folder": "/abs"},
        {"repository": "o/r", "branch": "a..b"},
        {"repository": "o/r", "branch": "x.lock"},
    ],
)
def test_connect_refuses_what_is_no_repository_branch_or_folder(body: dict[str, str]) -> None:
    """A name without owner, a folder leaving the repository, a branch git refuses: invalid."""
    with pytest.raises(ValidationError):
        ConnectRepository.model_validate(body)
