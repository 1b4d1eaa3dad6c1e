from collections.abc import Mapping
from typing import Any

import pytest

from shared.config.substitution import SubstitutionError, substitute_env
from shared.config.yaml_document import compose_document, construct_document


def load(text: str, env: Mapping[str, str] | None = None) -> Any:
    node = compose_document(text)
    assert node is not None
    return construct_document(substitute_env(node, env or {}))


def test_plain_variable_is_replaced() -> None:
    """`${NAME}` becomes the variable's value."""
    assert load("url: ${URL}", {"URL": "nats://nats:4222"}) == {"url": "nats://nats:4222"}


def test_default_applies_when_unset_or_empty() -> None:
    """`${NAME:-default}` falls back when the variable is unset or empty, like the shell."""
    assert load("a: ${X:-fallback}") == {"a": "fallback"}
    assert load("a: ${X:-fallback}", {"X": ""}) == {"a": "fallback"}
    assert load("a: ${X:-fallback}", {"X": "set"}) == {"a": "set"}


def test_set_but_empty_variable_without_default_is_empty() -> None:
    """An empty variable counts as set for `${NAME}` and yields null (unset) when unquoted."""
    assert load('a: ${X}\nb: "${X}"', {"X": ""}) == {"a": None, "b": ""}


def test_double_dollar_escapes_a_literal_expression() -> None:
    """`$${NAME}` stays a literal `${NAME}` and is not looked up."""
    assert load("a: $${HOME}\nb: cost $${X:-1}", {"HOME": "/root"}) == {"a": "${HOME}", "b": "cost ${X:-1}"}


def test_single_expression_is_retyped_by_yaml_rules() -> None:
    """An unquoted value that is exactly one expression is typed as if written in the file."""
    text = "port: ${PORT:-8080}\nenabled: ${ON:-false}\nratio: ${R:-0.5}\nunset: ${U:-}"
    assert load(text) == {"port": 8080, "enabled": False, "ratio": 0.5, "unset": None}
    assert load("port: ${PORT:-8080}", {"PORT": "9000"}) == {"port": 9000}


def test_quoted_expression_stays_a_string() -> None:
    """Quoting keeps the substituted value a string, e.g. for all-digit secrets."""
    assert load("secret: \"${S}\"\nport: '${P:-8080}'", {"S": "0123"}) == {"secret": "0123", "port": "8080"}


def test_text_around_an_expression_stays_a_string() -> None:
    """A value with text around the expression is never retyped."""
    assert load("a: ${P:-80}0\nb: http://${HOST:-localhost}:${P:-80}") == {
        "a": "800",
        "b": "http://localhost:80",
    }


def test_unconstructible_typed_value_stays_a_string() -> None:
    """A value YAML would resolve as a type but cannot build (an impossible date) stays a string."""
    assert load("a: ${D}", {"D": "2024-13-45"}) == {"a": "2024-13-45"}


def test_missing_variable_names_key_path_and_variable() -> None:
    """A missing variable without default is reported with its key path and name."""
    text = 'github:\n  webhook_secrets:\n    - "${GITHUB_WEBHOOK_SECRET}"\n'
    with pytest.raises(SubstitutionError) as caught:
        load(text)
    assert caught.value.problems == [
        (
            ("github", "webhook_secrets", 0),
            "environment variable GITHUB_WEBHOOK_SECRET is not set and has no default",
        )
    ]


def test_every_missing_variable_is_reported_at_once() -> None:
    """All missing variables are collected into one error, not just the first."""
    with pytest.raises(SubstitutionError) as caught:
        load("a: ${A}\nb:\n  c: x${C}y\n")
    assert [path for path, _ in caught.value.problems] == [("a",), ("b", "c")]
    assert "a: environment variable A" in str(caught.value)
    assert "b.c: environment variable C" in str(caught.value)


def test_malformed_and_nested_expressions_are_errors() -> None:
    """A `${` that is not a valid expression, or a nested default, is reported rather than kept."""
    with pytest.raises(SubstitutionError) as caught:
        load('a: "${NOT VALID}"\nb: "${X:-${Y}}"')
    messages = dict(caught.value.problems)
    assert "malformed substitution" in messages[("a",)]
    assert "nested substitution" in messages[("b",)]


def test_mapping_keys_are_not_substituted() -> None:
    """Only values are substituted; a key that looks like an expression is left alone."""
    assert load('"${K}": v') == {"${K}": "v"}


def test_aliases_are_substituted_and_merged_values_keep_the_parent_path() -> None:
    """Anchored values are substituted once and shared; `<<` merged values report the target's path."""
    assert load("base: &b\n  port: ${P:-1}\ncopy: *b\n") == {"base": {"port": 1}, "copy": {"port": 1}}
    with pytest.raises(SubstitutionError) as caught:
        load("http:\n  <<: {port: '${P}'}\n")
    assert caught.value.problems[0][0] == ("http", "port")


def test_input_tree_is_not_modified() -> None:
    """Substitution returns a new tree and leaves its input as parsed."""
    node = compose_document("a: ${X:-1}")
    assert node is not None
    substitute_env(node, {})
    assert construct_document(node) == {"a": "${X:-1}"}


def test_substitution_cannot_change_document_structure() -> None:
    """A value containing YAML syntax is data, not structure."""
    assert load('a: "${V}"\nb: ${V}', {"V": "x: [1, 2]\nc: d"}) == {
        "a": "x: [1, 2]\nc: d",
        "b": "x: [1, 2]\nc: d",
    }


def test_yaml_module_is_safe() -> None:
    """Python object tags are rejected: config YAML is parsed with the safe loader."""
    node = compose_document("a: !!python/object/apply:os.system ['true']")
    assert node is not None
    with pytest.raises(ValueError, match="could not determine a constructor"):
        construct_document(substitute_env(node, {}))
