"""The prompts/*.yaml format: parsed into checked documents, hostile YAML refused, and a content hash
that ignores formatting so unchanged files make no new version."""

from __future__ import annotations

import pytest

from services.prompts.documents import (
    MAX_FILE_BYTES,
    check_config_schema,
    content_hash,
    parse_file,
    parse_folder,
)
from services.prompts.problems import ProblemCode, PromptError

FILE = """\
# The support bot's answer prompt.
name: support-answer
type: chat
commit_message: First version
tags: [support]
variables:
  question: {type: string}
  tone: {type: enum, values: [formal, casual], default: formal}
  examples: {type: list, required: false}
includes:
  policy: {name: refund-policy, label: production}
config: {model: gpt-4o-mini, temperature: 1}
messages:
  - role: system
    content: "{{ include.policy }} Answer in a {{ tone }} tone."
  - {role: user, content: "{{ question }}"}
"""
REORDERED = """\
type: chat
messages:
  - {content: "{{ include.policy }} Answer in a {{ tone }} tone.", role: system}
  - {role: user, content: '{{ question }}'}
config: {temperature: 1.0, model: "gpt-4o-mini"}
includes: {policy: {label: production, name: refund-policy}}
variables:
  examples: {required: false, type: list}
  tone: {default: formal, values: [formal, casual], type: enum}
  question: {type: string}
tags: [other-tag]
commit_message: Reformatted
"""


def codes(error: pytest.ExceptionInfo[PromptError]) -> set[ProblemCode]:
    return {p.code for p in error.value.problems}


def test_a_prompt_file_parses_into_a_document() -> None:
    """A chat prompt file gives its messages, typed variables, include and config."""
    document = parse_file("prompts/support-answer.yaml", FILE)
    assert [m.role for m in document.messages or ()] == ["system", "user"]
    assert document.variables["tone"].values == ("formal", "casual")
    assert not document.variables["tone"].is_required
    assert document.includes["policy"].describe() == "refund-policy@production"


def test_the_content_hash_ignores_formatting_tags_and_commit_message_but_not_content() -> None:
    """Key order, quoting, comments, 1 vs 1.0, tags, commit message keep the hash; a new word does not."""
    original = content_hash(parse_file("support-answer.yaml", FILE))
    assert content_hash(parse_file("support-answer.yaml", REORDERED)) == original
    edited = FILE.replace("Answer in a", "Reply in a")
    assert content_hash(parse_file("support-answer.yaml", edited)) != original
    assert original.startswith("sha256:")
    assert len(original) == 71


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: &x [1, 2]\nb: *x\n", ProblemCode.YAML_NOT_ALLOWED),
        ("a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n", ProblemCode.YAML_NOT_ALLOWED),
        ("a: !!python/object/apply:os.system [echo]\n", ProblemCode.YAML_NOT_ALLOWED),
        ("a: !!binary aGVsbG8=\n", ProblemCode.YAML_NOT_ALLOWED),
        ("name: x\nname: y\n", ProblemCode.YAML_NOT_ALLOWED),
        ("a: .nan\n", ProblemCode.YAML_NOT_ALLOWED),
        ("? [1, 2]\n: value\n", ProblemCode.YAML_NOT_ALLOWED),
        ("a: 1\n---\nb: 2\n", ProblemCode.INVALID_YAML),
        ("a: [1\n", ProblemCode.INVALID_YAML),
        ("[" * 5000, ProblemCode.TOO_LARGE),
        ("a: " + "[" * 40 + "]" * 40 + "\n", ProblemCode.TOO_LARGE),
        ("a: '" + "x" * MAX_FILE_BYTES + "'\n", ProblemCode.TOO_LARGE),
    ],
)
def test_hostile_yaml_is_refused(text: str, code: ProblemCode) -> None:
    """Aliases (billion laughs), tags, duplicate and non-string keys, NaN, several documents, deep nesting and
    oversize files are refused with a typed problem, never loaded."""
    with pytest.raises(PromptError) as error:
        parse_file("prompts/x.yaml", text)
    assert code in codes(error)


def test_document_problems_are_all_reported_with_their_paths() -> None:
    """An undeclared variable, an undeclared include and a config outside the schema are reported together."""
    text = FILE.replace("{{ question }}", "{{ question }}{{ quesiton }}{{ include.footer }}").replace(
        "temperature: 1", "temperature: 7"
    )
    with pytest.raises(PromptError) as error:
        parse_file("support-answer.yaml", text)
    problems = {(p.code, p.path) for p in error.value.problems}
    assert problems == {
        (ProblemCode.UNDECLARED_VARIABLE, "messages[1].content"),
        (ProblemCode.UNDECLARED_INCLUDE, "messages[1].content"),
        (ProblemCode.INVALID_CONFIG, "config.temperature"),
    }


def test_a_teams_config_schema_applies_and_is_itself_checked() -> None:
    """The team's schema refuses a config ours accepts; an invalid schema and a remote $ref are problems, not
    fetches."""
    schema = {"type": "object", "required": ["model"], "properties": {"model": {"enum": ["gpt-4o"]}}}
    with pytest.raises(PromptError) as error:
        parse_file("support-answer.yaml", FILE, schema)
    assert codes(error) == {ProblemCode.INVALID_CONFIG}
    assert check_config_schema({"type": "no-such-type"}) is not None
    with pytest.raises(PromptError) as remote:
        parse_file("support-answer.yaml", FILE, {"$ref": "https://example.invalid/schema.json"})
    assert codes(remote) == {ProblemCode.INVALID_CONFIG_SCHEMA}


@pytest.mark.parametrize(
    "variables",
    [
        "{x: {type: enum}}",
        "{x: {type: string, values: [a]}}",
        "{x: {type: number, default: 'ten'}}",
        "{x: {type: date}}",
        "{include: {type: string}}",
    ],
)
def test_bad_variable_declarations_are_refused(variables: str) -> None:
    """Enums without values, values on a non-enum, a default of the wrong type, an unknown type and a reserved
    name are refused."""
    with pytest.raises(PromptError) as error:
        parse_file("p.yaml", f"type: text\ntemplate: hi\nvariables: {variables}\n")
    assert codes(error) == {ProblemCode.INVALID_FIELD}


def test_a_folder_reports_every_files_problem_and_the_name_must_match_the_file() -> None:
    """parse_folder reads *.yaml and *.yml, skips other files, reports a name that is not the file's stem."""
    files = {
        "prompts/a.yaml": "type: text\ntemplate: A\n",
        "prompts/b.yml": "name: b\ntype: text\ntemplate: B\n",
        "prompts/README.md": "# not a prompt",
    }
    assert set(parse_folder(files)) == {"a", "b"}
    with pytest.raises(PromptError) as error:
        parse_folder({**files, "prompts/c.yaml": "name: d\ntype: text\ntemplate: C\n"})
    assert codes(error) == {ProblemCode.NAME_MISMATCH}
