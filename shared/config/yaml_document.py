"""Parse config YAML into a node tree and build Python values from it.

Working on nodes rather than loaded values keeps what plain `yaml.safe_load` throws away and the
config loader needs: line numbers for every key, whether a scalar was quoted (so substitution can
honour YAML's typing rules), and every occurrence of a duplicated key (PyYAML silently keeps the
last one, which would let a second `http:` block quietly replace the first).
"""

from typing import Any

import yaml

from shared.config.key_path import KeyPath

_MERGE_KEY_TAG = "tag:yaml.org,2002:merge"


class YamlDocumentError(ValueError):
    """The text is not one well-formed YAML document; `line`/`column` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{message}")


def compose_document(text: str) -> yaml.Node | None:
    """Parse `text` into its node tree (None for an empty document)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _document_error(exc) from None
    except yaml.YAMLError as exc:  # e.g. a byte the YAML reader rejects, which has no mark
        raise YamlDocumentError(str(exc)) from None


def construct_document(node: yaml.Node) -> Any:
    """Build plain Python values from a node tree using YAML's safe (no arbitrary objects) rules."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:  # e.g. an unknown `!tag`
        raise _document_error(exc) from None
    finally:
        loader.dispose()


def find_duplicate_keys(node: yaml.Node) -> list[tuple[KeyPath, str]]:
    """Every mapping key that appears twice in the same mapping, as (key path, message)."""
    duplicates: list[tuple[KeyPath, str]] = []
    _collect_duplicates(node, (), duplicates, set())
    return duplicates


def _collect_duplicates(
    node: yaml.Node, path: KeyPath, duplicates: list[tuple[KeyPath, str]], seen: set[int]
) -> None:
    # Aliases make the tree a graph; visiting each node once keeps reports single and recursion finite.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_KEY_TAG:
                _collect_duplicates(value_node, path, duplicates, seen)
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                message = f"duplicate key (line {line}; first defined on line {first_lines[key]})"
                duplicates.append(((*path, key), message))
            else:
                first_lines[key] = line
            _collect_duplicates(value_node, (*path, key), duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_duplicates(item, (*path, index), duplicates, seen)


def _document_error(exc: yaml.MarkedYAMLError) -> YamlDocumentError:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        message = f"{exc.problem} ({exc.context})"
    if mark is None:
        return YamlDocumentError(message)
    return YamlDocumentError(message, line=mark.line + 1, column=mark.column + 1)
