"""Rendering: includes resolved through the caller's resolver (cycles, depth and missing prompts named
by chain), variables checked by name and type, the sandbox's limits, and the rendered content hash."""

from __future__ import annotations

import pytest

from services.prompts.model import Include, PromptDocument
from services.prompts.problems import ProblemCode, PromptError
from services.prompts.rendering import PromptVersion, render_prompt, resolve_includes
from services.prompts.sandbox import analyse, render


def text(
    name: str,
    template: str,
    includes: dict[str, dict[str, object]] | None = None,
    variables: dict[str, dict[str, object]] | None = None,
) -> PromptVersion:
    document = PromptDocument.model_validate(
        {
            "name": name,
            "type": "text",
            "template": template,
            "includes": includes or {},
            "variables": variables or {},
        }
    )
    return PromptVersion(name, 1, document)


def resolver(*prompts: PromptVersion):  # type: ignore[no-untyped-def]
    by_name = {p.name: p for p in prompts}
    return lambda ref: by_name.get(ref.name)


ROOT = PromptVersion(
    "answer",
    4,
    PromptDocument.model_validate(
        {
            "name": "answer",
            "type": "chat",
            "variables": {
                "question": {"type": "string"},
                "tone": {"type": "enum", "values": ["formal", "casual"], "default": "formal"},
                "examples": {"type": "list", "required": False},
            },
            "includes": {"policy": {"name": "policy", "label": "production"}},
            "messages": [
                {
                    "role": "system",
                    "content": "{{ include.policy }} Be {{ tone }}.{% if examples is defined %}"
                    "{% for e in examples %} Q: {{ e.q }} A: {{ e.a }}{% endfor %}{% endif %}",
                },
                {"role": "user", "content": "{{ question }}"},
            ],
        }
    ),
)
POLICY = text(
    "policy", "Refunds within {{ days }} days.", variables={"days": {"type": "integer", "default": 30}}
)


def test_a_chat_prompt_renders_with_its_include_and_variables() -> None:
    """Includes render into place, defaults apply, loops run over list variables, the pin is reported."""
    rendered = render_prompt(
        ROOT, {"question": "Where is my order?", "examples": [{"q": "Hi", "a": "Hello"}]}, resolver(POLICY)
    )
    assert [m.content for m in rendered.messages or ()] == [
        "Refunds within 30 days. Be formal. Q: Hi A: Hello",
        "Where is my order?",
    ]
    assert [(p.path, p.name, p.version) for p in rendered.pins] == [(("policy",), "policy", 1)]


def test_the_content_hash_follows_the_rendered_text() -> None:
    """The same inputs give the same hash; a different variable value gives another."""
    first = render_prompt(ROOT, {"question": "a"}, resolver(POLICY)).content_hash
    assert render_prompt(ROOT, {"question": "a"}, resolver(POLICY)).content_hash == first
    assert render_prompt(ROOT, {"question": "b"}, resolver(POLICY)).content_hash != first


def test_missing_mistyped_and_unknown_variables_are_errors_naming_each() -> None:
    """No question, a tone outside the enum, a text days and a misspelt extra are all reported by name."""
    with pytest.raises(PromptError) as error:
        render_prompt(ROOT, {"tone": "angry", "days": "thirty", "questoin": "x"}, resolver(POLICY))
    assert {(p.code, p.names) for p in error.value.problems} == {
        (ProblemCode.MISSING_VARIABLE, ("question",)),
        (ProblemCode.MISTYPED_VARIABLE, ("tone",)),
        (ProblemCode.MISTYPED_VARIABLE, ("days",)),
        (ProblemCode.UNKNOWN_VARIABLE, ("questoin",)),
    }


def test_cycles_and_self_references_are_refused_with_the_chain() -> None:
    """a -> b -> a and a -> a are refused, the error naming the whole chain."""
    a = text("a", "{{ include.b }}", {"b": {"name": "b", "label": "production"}})
    b = text("b", "{{ include.a }}", {"a": {"name": "a", "version": 1}})
    with pytest.raises(PromptError) as error:
        resolve_includes(a, resolver(a, b))
    assert [(p.code, p.names) for p in error.value.problems] == [
        (ProblemCode.INCLUDE_CYCLE, ("a@v1", "b@v1", "a@v1"))
    ]
    itself = text("a", "{{ include.me }}", {"me": {"name": "a", "label": "staging"}})
    with pytest.raises(PromptError) as self_error:
        resolve_includes(itself, resolver(itself))
    assert "a@v1 -> a@v1" in self_error.value.problems[0].message


def test_depth_limit_missing_and_chat_includes_are_refused() -> None:
    """A chain deeper than the limit, an include resolving to nothing, and including a chat prompt fail."""
    chain = [
        text(f"p{i}", "{{ include.n }}", {"n": {"name": f"p{i + 1}", "label": "production"}})
        for i in range(7)
    ]
    with pytest.raises(PromptError) as deep:
        resolve_includes(chain[0], resolver(*chain, text("p7", "end")), max_depth=5)
    assert deep.value.problems[0].code is ProblemCode.INCLUDE_TOO_DEEP
    assert deep.value.problems[0].names[0] == "p0@v1"
    with pytest.raises(PromptError) as missing:
        resolve_includes(ROOT, resolver())
    assert missing.value.problems[0].names == ("answer@v4", "policy@production")
    with pytest.raises(PromptError) as chat:
        resolve_includes(
            text("t", "{{ include.c }}", {"c": {"name": "answer", "version": 4}}), resolver(ROOT)
        )
    assert chat.value.problems[0].code is ProblemCode.INCLUDE_NOT_TEXT


def test_an_include_by_version_is_looked_up_as_given() -> None:
    """The resolver receives the include exactly as declared (name + version) for the store to look up."""
    asked: list[Include] = []

    def resolve(ref: Include) -> PromptVersion | None:
        asked.append(ref)
        return POLICY

    render_prompt(text("t", "{{ include.p }}", {"p": {"name": "policy", "version": 3}}), {}, resolve)
    assert asked == [Include(name="policy", version=3)]


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ 2 ** 99999999 }}",
        "{{ '%999999999s' % x }}",
        "{% for i in range(10) %}{% endfor %}",
        "{% for i in [1, 2, 3] %}{% endfor %}",
        "{% for c in x|list %}{% endfor %}",
        "{{ x.__class__.__mro__ }}",
        "{{ x.upper() }}",
        "{{ lipsum(100) }}",
        "{% set y = 1 %}",
        "{% include 'other' %}",
        "{% import 'm' as m %}",
        "{% extends 'base' %}",
        "{% macro m() %}{% endmacro %}",
        "{{ x|replace('a', 'bbbbbbbbbb') }}",
    ],
)
def test_the_sandbox_refuses_what_could_escape_or_explode(template: str) -> None:
    """Repetition, power, %-formatting, range, literal or filtered loop sources, private attributes, calls,
    globals, set, include/import/extends, macros and amplifying filters are refused before running."""
    with pytest.raises(PromptError) as error:
        analyse(template)
    assert error.value.problems[0].code is ProblemCode.TEMPLATE_TAG_NOT_ALLOWED


def test_nested_loops_over_variables_stop_at_the_iteration_budget() -> None:
    """Three loops nested over a 1,000-item list are stopped (render_failed), not run a billion times."""
    with pytest.raises(PromptError) as error:
        render(
            "{% for a in x %}{% for b in x %}{% for c in x %}{% endfor %}{% endfor %}{% endfor %}",
            {"x": list(range(1000))},
        )
    assert error.value.problems[0].code is ProblemCode.RENDER_FAILED


def test_output_is_capped() -> None:
    """A loop that prints a large value many times stops at the output limit."""
    with pytest.raises(PromptError) as error:
        render("{% for a in x %}{{ big }}{% endfor %}", {"x": list(range(100)), "big": "y" * 100_000})
    assert error.value.problems[0].code is ProblemCode.OUTPUT_TOO_LARGE
