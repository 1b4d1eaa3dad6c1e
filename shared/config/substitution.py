"""`${NAME}` / `${NAME:-default}` substitution in the scalar values of a parsed YAML tree.

Substituting after parsing (rather than in the raw text) means an environment value can never
change the document's structure, and a missing variable is reported with the key path that
needs it (`github.webhook_secrets[0]`), all of them at once.

Rules:
- `${NAME}` is the variable's value; unset is an error (set-but-empty is fine: it is empty).
- `${NAME:-default}` is the value, or `default` when the variable is unset *or empty* (shell and
  Docker Compose semantics, so `FOO=` in an env file falls back instead of blanking a setting).
- `$${...}` is a literal `${...}`.
- A plain (unquoted) scalar that is exactly one expression is re-typed by YAML's rules after
  substitution, as if the value had been written there: `port: ${PORT:-8080}` is the int 8080,
  `enabled: ${X:-false}` the bool false and `${X:-}` is null. Quote it (`"${X}"`) to keep a
  string, which is what secrets want: a webhook secret that happens to be digits stays a string.
- Text around an expression, or quoting, always yields a string.
- Only values are substituted; mapping keys are never touched.
"""

import re
from collections.abc import Mapping

import yaml

from shared.config.key_path import KeyPath, format_key_path

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_KEY_TAG = "tag:yaml.org,2002:merge"

# Alternatives, tried left to right at each `$`: an escape, a well-formed expression, and a
# bare `${` that is neither (reported rather than passed through, since it is almost always a typo).
_TOKEN = re.compile(
    r"\$\$\{"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|\$\{"
)


class SubstitutionError(ValueError):
    """One or more values could not be substituted; `problems` holds (key path, message) pairs."""

    def __init__(self, problems: list[tuple[KeyPath, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{format_key_path(path)}: {message}" for path, message in problems))


def substitute_env(node: yaml.Node, env: Mapping[str, str]) -> yaml.Node:
    """Return a copy of the node tree with every scalar value's expressions substituted from `env`.

    The input tree is not modified. Raises SubstitutionError listing every problem found.
    """
    substituter = _TreeSubstituter(env)
    result = substituter.visit(node, ())
    if substituter.problems:
        raise SubstitutionError(substituter.problems)
    return result


class _TreeSubstituter:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[tuple[KeyPath, str]] = []
        # Aliased nodes are shared; copying each once keeps the sharing (and ends recursion).
        self._copies: dict[int, yaml.Node] = {}

    def visit(self, node: yaml.Node, path: KeyPath) -> yaml.Node:
        if id(node) in self._copies:
            return self._copies[id(node)]
        if isinstance(node, yaml.ScalarNode):
            copy: yaml.Node = self._substitute_scalar(node, path)
            self._copies[id(node)] = copy
        elif isinstance(node, yaml.SequenceNode):
            items: list[yaml.Node] = []
            copy = yaml.SequenceNode(node.tag, items, node.start_mark, node.end_mark, node.flow_style)
            self._copies[id(node)] = copy
            items.extend(self.visit(item, (*path, index)) for index, item in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            pairs: list[tuple[yaml.Node, yaml.Node]] = []
            copy = yaml.MappingNode(node.tag, pairs, node.start_mark, node.end_mark, node.flow_style)
            self._copies[id(node)] = copy
            for key_node, value_node in node.value:
                # Values pulled in by a `<<` merge belong to the mapping they are merged into.
                value_path = path if key_node.tag == _MERGE_KEY_TAG else (*path, str(key_node.value))
                pairs.append((key_node, self.visit(value_node, value_path)))
        else:
            copy = node
        return copy

    def _substitute_scalar(self, node: yaml.ScalarNode, path: KeyPath) -> yaml.ScalarNode:
        if node.tag != _STR_TAG or "$" not in node.value:
            return node
        text: str = node.value
        value = self._expand(text, path)
        tag = node.tag
        if node.style is None and _is_single_expression(text):
            tag = _yaml_tag_for_plain_scalar(value)
        return yaml.ScalarNode(tag, value, node.start_mark, node.end_mark, node.style)

    def _expand(self, text: str, path: KeyPath) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            name = match.group("name")
            if token == "$${":
                return "${"
            if name is None:
                message = f"malformed substitution in {text!r}: use ${{NAME}} or ${{NAME:-default}}"
                self.problems.append((path, message))
                return token
            default = match.group("default")
            if default is not None and "${" in default:
                message = f"nested substitution in the default of ${{{name}}} is not supported"
                self.problems.append((path, message))
                return token
            value = self._env.get(name)
            if default is not None:
                return value or default
            if value is None:
                self.problems.append((path, f"environment variable {name} is not set and has no default"))
                return token
            return value

        return _TOKEN.sub(replace, text)


def _is_single_expression(text: str) -> bool:
    match = _TOKEN.fullmatch(text)
    return match is not None and match.group("name") is not None


def _yaml_tag_for_plain_scalar(value: str) -> str:
    """The tag YAML would give `value` written as a plain scalar, or str if it cannot be built.

    The implicit resolvers only look at the shape of the text, so e.g. "2024-13-45" resolves as a
    timestamp that cannot be constructed; such a value stays the string it was given as.
    """
    loader = yaml.SafeLoader("")
    try:
        # (True, False): resolve as a plain scalar, the only kind YAML types implicitly.
        tag: str = loader.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
        if tag != _STR_TAG:
            loader.construct_object(yaml.ScalarNode(tag, value))
    except (yaml.YAMLError, ValueError):
        return _STR_TAG
    finally:
        loader.dispose()
    return tag
